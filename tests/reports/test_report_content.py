"""What the rendered PDFs say: read back with `pdftotext -layout`, checked against the stored
result rows, the recommendations library and the recorded actions, and attacked for anything
a suppressed department could give away.

Each PDF is rendered once per session (report_fixtures.rendered_campaign).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import yaml
from django.utils import formats, timezone, translation
from django.utils.translation import gettext, ngettext

from reports import charts
from results.scoring import OVERALL
from tests.reports.pdf_tools import flat, html_text, pdf_text, two_places, whole
from tests.reports.report_fixtures import (
    INVITED,
    OUTSIDE_ACTION,
    OVERDUE_ACTION,
    PLANNED_ACTION,
    PUBLISHED,
    RESPONSES,
    SUPPRESSED,
    SUPPRESSED_BY_DIFFERENCING,
    TREE,
    rendered_campaign,
)

LIBRARY = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "reports/recommendations/plimsoll-core.yaml").read_text(
        encoding="utf-8"
    )
)["domains"]
ACTION_BANDS = ("urgent", "improve")
BAND_LABELS = {
    "urgent": "Urgent action",
    "improve": "Improvement needed",
    "good": "Good, room to improve",
    "well": "Doing well",
}
QUAYSIDE_SUBTREE = ("quayside", "lighthouse", "foghorn")
TWO_PLACES = re.compile(r"(?<![\d.,])\d+[.,]\d\d(?![\d])")

# The reports are rendered once per session, outside the tests' transactions, but pytest-django
# sets a database up only for sessions that have tests marked to use one.
pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def rendered(django_db_setup, django_db_blocker):
    return rendered_campaign(django_db_blocker)


@pytest.fixture(scope="module")
def org_text(rendered):
    return pdf_text(rendered.organisation_report.pdf)


@pytest.fixture(scope="module")
def pack_text(rendered):
    return pdf_text(rendered.quayside_pack.pdf)


def _allowed_two_places(rendered, keys, separator: str) -> set[str]:
    """Two-decimal numbers a report may print: published means and the instrument's cut-offs
    (the appendix prints those as they are stored)."""
    means = {two_places(c["mean"], separator) for c in _published_cells(rendered, keys).values()}
    cutoffs = {two_places(value, separator) for d in rendered.domains for value in d["cutoffs"]}
    return means | cutoffs


def _published_cells(rendered, keys=PUBLISHED):
    return {
        (key, code): cell
        for (key, code), cell in rendered.cells.items()
        if key in keys and code != OVERALL and not cell["suppressed"]
    }


def test_the_fixture_has_the_suppression_it_promises(rendered):
    """Guards the attacks below: the hidden departments are hidden, by the rule expected."""
    for key in PUBLISHED:
        assert not rendered.cells[(key, OVERALL)]["suppressed"]
    for key in SUPPRESSED:
        assert all(
            cell["suppressed"] and cell["n"] is None and cell["mean"] is None
            for (where, _), cell in rendered.cells.items()
            if where == key
        )
    # Rudder Desk has k respondents of its own: only the differencing rule hides it.
    assert rendered.shadow[(SUPPRESSED_BY_DIFFERENCING, "demands")]["n"] >= rendered.k
    assert rendered.cells[(None, "demands")]["n"] == rendered.response_count == RESPONSES


# --- The organisation report ----------------------------------------------------------------


def test_each_report_opens_on_its_cover(rendered, org_text, pack_text):
    """The first page is the cover (with its running footer), not a blank page."""
    first = flat(org_text.split("\f")[0])
    assert "Stress risk assessment: organisation report" in first
    assert f"{RESPONSES} responses" in first and "Page 1 of" in first
    first = flat(pack_text.split("\f")[0])
    assert rendered.names["quayside"] in first and rendered.campaign_name in first
    with translation.override("de"):
        footer = f"{gettext('Page')} 1 {gettext('of')} {rendered.quayside_pack.pages}"
    assert footer in first  # "Seite 1 von 10"


def test_organisation_report_names_every_published_department_and_domain(rendered, org_text):
    text = flat(org_text)
    for key in PUBLISHED:
        assert rendered.names[key] in text
    for domain in rendered.domains:
        # Each domain has its own page, headed by its title and its description.
        assert f" {domain['en']} " in text
    assert rendered.organization_name in text and rendered.campaign_name in text


def test_organisation_report_shows_the_stored_figures(rendered, org_text):
    text = flat(org_text)
    cells = rendered.cells
    org = cells[(None, OVERALL)]
    assert f"{RESPONSES} responses" in text  # the cover
    rate = round(RESPONSES / INVITED * 100)
    assert f"{RESPONSES} / {INVITED}" in text
    # Each key figure says what it is, and the report says why they can disagree.
    assert "Average risk score of" in text and "Worst band of any domain" in text
    assert f"{whole(org['risk_score'])} / 100" in text
    assert "One domain in “urgent action” therefore stands beside an average" in text
    # Key messages from the results.
    assert f"{RESPONSES} of {INVITED} people answered ({rate} %)." in text
    assert "Across the organisation the highest risk is in" in text
    # The rule the attention list follows is stated.
    assert "ordered by the worst band of any domain, then by the average risk score" in text
    # Heatmap: one line per published department with each domain's risk score and symbol,
    # in instrument order.
    for key in PUBLISHED:
        row = [cells[(key, d["code"])] for d in rendered.domains]
        pattern = r"\s+".join(
            [re.escape(rendered.names[key])]
            + [re.escape(f"{whole(c['risk_score'])} {charts.BAND_SYMBOLS[c['band']]}") for c in row]
        )
        assert re.search(pattern, org_text), f"heatmap row of {rendered.names[key]}"
    # Every domain page charts each published department: score, symbol and n.
    for (key, _code), cell in _published_cells(rendered).items():
        bar = f"{whole(cell['risk_score'])} {charts.BAND_SYMBOLS[cell['band']]} · n = {cell['n']}"
        assert bar in text, (key, _code)
    # Departments needing attention: risk score, band and respondents on the same line.
    for key in PUBLISHED:
        overall = cells[(key, OVERALL)]
        if overall["band"] in ACTION_BANDS:
            line = (
                rf"{re.escape(rendered.names[key])}\s+{whole(overall['risk_score'])}\s+"
                rf"{re.escape(charts.BAND_SYMBOLS[overall['band']])} "
                rf"{BAND_LABELS[overall['band']]}\s+{overall['n']}\n"
            )
            assert re.search(line, org_text), rendered.names[key]
    # Each department's highest risk first among its top risks, mean with two decimals.
    for key in PUBLISHED:
        mine = [(d, cells[(key, d["code"])]) for d in rendered.domains]
        top = max(c["risk_score"] for _, c in mine)
        title, cell = next((d["en"], c) for d, c in mine if c["risk_score"] == top)
        line = (
            f"1. {title}: {whole(cell['risk_score'])} / 100 "
            f"{charts.BAND_SYMBOLS[cell['band']]} {BAND_LABELS[cell['band']]} · "
            f"mean {two_places(cell['mean'])} · "
            f"{round(cell['share_high_risk'] * 100)} % at high risk · n = {cell['n']}"
        )
        assert line in text, (rendered.names[key], title)


def test_band_distribution_counts_respondents_of_the_whole_organisation(rendered, org_text):
    """The chart under "Respondents by band" shares out the organisation's respondents (the
    stored band counts), not its departments."""
    text = flat(org_text)
    for domain in rendered.domains:
        counts = rendered.cells[(None, domain["code"])]["band_counts"]
        total = sum(counts.values())
        assert total == RESPONSES
        legend = " ".join(
            f"{charts.BAND_SYMBOLS[band]} {BAND_LABELS[band]} {counts[band] / total:.0%}"
            for band in charts.BAND_ORDER
        )
        assert legend in text, domain["en"]


def _department_pages(rendered, text: str) -> dict[str, str]:
    """Each published department's pages of the organisation report (pdftotext separates
    pages with form feeds; a department page starts on a new page under its name)."""
    pages = text.split("\f")
    starts = {}
    for key in PUBLISHED:
        heading = re.compile(rf"^ {re.escape(rendered.names[key])}\n\s*\n\s+Priority", re.M)
        (starts[key],) = [i for i, page in enumerate(pages) if heading.search(page)]
    library = next(i for i, page in enumerate(pages) if re.search(r"^ Action library$", page, re.M))
    bounds = [*sorted(starts.values()), library]
    return {
        key: "\f".join(pages[start : bounds[bounds.index(start) + 1]])
        for key, start in starts.items()
    }


def _action_pairs(rendered, key) -> set[tuple[str, str]]:
    return {
        (code, cell["band"])
        for (where, code), cell in _published_cells(rendered, (key,)).items()
        if cell["band"] in ACTION_BANDS
    }


def _ranked_action_pairs(rendered, key) -> list[tuple[str, str]]:
    """The department's domains in the two worst bands, highest risk score first (instrument
    order among equals), as the department pages list them."""
    order = [d["code"] for d in rendered.domains]
    cells = [
        (code, cell)
        for (_, code), cell in _published_cells(rendered, (key,)).items()
        if cell["band"] in ACTION_BANDS
    ]
    cells.sort(key=lambda pair: (-pair[1]["risk_score"], order.index(pair[0])))
    return [(code, cell["band"]) for code, cell in cells]


def test_each_department_page_suggests_actions_for_its_two_worst_bands(rendered, org_text):
    """Every domain in the two worst bands is named with its band and its suggested actions
    (what to do, who and how to check are in the action library)."""
    pages = _department_pages(rendered, org_text)
    everything = {(code, band) for code, bands in LIBRARY.items() for band in bands}
    for key, page in pages.items():
        page = flat(page)
        ranked = _ranked_action_pairs(rendered, key)
        assert ranked, key
        for code, band in ranked:
            title = next(d["en"] for d in rendered.domains if d["code"] == code)
            assert f"{title} ({BAND_LABELS[band]})" in page, (key, code)
            for action in LIBRARY[code][band]:
                assert action["title"]["en"] in page, (key, code, band)
        needed = set(ranked)
        shown = {a["title"]["en"] for code, band in needed for a in LIBRARY[code][band]}
        for code, band in everything - needed:
            for action in LIBRARY[code][band]:
                if action["title"]["en"] not in shown:
                    assert action["title"]["en"] not in page, (key, code, band)
    assert {band for key in PUBLISHED for _, band in _action_pairs(rendered, key)} == set(
        ACTION_BANDS
    ), "both bands that need action are exercised"


def test_action_library_spells_out_every_suggestion(rendered, org_text):
    library = flat(org_text[org_text.index(" Action library\n") :])
    needed = set().union(*(_action_pairs(rendered, key) for key in PUBLISHED))
    for code, band in needed:
        title = next(d["en"] for d in rendered.domains if d["code"] == code)
        assert f"{title} · {BAND_LABELS[band]}" in library
        for action in LIBRARY[code][band]:
            assert action["title"]["en"] in library
            for part in ("what", "owner", "check"):
                assert flat(action[part]["en"]) in library, (code, band, part)


def test_organisation_report_lists_recorded_actions_and_marks_the_overdue(rendered, org_text):
    text = flat(org_text)
    for title in (OVERDUE_ACTION, PLANNED_ACTION, OUTSIDE_ACTION):
        assert title in text
    lines = org_text.splitlines()

    def row_of(title: str) -> str:
        (index,) = [i for i, line in enumerate(lines) if title in line]
        return " ".join(lines[index : index + 2])  # a narrow column may wrap once

    with translation.override("en"):
        overdue_due = formats.date_format(
            timezone.localdate() - dt.timedelta(days=10), "DATE_FORMAT"
        )
        planned_due = formats.date_format(
            timezone.localdate() + dt.timedelta(days=30), "DATE_FORMAT"
        )
    assert overdue_due in row_of(OVERDUE_ACTION) and "overdue" in row_of(OVERDUE_ACTION)
    assert planned_due in row_of(PLANNED_ACTION) and "overdue" not in row_of(PLANNED_ACTION)
    html = rendered.organisation_report.html
    assert html.count('class="overdue"') == 2  # Lighthouse Crew's and Beacon Finance's


# --- Anonymity attacks ----------------------------------------------------------------------


def _assert_names_only_beside_the_mark(text: str, names: list[str], where: str) -> None:
    """A hidden department may be named (participation), but never beside a figure."""
    for name in names:
        for line in text.splitlines():
            if name in line:
                rest = line.replace(name, "")
                assert not re.search(r"\d", rest), f"{where}: {line!r}"
                assert re.fullmatch(r"\s*(hidden|verborgen)\s*", rest), f"{where}: {line!r}"


def test_no_figure_of_a_suppressed_department_appears(rendered, org_text, pack_text):
    suppressed = [rendered.names[key] for key in SUPPRESSED]
    _assert_names_only_beside_the_mark(org_text, suppressed, "organisation report")
    _assert_names_only_beside_the_mark(pack_text, suppressed, "department pack")
    # Top-level hidden departments are listed, marked, in the participation table.
    for key in ("buoy", "keel"):
        assert re.search(rf"{rendered.names[key]}\s+hidden\n", org_text)
    assert re.search(rf"{rendered.names['foghorn']}\s+verborgen\n", pack_text)
    assert (
        "5 departments are not listed: fewer than 5 people answered there, or they are hidden so "
        "that a smaller group cannot be worked out." in flat(org_text)
    )
    # The legend is true for both reasons a group is hidden.
    legend = flat(org_text)
    for phrase in (
        "not shown, to protect anonymity: fewer than 5 people answered in the group,",
        "or showing it would let a smaller group be worked out from other figures",
    ):
        assert phrase in legend, phrase
    # The cover gives the published number of responses, not a raw count.
    assert f"{RESPONSES} responses" in flat(org_text)

    # Every mean printed (two decimals) is a published cell's; none is a hidden one's.
    for text, keys, separator in (
        (org_text, PUBLISHED, "."),
        (pack_text, ("quayside", "lighthouse"), ","),
    ):
        published = _allowed_two_places(rendered, keys, separator)
        hidden = {two_places(f["mean"], separator) for f in rendered.shadow.values()}
        printed = set(TWO_PLACES.findall(text))
        assert printed and printed <= published, printed - published
        assert hidden - published, "the hidden figures must differ from the shown ones"
        assert not printed & (hidden - published)
    # Every "n = ..." in the charts is a published department's or the organisation's n.
    shown_n = {c["n"] for c in rendered.cells.values() if not c["suppressed"]}
    printed_n = {int(n) for n in re.findall(r"n = (\d+)", org_text)}
    assert printed_n and printed_n <= shown_n
    # The hidden groups' respondent counts as a participation row would print them.
    for key in SUPPRESSED:
        invited, answered = TREE[key][2], TREE[key][3]
        for text in (org_text, pack_text):
            assert not re.search(rf"\b{invited}\s+{answered}\s+\d+ %", text), key


def test_the_html_gives_suppressed_departments_no_figures(rendered):
    for report in (rendered.organisation_report, rendered.quayside_pack):
        html = report.html
        for key in SUPPRESSED:
            name = rendered.names[key]
            rows = [row for row in re.findall(r"<tr>.*?</tr>", html, flags=re.S) if name in row]
            assert html.count(name) == sum(row.count(name) for row in rows), name
            for row in rows:
                cells = html_text(row).replace(name, "")
                assert not re.search(r"\d", cells), row
                assert "hidden" in cells or "verborgen" in cells, row
        words = html_text(html)
        hidden = {two_places(f["mean"]) for f in rendered.shadow.values()} | {
            two_places(f["mean"], ",") for f in rendered.shadow.values()
        }
        published = _allowed_two_places(rendered, PUBLISHED, ".") | _allowed_two_places(
            rendered, PUBLISHED, ","
        )
        assert not set(TWO_PLACES.findall(words)) & (hidden - published)


# --- The German department pack -------------------------------------------------------------


def test_department_pack_covers_its_subtree_only(rendered, pack_text):
    text = flat(pack_text)
    html = rendered.quayside_pack.html
    for key in ("quayside", "lighthouse"):
        assert rendered.names[key] in text
    for key in TREE:
        if key not in QUAYSIDE_SUBTREE:
            assert rendered.names[key] not in text, key
            assert rendered.names[key] not in html, key
    assert OVERDUE_ACTION in text and PLANNED_ACTION in text
    assert OUTSIDE_ACTION not in text and OUTSIDE_ACTION not in html
    # Quayside's own figures; the organisation's response count is not the manager's to see.
    quayside = rendered.cells[("quayside", OVERALL)]
    with translation.override("de"):
        responses = gettext("%(count)s responses")
    assert responses % {"count": quayside["n"]} in text
    assert responses % {"count": RESPONSES} not in text
    assert re.search(rf"{rendered.names['lighthouse']}\s+(\d+\s+){{2}}\d+ %", pack_text)
    # The subtree heatmap lists the two published departments; Foghorn Unit is counted.
    with translation.override("de"):
        hidden = ngettext(
            "%(counter)s department is not listed: fewer than %(k)s people answered there, or "
            "it is hidden so that a smaller group cannot be worked out.",
            "%(counter)s departments are not listed: fewer than %(k)s people answered there, or "
            "they are hidden so that a smaller group cannot be worked out.",
            1,
        )
    assert hidden % {"counter": 1, "k": 5} in text


def test_department_pack_is_in_german(rendered, pack_text):
    text = flat(pack_text)
    assert '<html lang="de">' in rendered.quayside_pack.html
    # Headings and band labels, as far as the German catalogue translates them.
    msgids = [
        "Top risks",
        "Recommended actions",
        "Action plan",
        "Participation",
        "Respondents",
        "Priority",
        "Method and anonymity",
        "Urgent action",
        "Improvement needed",
        "Department",
        "Questionnaire",
        "Minimum group size",
    ]
    with translation.override("de"):
        german = {msgid: gettext(msgid) for msgid in msgids}
        today = formats.date_format(timezone.localdate(), "DATE_FORMAT")
    translated = {msgid: de for msgid, de in german.items() if de != msgid}
    assert len(translated) >= 3, "the German catalogue has the report headings"
    for msgid, de in translated.items():
        assert de in text, msgid
    assert today in text  # German month name: "3. Dezember 2026"
    # Domain titles and suggested actions come in German; the English ones do not.
    quayside = _published_cells(rendered, ("quayside",))
    needing = _ranked_action_pairs(rendered, "quayside")
    assert needing
    for position, (code, band) in enumerate(needing):
        title = next(d for d in rendered.domains if d["code"] == code)
        assert title["de"] in text
        for action in LIBRARY[code][band]:
            assert action["title"]["de"] in text
            assert action["title"]["en"] not in text
        if position < 3:  # the three highest risks are spelled out: what, who, how to check
            assert flat(LIBRARY[code][band][0]["check"]["de"]) in text
    # Suggestions for the pack's own department only; its subtree is summarised.
    needed = set(needing)
    shown = {a["title"]["de"] for code, band in needed for a in LIBRARY[code][band]}
    others = {
        a["title"]["de"]
        for code, bands in LIBRARY.items()
        for band, actions in bands.items()
        if (code, band) not in needed
        for a in actions
    } - shown
    assert others
    for title in others:
        assert title not in text
    for english in ("Exhaustion", "Manager support", "Professional efficacy", "Demands"):
        assert english not in text
    # German number format: the appendix's cut-offs and Quayside's highest-risk mean.
    fractional = [v for d in rendered.domains for v in d["cutoffs"] if v != int(v)]
    assert fractional
    for value in fractional:
        assert f"{value:g}".replace(".", ",") in text, value
    top = max(quayside.values(), key=lambda c: c["risk_score"])
    assert two_places(top["mean"], ",") in text


def test_no_pack_for_a_suppressed_department(rendered):
    assert set(rendered.refusals) == set(SUPPRESSED)
    for key, message in rendered.refusals.items():
        assert rendered.names[key] in message
        assert "no pack can be made" in message
        assert "no published results" in message
