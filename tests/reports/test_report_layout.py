"""Layout read back from the PDF's text positions (`pdftotext -bbox`): the heatmap's column
headers, the longest words of the report's domain names, never overprint each other, in
English or German, and no word on the summary or heatmap pages sits on another."""

import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from reports.rendering import render_report
from tests.reports.report_fixtures import build_scored_campaign

pytestmark = pytest.mark.django_db

WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
)


def _pages(pdf: bytes) -> list[list[tuple[float, float, float, float, str]]]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.pdf"
        path.write_bytes(pdf)
        html = subprocess.run(
            ["pdftotext", "-bbox", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
    return [
        [(float(a), float(b), float(c), float(d), text) for a, b, c, d, text in WORD.findall(page)]
        for page in html.split("<page ")[1:]
    ]


def _overlaps(words) -> list[tuple[str, str]]:
    found = []
    for i, (x0, y0, x1, y1, text) in enumerate(words):
        for u0, v0, u1, v1, other in words[i + 1 :]:
            width = min(x1, u1) - max(x0, u0)
            height = min(y1, v1) - max(y0, v0)
            if width > 0.5 and height > 0.5:  # more than a hair: one word printed on another
                found.append((text, other))
    return found


def test_heatmap_headers_and_summary_never_overprint(core_instrument):
    scored = build_scored_campaign(core_instrument)
    for language in ("en", "de"):
        pages = _pages(render_report(campaign=scored.campaign, language=language).pdf)
        heatmap = next(words for words in pages if any(w[4] == "Heatmap:" for w in words))
        assert _overlaps(heatmap) == [], language
        # The summary page (after the cover), with its key figures side by side.
        assert _overlaps(pages[1]) == [], language
        # A department pack, whose area table has a band beside each department's top risk.
        pack = render_report(
            campaign=scored.campaign, language=language, department=scored.departments["quayside"]
        )
        for number, words in enumerate(_pages(pack.pdf), start=1):
            assert _overlaps(words) == [], f"{language} pack page {number}"


def test_the_demo_packs_never_overprint(core_instrument):
    """The demo's area tables hold every band, in German the longest labels."""
    from accounts.models import Department
    from demo.seed import demo_seed

    demo = demo_seed(seed=1)
    warehouse = Department.objects.get(organization=demo.organization, name="Warehouse North")
    for language in ("de", "en"):
        pack = render_report(campaign=demo.closed_campaign, language=language, department=warehouse)
        for number, words in enumerate(_pages(pack.pdf), start=1):
            assert _overlaps(words) == [], f"{language} page {number}"
