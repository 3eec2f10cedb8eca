"""HTML to PDF with WeasyPrint, without ever touching the network.

Stylesheets and images referenced by report templates are static files; the URL fetcher reads
them from disk through Django's staticfiles finders and refuses everything else, so rendering
neither waits on nor leaks to any server, ours included.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from urllib.parse import unquote, urlparse

from django.conf import settings
from django.contrib.staticfiles import finders
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


def html_to_pdf(html: str) -> tuple[bytes, int]:
    """Render an HTML document (from a report template) to PDF bytes and its page count.

    A refused fetch raises ForbiddenFetch. WeasyPrint stops on it with a BaseException, which
    would slip past the `except Exception` that records a failed report on its row.
    """
    try:
        document = HTML(
            string=html, base_url=str(settings.BASE_DIR) + "/", url_fetcher=StaticFilesFetcher()
        ).render()
        return document.write_pdf(), len(document.pages)
    except FatalURLFetchingError as error:
        raise ForbiddenFetch(str(error.__cause__ or error)) from error
