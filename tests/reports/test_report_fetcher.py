"""The PDF engine fetches nothing but static files: never the network, never other files."""

from __future__ import annotations

import re
import socket

import pytest

from reports.pdf import ForbiddenFetch, html_to_pdf
from tests.reports.pdf_tools import pdf_text

pytestmark = pytest.mark.django_db  # for the one test that renders a real report


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to open a connection is recorded and refused."""
    attempts: list = []

    def connect(self, address):
        attempts.append(address)
        raise OSError("tests do not use the network")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect)
    monkeypatch.setattr(
        socket, "create_connection", lambda address, *a, **k: connect(None, address)
    )
    return attempts


@pytest.mark.parametrize(
    ("html", "refused"),
    [
        (
            '<link rel="stylesheet" href="http://example.org/x.css"><p>x</p>',
            "http://example.org/x.css",
        ),
        (
            "<style>@import url(https://example.org/y.css);</style><p>x</p>",
            "https://example.org/y.css",
        ),
        ('<p style="background: url(http://example.org/a.png)">x</p>', "http://example.org/a.png"),
        ('<img src="https://example.org/logo.png" alt="">', "https://example.org/logo.png"),
        (
            "<style>@font-face { font-family: X; src: url(https://example.org/f.woff) }"
            " p { font-family: X }</style><p>x</p>",
            "https://example.org/f.woff",
        ),
        ('<img src="/etc/hostname" alt="">', "file:///etc/hostname"),
        ('<img src="file:///etc/passwd" alt="">', "file:///etc/passwd"),
        # Relative to the project folder, but not a static file.
        ('<link rel="stylesheet" href="config/settings.py">', "config/settings.py"),
        # Through the static prefix and back out of it.
        ('<link rel="stylesheet" href="/static/reports/../../../../etc/passwd">', "/etc/passwd"),
        # Under the static prefix, but no such static file.
        ('<link rel="stylesheet" href="/static/reports/missing.css">', "missing.css"),
    ],
)
def test_anything_but_a_static_file_stops_the_rendering(html, refused, no_network):
    with pytest.raises(ForbiddenFetch, match=re.escape(refused)) as raised:
        html_to_pdf(html)
    assert "only use local static files" in str(raised.value)
    assert no_network == []


def test_static_files_and_data_uris_are_served(no_network):
    pdf, pages = html_to_pdf(
        '<link rel="stylesheet" href="/static/reports/report.css">'
        '<p>Lighthouse</p><img alt="" src="data:image/svg+xml,'
        '%3Csvg xmlns=%22http://www.w3.org/2000/svg%22 width=%2210%22 height=%2210%22/%3E">'
    )
    assert pdf.startswith(b"%PDF-") and pages == 1
    # report.css was read and applied: its page margins carry the running header "Plimsoll".
    text = pdf_text(pdf)
    assert "Plimsoll" in text and "Lighthouse" in text
    assert no_network == []
    # Without the stylesheet there is no running header: the check above is about the CSS.
    assert "Plimsoll" not in pdf_text(html_to_pdf("<p>Lighthouse</p>")[0])


def test_an_image_inside_inline_svg_never_reaches_the_network(no_network):
    # WeasyPrint draws inline SVG leniently (a failed image is logged, not raised), but the
    # request still goes through the fetcher, which refuses it before any connection.
    pdf, _pages = html_to_pdf(
        '<svg width="10" height="10"><image href="http://example.org/i.png" width="10" '
        'height="10"/></svg><p>x</p>'
    )
    assert pdf.startswith(b"%PDF-")
    assert no_network == []


def test_report_templates_use_only_static_files_and_inline_data(django_db_setup, django_db_blocker):
    from tests.reports.report_fixtures import rendered_campaign

    rendered = rendered_campaign(django_db_blocker)
    for report in (rendered.organisation_report, rendered.quayside_pack):
        references = re.findall(r'(?:href|src)="([^"]*)"', report.html) + re.findall(
            r"url\(([^)]*)\)", report.html
        )
        assert "/static/reports/report.css" in references
        for reference in references:
            assert reference.startswith(("/static/", "data:", "#")), reference
