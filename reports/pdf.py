"""HTML to PDF with WeasyPrint, without ever touching the network.

Stylesheets and images referenced by report templates are static files; the URL fetcher reads
them from disk through Django's staticfiles finders and refuses everything else, so rendering
neither waits on nor leaks to any server, ours included.
"""

from __future__ import annotations

import io
import mimetypes
import os
import pickle
import re
from html import unescape
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.conf import settings
from django.contrib.staticfiles import finders
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, DecodedStreamObject, DictionaryObject, NameObject
from weasyprint import HTML
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse


class ForbiddenFetch(ValueError):
    """A report asked for a resource that is not a local static file."""


class StaticFilesFetcher(URLFetcher):
    """Serves `data:` URIs and static files found by Django's finders; refuses every other
    URL, and a refusal stops the rendering (fail_on_errors) rather than dropping a style."""

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("data", "file"), fail_on_errors=True)

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        if url.startswith("data:"):
            return super().fetch(url, headers)
        parsed = urlparse(url)
        path = unquote(parsed.path)
        static_prefix = "/" + settings.STATIC_URL.lstrip("/")
        if parsed.scheme in ("", "file") and path.startswith(static_prefix):
            found = finders.find(path[len(static_prefix) :])
            if found:
                file_path = Path(found)
                mime_type = mimetypes.guess_type(file_path.name)[0] or "application/octet-stream"
                return URLFetcherResponse(
                    url, body=file_path.read_bytes(), headers={"Content-Type": mime_type}
                )
        raise ForbiddenFetch(f"Reports may only use local static files, not {url!r}")


def _render(html: str) -> bytes:
    """One HTML document to PDF bytes. A refused fetch raises ForbiddenFetch: WeasyPrint stops
    on it with a BaseException, which would slip past the `except Exception` that records a
    failed report on its row."""
    try:
        document = HTML(
            string=html, base_url=str(settings.BASE_DIR) + "/", url_fetcher=StaticFilesFetcher()
        ).render()
        return document.write_pdf()
    except FatalURLFetchingError as error:
        raise ForbiddenFetch(str(error.__cause__ or error)) from error


# Where a report's body may be cut into parts: before each page section.
SECTION_START = re.compile(r'(?=<section class="page[" ])')
RUNNING = re.compile(r'<div class="running"[^>]*></div>')
# Below this much estimated work (tags, plus SECTION_WORK a section) a document is laid out in
# one process: forking and joining would not pay. A department pack is above it.
PARALLEL_MIN_WORK = 1000
SECTION_WORK = 20


def split_for_processes(html: str, parts: int) -> list[str]:
    """The document cut at a page section into two complete documents of about equal work, or
    left whole (one process asked for, too little work, a single section).

    Work is estimated by the number of tags plus a fixed cost per section (a page of its own).
    Each part carries the running header's strings, set inside its first section so that no
    page of its own is made for them.
    """
    opening, end_at = re.search(r"<body[^>]*>", html), html.rfind("</body>")
    if parts <= 1 or opening is None or end_at < opening.end():
        return [html]
    head, body, tail = html[: opening.end()], html[opening.end() : end_at], html[end_at:]
    sections = [piece for piece in SECTION_START.split(body) if piece]
    costs = [SECTION_WORK + piece.count("<") for piece in sections]
    if len(sections) < 2 or sum(costs) < PARALLEL_MIN_WORK:
        return [html]
    # The cut whose first part comes closest to half the work.
    half, done, cut, best = sum(costs) / 2, 0, 1, None
    for index, cost in enumerate(costs[:-1], start=1):
        done += cost
        if best is None or abs(done - half) < best:
            cut, best = index, abs(done - half)
    first, second = "".join(sections[:cut]), "".join(sections[cut:])
    running = RUNNING.search(html)
    if running:
        first_tag_end = second.index(">") + 1
        second = second[:first_tag_end] + running.group(0) + second[first_tag_end:]
    return [head + first + tail, head + second + tail]


def _render_parts(documents: list[str]) -> list[bytes]:
    """Render the parts side by side: the first here, each other one in a forked child (which
    shares this process's loaded fonts and code). Plain fork and a pipe, not multiprocessing:
    a Celery worker's pool process is daemonic, and multiprocessing refuses children there.
    Without fork, one after the other."""
    if len(documents) == 1 or not hasattr(os, "fork"):
        return [_render(document) for document in documents]
    children = [_render_in_child(document) for document in documents[1:]]
    try:
        first = _render(documents[0])
    finally:
        # Always collect the children, even when this part failed, so none is left behind.
        results = [_collect(pid, pipe) for pid, pipe in children]
    for status, value in results:
        if status != "ok":
            raise value
    return [first, *(value for _, value in results)]


