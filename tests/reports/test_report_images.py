"""The rendered PDFs as pictures: every page becomes an image, and no page is blank."""

from __future__ import annotations

import subprocess

import pytest

from tests.reports.pdf_tools import pdfinfo, read_pgm
from tests.reports.report_fixtures import rendered_campaign

pytestmark = pytest.mark.django_db  # a database is set up for the one rendering

INK = 200  # grey level (0 black .. 255 white) below which a pixel counts as printed
# The running header and footer sit in the page margins (22 mm top, 20 mm bottom): a page with
# nothing but them is blank. At 30 dpi a 25 mm band is about 30 pixel rows.
MARGIN_ROWS = 32


@pytest.fixture(scope="module")
def rendered(django_db_setup, django_db_blocker):
    return rendered_campaign(django_db_blocker)


@pytest.fixture(params=["organisation_report", "quayside_pack"])
def report(request, rendered):
    return getattr(rendered, request.param)


def test_a_pdf_with_its_metadata(report, rendered):
    assert report.pdf.startswith(b"%PDF-")
    assert report.pdf.rstrip().endswith(b"%%EOF")
    info = pdfinfo(report.pdf)
    assert int(info["Pages"]) == report.pages > 3
    assert "(A4)" in info["Page size"]
    assert rendered.campaign_name in info["Title"]
    assert info["Producer"].startswith("WeasyPrint")


def test_every_page_becomes_a_png(report, tmp_path):
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(report.pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == report.pages == int(pdfinfo(report.pdf)["Pages"])
    assert all(png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for png in pngs)


def test_no_page_is_blank(report, tmp_path):
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(report.pdf)
    subprocess.run(
        # -gray alone writes binary PGM files (this poppler has no -pgm switch).
        ["pdftoppm", "-gray", "-r", "30", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    pgms = sorted(tmp_path.glob("page-*.pgm"))
    assert len(pgms) == report.pages
    for number, pgm in enumerate(pgms, start=1):
        width, height, pixels = read_pgm(pgm)
        assert (width, height) == (249, 351)  # A4 portrait at 30 dpi
        body = pixels[MARGIN_ROWS * width : (height - MARGIN_ROWS) * width]
        ink = sum(1 for value in body if value < INK)
        assert ink > 100, f"page {number} is blank between header and footer ({ink} pixels)"
        assert ink < len(body) // 3, f"page {number} is mostly ink ({ink} pixels)"
