"""A department's results and one area across departments: the stored cells and nothing more.

The pages are parsed as a reader sees them: a hidden cell must stand beside no number, and no
figure the engine would have computed for a suppressed group (`shadow_figures`) may appear.
"""

from __future__ import annotations

import re
from html import unescape as html_unescape
from urllib.parse import unquote_plus

import pytest
from django.urls import reverse
from django.utils.html import escape

from accounts.models import AuditEntry
from demo.seed import demo_seed
from results.models import DomainResult
from results.scoring import OVERALL, RESPONDENTS
from results.selectors import current_run
from tests.reports.report_fixtures import SUPPRESSED, build_scored_campaign, shadow_figures
from tests.web.people import sign_in_as

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(core_instrument, organization):
    return build_scored_campaign(core_instrument, organization=organization)


def _client_as(client, organization, role, scope=None):
    return sign_in_as(client, organization, role, scope)


def _department_url(organization, campaign, department) -> str:
    return reverse(
        "web:results_department",
        kwargs={"org": organization.slug, "pk": campaign.pk, "department": department.pk},
    )


def _domain_url(organization, campaign, domain) -> str:
    return reverse(
        "web:results_domain",
        kwargs={"org": organization.slug, "pk": campaign.pk, "domain": domain},
    )


def _text(html: str) -> str:
    html = re.sub(r"<svg.*?</svg>", " [chart] ", html, flags=re.S)
    html = re.sub(r'<span aria-hidden="true">.*?</span>', "", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _table_rows(html: str, section: str) -> dict[str, str]:
    """Row header → the text of the rest of the row, in the section with this heading id."""
    part = html.split(f'id="{section}"')[1].split("</section>")[0]
    return {
        _text(name).strip(): _text(rest).strip()
        for name, rest in re.findall(
            r'<tr>\s*<th scope="row"[^>]*>(.*?)</th>(.*?)</tr>', part, re.S
        )
    }


def _stored(campaign) -> list[DomainResult]:
    return list(
        DomainResult.objects.filter(run=current_run(campaign=campaign)).select_related("department")
    )


def _assert_department_page_shows_its_cells(html, campaign, department, stored, titles):
    rows = _table_rows(html, "areas")
    own = {
        c.domain_code: c
        for c in stored
        if c.department_id == department.pk and not c.breakdown_attribute
    }
    for code, title in titles.items():
        if code not in own:
            continue
        cell, text = own[code], rows[title]
        if cell.suppressed:
            assert not re.search(r"\d", text), (department.name, title, text)
        else:
            assert f"{cell.risk_score:.0f}" in text.split() and str(cell.n) in text.split()
    # Hidden departments below are named beside no number.
    below = html.split('id="below"')[1].split("</section>")[0] if 'id="below"' in html else ""
    for item in re.findall(r"<li>(.*?)</li>", below, re.S):
        if "hidden" in item:
            assert not re.search(r"\d", _text(item)), item


def _titles(campaign) -> dict[str, str]:
    return {d.code: d.title["en"] for d in campaign.instrument.domains.order_by("position")}


def test_a_department_page_shows_every_area_chart_and_trend(client, scored):
    _client_as(client, scored.organization, "analyst")
    department = scored.departments["lighthouse"]
    page = client.get(_department_url(scored.organization, scored.campaign, department))
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    html = page.content.decode()
    stored = _stored(scored.campaign)
    titles = _titles(scored.campaign)
    _assert_department_page_shows_its_cells(html, scored.campaign, department, stored, titles)
    published = [
        c
        for c in stored
        if c.department_id == department.pk
        and not c.breakdown_attribute
        and not c.suppressed
        and c.domain_code in titles
    ]
    assert html.count("<svg") == len(published)  # one chart of respondents per band each
    entry = AuditEntry.objects.get(organization=scored.organization)
    assert entry.detail == {"page": "department", "department": department.name}


def test_a_suppressed_department_gives_no_figure_away(client, scored):
    _client_as(client, scored.organization, "admin")
    shadow = shadow_figures(scored)
    titles = _titles(scored.campaign)
    stored = _stored(scored.campaign)
    for key in SUPPRESSED:
        department = scored.departments[key]
        page = client.get(_department_url(scored.organization, scored.campaign, department))
        assert page.status_code == 200, key
        html = page.content.decode()
        assert "<svg" not in html
        _assert_department_page_shows_its_cells(html, scored.campaign, department, stored, titles)
        text = _text(html.split('id="areas"')[1].split("</section>")[0])
        for code in titles:
            figures = shadow.loc[(department.pk, code)]
            for figure in (f"{figures['risk_score']:.0f}", f"{figures['sd']:.2f}"):
                assert f" {figure} " not in f" {text} ", (key, code, figure)


def test_the_area_page_ranks_published_departments_and_names_the_hidden_bare(client, scored):
    _client_as(client, scored.organization, "viewer")
    page = client.get(_domain_url(scored.organization, scored.campaign, "demands"))
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    html = page.content.decode()
    cells = [
        c
        for c in _stored(scored.campaign)
        if c.domain_code == "demands" and not c.breakdown_attribute and c.department_id
    ]
    shown = [c for c in cells if not c.suppressed]
    ranked = re.findall(r'<th scope="row"><a href="[^"]+">(.*?)</a></th>', html)
    expected = sorted(shown, key=lambda c: (-c.risk_score, c.department.path))
    assert ranked == [c.department.name for c in expected]
    hidden_part = html.split("<h2>Not shown</h2>")[1].split("</ul>")[0]
    hidden = re.findall(r"<li>(.*?)</li>", hidden_part)
    assert sorted(hidden) == sorted(c.department.name for c in cells if c.suppressed)
    assert not re.search(r"\d", _text(hidden_part.split("</p>")[1]))
    # Another area from the picker; an unknown one is not found.
    picked = client.get(
        _domain_url(scored.organization, scored.campaign, "demands") + "?domain=control"
    )
    assert picked.status_code == 302 and picked["Location"].endswith("/areas/control/")
    unknown = _domain_url(scored.organization, scored.campaign, "nothing-like-it")
    assert client.get(unknown).status_code == 404


def test_a_manager_drills_down_inside_their_subtree_only(client, scored):
    quayside = scored.departments["quayside"]
    _client_as(client, scored.organization, "manager", scope=quayside)
    inside = _department_url(scored.organization, scored.campaign, scored.departments["lighthouse"])
    outside = _department_url(scored.organization, scored.campaign, scored.departments["beacon"])
    assert client.get(inside).status_code == 200
    assert client.get(outside).status_code == 404
    html = client.get(_domain_url(scored.organization, scored.campaign, "demands")).content
    mine = {d.name for d in scored.departments.values() if d.path.startswith(quayside.path)}
    names = set(re.findall(r"<th scope=\"row\"><a [^>]+>(.*?)</a>", html.decode()))
    names |= set(re.findall(r"<li>(.*?)</li>", html.decode().split("Not shown")[-1]))
    others = {d.name for d in scored.departments.values()} - mine
    assert names and names <= mine and not names & others


def test_the_heatmap_and_overview_link_to_the_drill_down(client, scored):
    _client_as(client, scored.organization, "analyst")
    org, campaign = scored.organization, scored.campaign
    heatmap = client.get(
        reverse("web:heatmap", kwargs={"org": org.slug, "pk": campaign.pk})
    ).content.decode()
    assert _department_url(org, campaign, scored.departments["lighthouse"]) in heatmap
    assert _domain_url(org, campaign, "demands") in heatmap
    overview = client.get(
        reverse("web:results", kwargs={"org": org.slug, "pk": campaign.pk})
    ).content.decode()
    assert _department_url(org, campaign, scored.departments["lighthouse"]) in overview


@pytest.mark.parametrize("seed", [2, 5])
def test_random_campaigns_show_no_figure_of_a_hidden_cell(client, core_instrument, seed):
    demo = demo_seed(seed=seed)
    organization, campaign = demo.organization, demo.closed_campaign
    _client_as(client, organization, "analyst")
    stored = _stored(campaign)
    titles = _titles(campaign)
    departments = {c.department for c in stored if c.department_id}
    assert any(c.suppressed for c in stored if c.domain_code not in (OVERALL, RESPONDENTS))
    for department in departments:
        html = client.get(_department_url(organization, campaign, department)).content.decode()
        _assert_department_page_shows_its_cells(html, campaign, department, stored, titles)
    for code in titles:
        html = client.get(_domain_url(organization, campaign, code)).content.decode()
        hidden = {
            c.department.name
            for c in stored
            if c.domain_code == code and c.suppressed and c.department_id
            and not c.breakdown_attribute
        }  # fmt: skip
        ranked = set(re.findall(r'<th scope="row"><a href="[^"]+">(.*?)</a></th>', html))
        assert not ranked & hidden, code
    # The heatmap, every department open: a hidden cell shows its mark and no number.
    html = client.get(
        reverse("web:heatmap", kwargs={"org": organization.slug, "pk": campaign.pk}) + "?open=all"
    ).content.decode()
    body = html.split('<tbody id="heatmap-body">')[1].split("</tbody>")[0]
    codes = list(titles)
    by_place = {
        (c.department.name if c.department else "Whole organisation", c.domain_code): c
        for c in stored
        if not c.breakdown_attribute and c.domain_code in titles
    }
    for name, cells in re.findall(r'<tr><th scope="row"[^>]*>(.*?)</th>(.*?)</tr>', body):
        name = re.sub(r'<span (class="visually-hidden"|aria-hidden="true")>.*?</span>', "", name)
        name = html_unescape(re.sub(r"<[^>]+>", "", name).strip())
        texts = [re.sub(r"<[^>]+>", "", t) for t in re.findall(r"<td[^>]*>(.*?)</td>", cells)]
        for code, text in zip(codes, texts, strict=True):
            cell = by_place[(name, code)]
            if cell.suppressed:
                assert text == f"fewer than {campaign.min_group_size}", (name, code, text)
            else:
                assert f"{cell.risk_score:.0f}" in text, (name, code, text)


def test_a_suggested_action_is_planned_from_the_department_page(client, scored):
    _client_as(client, scored.organization, "analyst")
    department = scored.departments["lighthouse"]
    html = client.get(_department_url(scored.organization, scored.campaign, department)).content
    links = re.findall(r'href="([^"]*/actions/new/\?[^"]*title=[^"]+)"', html.decode())
    assert links, "no suggestion to plan"
    link = links[-1].replace("&amp;", "&")
    title = re.search(r"title=([^&]+)", link).group(1)
    form = client.get(link).content.decode()
    assert f'value="{escape(unquote_plus(title))}"' in form
    # A viewer reads the plan but gets no link to make one.
    _client_as(client, scored.organization, "viewer")
    html = client.get(_department_url(scored.organization, scored.campaign, department)).content
    assert "/actions/new/" not in html.decode()