def _render_in_child(document: str) -> tuple[int, int]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write_end)
        return pid, read_end
    # The child: render, send the PDF (or the error) back, and leave without running any of
    # the parent's exit handlers (its database connections are the parent's, not ours).
    status = 1
    try:
        os.close(read_end)
        try:
            result = ("ok", _render(document))
        except Exception as error:  # noqa: BLE001 - handed to the parent, which raises it
            result = ("error", error)
        try:
            payload = pickle.dumps(result)
        except Exception:  # noqa: BLE001 - an error that cannot be pickled goes as text
            payload = pickle.dumps(("error", RuntimeError(repr(result[1]))))
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
        status = 0
    finally:
        os._exit(status)


def _collect(pid: int, pipe: int) -> tuple[str, object]:
    with os.fdopen(pipe, "rb") as reader:
        payload = reader.read()
    _, code = os.waitpid(pid, 0)
    if not payload:
        return "error", RuntimeError(f"the rendering process ended without a result ({code})")
    return pickle.loads(payload)  # only ever our own child's output


def _footer_labels(html: str) -> tuple[str, str]:
    page = re.search(r'data-page="([^"]*)"', html)
    of = re.search(r'data-of="([^"]*)"', html)
    return (
        unescape(page.group(1)) if page else "Page",
        unescape(of.group(1)) if of else "of",
    )


# Advance widths of Helvetica (a PDF standard font, nothing to embed) in 1/1000 em, to align
# the page numbers right; other characters count as a digit.
HELVETICA_WIDTHS = {
    " ": 278, "0": 556, "1": 556, "2": 556, "3": 556, "4": 556, "5": 556, "6": 556, "7": 556,
    "8": 556, "9": 556, "P": 667, "S": 667, "a": 556, "e": 556, "f": 278, "g": 556, "i": 222,
    "n": 556, "o": 556, "t": 278, "v": 500,
}  # fmt: skip
FOOTER_SIZE = 8.0
FOOTER_RIGHT = 16 * 72 / 25.4  # the right page margin of report.css, in points
FOOTER_BASELINE = 10 * 72 / 25.4 - 3  # the middle of the bottom margin, less half a line
FOOTER_COLOUR = "0.290 0.353 0.416"  # #4a5a6a, as the other margin boxes


def _number_pages(parts: list[bytes], labels: tuple[str, str]) -> tuple[bytes, int]:
    """Join the parts and write "Page X of Y" on every page (WeasyPrint cannot number pages
    across documents it laid out separately)."""
    readers = [PdfReader(io.BytesIO(part)) for part in parts]
    writer = PdfWriter()
    for reader in readers:
        writer.append(reader)
    first = readers[0].metadata or {}
    writer.add_metadata({key: value for key, value in first.items() if isinstance(value, str)})
    font = writer._add_object(  # pypdf has no public way to add a shared object
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
                NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
            }
        )
    )
    save = writer._add_object(_stream(b"q\n"))
    total = len(writer.pages)
    for number, page in enumerate(writer.pages, start=1):
        text = f"{labels[0]} {number} {labels[1]} {total}"
        width = sum(HELVETICA_WIDTHS.get(char, 556) for char in text) * FOOTER_SIZE / 1000
        x = float(page.mediabox.right) - FOOTER_RIGHT - width
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stamp = (
            f"Q q {FOOTER_COLOUR} rg BT /PlimsollFooter {FOOTER_SIZE:g} Tf {x:.2f} "
            f"{FOOTER_BASELINE:.2f} Td ({escaped}) Tj ET Q\n"
        ).encode("cp1252", errors="replace")
        contents = page.get("/Contents")
        existing = contents.get_object() if contents is not None else ArrayObject()
        streams = list(existing) if isinstance(existing, ArrayObject) else [contents]
        page[NameObject("/Contents")] = ArrayObject(
            [save, *streams, writer._add_object(_stream(stamp))]
        )
        resources = page.get("/Resources")
        resources = resources.get_object() if resources is not None else DictionaryObject()
        fonts = resources.get("/Font")
        fonts = fonts.get_object() if fonts is not None else DictionaryObject()
        fonts[NameObject("/PlimsollFooter")] = font
        resources[NameObject("/Font")] = fonts
        page[NameObject("/Resources")] = resources
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue(), total


def _stream(data: bytes) -> DecodedStreamObject:
    stream = DecodedStreamObject()
    stream.set_data(data)
    return stream


def html_to_pdf(html: str) -> tuple[bytes, int]:
    """Render an HTML document (from a report template) to PDF bytes and its page count.

    A report with enough work is cut in two, laid out side by side (REPORT_RENDER_PROCESSES)
    and joined; the pages are numbered after joining.
    """
    parts = split_for_processes(html, min(2, settings.REPORT_RENDER_PROCESSES))
    return _number_pages(_render_parts(parts), _footer_labels(html))
