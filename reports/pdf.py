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
from weasyprint import HTML, default_url_fetcher


class ForbiddenFetch(ValueError):
    """A report asked for a resource that is not a local static file."""


def url_fetcher(url: str, timeout: int = 10, ssl_context=None) -> dict:
    """Serve `data:` URIs and static files; refuse every other URL."""
    if url.startswith("data:"):
        return default_url_fetcher(url, timeout=timeout, ssl_context=ssl_context)
    parsed = urlparse(url)
    path = unquote(parsed.path)
    static_prefix = "/" + settings.STATIC_URL.lstrip("/")
    if parsed.scheme in ("", "file") and path.startswith(static_prefix):
        found = finders.find(path[len(static_prefix) :])
        if found:
            file_path = Path(found)
            return {
                "string": file_path.read_bytes(),
                "mime_type": mimetypes.guess_type(file_path.name)[0] or "application/octet-stream",
                "filename": file_path.name,
            }
    raise ForbiddenFetch(f"Reports may only use local static files, not {url!r}")


def html_to_pdf(html: str) -> tuple[bytes, int]:
    """Render an HTML document (from a report template) to PDF bytes and its page count."""
    document = HTML(
        string=html, base_url=str(settings.BASE_DIR) + "/", url_fetcher=url_fetcher
    ).render()
    return document.write_pdf(), len(document.pages)
