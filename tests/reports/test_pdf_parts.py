"""A long report is laid out in two processes and joined: the joined PDF must read exactly as
one laid out in a single process, numbered "Page X of Y" throughout, headers on every page."""

from __future__ import annotations

import re

import pytest

from reports.pdf import PARALLEL_MIN_WORK, ForbiddenFetch, html_to_pdf, split_for_processes
from tests.reports.pdf_tools import pdf_text, pdfinfo

SECTIONS = PARALLEL_MIN_WORK // 20  # each section: 20 for its page and 6 tags


def document(sections: int = SECTIONS, *, extra: str = "", page_label: str = "Page") -> str:
    running = (
        f'<div class="running" data-organisation="Harbour &amp; Co" data-campaign="Spring" '
        f'data-page="{page_label}" data-of="of" data-confidential="Confidential"></div>'
    )
    pages = "".join(
        f'<section class="page"><h2>Section {number:03d}</h2>'
        f"<p>Line of text for section {number:03d}.</p>{extra if number == sections else ''}"
        "</section>"
        for number in range(1, sections + 1)
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Long report</title>'
        '<link rel="stylesheet" href="/static/reports/report.css"></head><body>'
        f'<section class="cover">{running}<h1>Cover</h1></section>{pages}</body></html>'
    )


def test_a_long_document_is_cut_at_sections_into_two_complete_documents():
    html = document()
    first, second = split_for_processes(html, 2)
    for part in (first, second):
        assert part.startswith("<!doctype html>") and part.endswith("</body></html>")
        assert part.count('data-page="Page"') == 1  # the running strings in each part
    # Every section once, in order, and the cut falls between two sections.
    titles = re.findall(r"<h2>(Section \d+)</h2>", first + second)
    assert titles == [f"Section {n:03d}" for n in range(1, SECTIONS + 1)]
    assert 10 < len(re.findall("<h2>", first)) < SECTIONS - 10
    # The second part's strings sit inside its first section, so they make no page of their own.
    assert re.search(r'<body><section class="page"><div class="running"', second)


def test_short_documents_and_one_process_are_left_whole():
    short = document(10)
    assert split_for_processes(short, 2) == [short]
    assert split_for_processes(document(), 1) == [document()]
    assert split_for_processes("<p>No body element</p>", 2) == ["<p>No body element</p>"]
    # One long section cannot be cut.
    lines = "".join(f"<p>Line {n}</p>" for n in range(PARALLEL_MIN_WORK))
    single = f'<html><body><section class="page">{lines}</section></body></html>'
    assert split_for_processes(single, 2) == [single]


def test_the_cut_halves_the_work_not_the_sections():
    """A pack: a short cover, a long department page, a longer area, a short appendix."""
    sizes = (5, 300, 500, 60)
    sections = "".join(
        f'<section class="page"><h2>Part {n}</h2>{"<p>x</p>" * size}</section>'
        for n, size in enumerate(sizes)
    )
    first, second = split_for_processes(f"<html><body>{sections}</body></html>", 2)
    assert "Part 1" in first and "Part 2" in second  # 305 + 560 rather than 865 + 60


@pytest.fixture
def rendered(settings):
    def render(processes: int, **kwargs):
        settings.REPORT_RENDER_PROCESSES = processes
        return html_to_pdf(document(**kwargs))

    return render


def test_two_processes_give_the_same_pages_as_one(rendered):
    joined, joined_pages = rendered(2)
    single, single_pages = rendered(1)
    assert joined.startswith(b"%PDF-")
    assert joined_pages == single_pages == SECTIONS + 1 == int(pdfinfo(joined)["Pages"])
    assert pdfinfo(joined)["Title"] == "Long report"
    joined_text, single_text = pdf_text(joined), pdf_text(single)
    assert joined_text.split("\f") == single_text.split("\f")
    for number, page in enumerate(joined_text.split("\f")[:-1], start=1):
        # The page's own content, its running header and its number out of the whole.
        assert re.search(rf"Page {number} of {SECTIONS + 1}\s*$", page), number
        if number > 1:
            assert f"Section {number - 1:03d}" in page
            assert "Harbour & Co · Spring" in page and "Confidential" in page


def test_page_numbers_speak_the_report_language(rendered):
    pdf, pages = rendered(2, page_label="Seite")
    assert re.search(rf"Seite {pages} of {pages}\s*$", pdf_text(pdf).split("\f")[-2])


def test_a_refused_fetch_in_the_other_process_fails_the_rendering(rendered):
    # The last section goes to the forked process; its remote image must stop everything.
    with pytest.raises(ForbiddenFetch, match=r"example\.org"):
        rendered(2, extra='<img src="http://example.org/logo.png" alt="">')


def _render_in_a_pool_process() -> tuple[int, bool]:
    import billiard

    pdf, pages = html_to_pdf(document())
    assert re.search(rf"Page {pages} of {pages}", pdf_text(pdf))
    return pages, billiard.current_process().daemon


def test_a_celery_pool_process_renders_in_parts():
    """Celery's prefork pool processes are daemonic, where multiprocessing refuses children:
    the parts must still be laid out side by side there."""
    import billiard

    with billiard.Pool(1) as pool:
        pages, daemonic = pool.apply(_render_in_a_pool_process)
    assert daemonic and pages == SECTIONS + 1
