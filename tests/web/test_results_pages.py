"""Results pages show what the result selectors publish, and nothing else."""

import re

import pytest
from django.urls import reverse

from accounts.permissions import access_for
from results.selectors import heatmap
from tests.reports.report_fixtures import SUPPRESSED, build_scored_campaign
from tests.web.people import sign_in_as

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(core_instrument, organization):
    return build_scored_campaign(core_instrument, organization=organization)


def _client_as(client, scored, role, scope=None):
    return sign_in_as(client, scored.organization, role, scope)


def _url(scored, name, **params):
    url = reverse(f"web:{name}", kwargs={"org": scored.organization.slug, "pk": scored.campaign.pk})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def _rows(html: str) -> dict[str, list[str]]:
    """Department name → the visible text of each cell (the number, or the hidden mark)."""
    body = html.split('<tbody id="heatmap-body">')[1].split("</tbody>")[0]
    # The symbol is decoration and the band's word is for screen readers: keep what is left.
    body = re.sub(r'<span aria-hidden="true">.*?</span>', "", body)
    body = re.sub(r'<span class="visually-hidden">.*?</span>', "", body)
    return {
        re.sub(r"<[^>]+>", "", name).strip(): [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", cells)
        ]
        for name, cells in re.findall(r'<tr><th scope="row"[^>]*>(.*?)</th>(.*?)</tr>', body)
    }


def test_the_heatmap_shows_the_published_cells_and_marks_the_hidden(client, scored):
    user = _client_as(client, scored, "analyst")
    page = client.get(_url(scored, "heatmap", open="all"))
    assert "no-store" in page["Cache-Control"]
    rows = _rows(page.content.decode())
    access = access_for(user=user, organization=scored.organization)
    matrix = heatmap(access=access, campaign=scored.campaign)
    for department, cells in matrix.rows:
        name = department.name if department else "Whole organisation"
        shown = rows[name]
        for cell, text in zip(cells, shown, strict=True):
            if cell is None:
                assert text == "no result"
            elif cell.suppressed:
                assert text == f"fewer than {scored.campaign.min_group_size}"
            else:
                assert text == f"{cell.risk_score:.0f}"
    hidden = {scored.departments[key].name for key in SUPPRESSED}
    for name in hidden:
        assert all(text.startswith("fewer than") for text in rows[name])


def test_a_manager_sees_only_their_subtree_and_no_organisation_row(client, scored):
    quay = scored.departments["quayside"]
    _client_as(client, scored, "manager", scope=quay)
    html = client.get(_url(scored, "heatmap", open="all")).content.decode()
    names = set(_rows(html))
    assert "Whole organisation" not in names
    subtree = {d.name for d in scored.departments.values() if d.path.startswith(quay.path)}
    assert names <= subtree and quay.name in names
    overview = client.get(_url(scored, "results")).content.decode()
    for other in {d.name for d in scored.departments.values()} - subtree:
        assert other not in overview


def test_sorting_filtering_and_the_change_view(client, scored):
    from results.selectors import departments_by_priority

    user = _client_as(client, scored, "admin")
    quay = scored.departments["quayside"]
    filtered = _rows(client.get(_url(scored, "heatmap", department=quay.pk)).content.decode())
    subtree = {d.name for d in scored.departments.values() if d.path.startswith(quay.path)}
    assert quay.name in filtered and set(filtered) <= subtree
    # By priority: the departments with results come in the selector's order, worst first.
    by_priority = list(_rows(client.get(_url(scored, "heatmap", sort="priority")).content.decode()))
    access = access_for(user=user, organization=scored.organization)
    ranked = [
        c.department.name for c in departments_by_priority(access=access, campaign=scored.campaign)
    ]
    assert by_priority[: len(ranked)] == ranked
    # The change view shows changes (a signed number, or a dash without a previous campaign),
    # never the risk scores.
    change = _rows(client.get(_url(scored, "heatmap", value="change")).content.decode())
    risk = _rows(client.get(_url(scored, "heatmap")).content.decode())
    assert set(change) == set(risk)
    for name, cells in change.items():
        for shown, score in zip(cells, risk[name], strict=True):
            if score.isdigit():
                assert shown == "—" or re.fullmatch(r"[+-]?\d+\.\d\d\*?", shown), shown
    # Anything else in the query is ignored, never interpreted.
    assert client.get(_url(scored, "heatmap", sort="x;drop", department="abc")).status_code == 200


def test_subtrees_open_and_close_without_javascript_and_with_htmx(client, scored):
    _client_as(client, scored, "analyst")
    departments = scored.departments
    top = {d.name for d in departments.values() if d.depth == 0}
    second = {d.name for d in departments.values() if d.depth == 1}
    # By default the top level is open: its departments and their children show.
    default = client.get(_url(scored, "heatmap")).content.decode()
    assert set(_rows(default)) == {"Whole organisation"} | top | second
    closed = client.get(_url(scored, "heatmap", open="none")).content.decode()
    assert set(_rows(closed)) == {"Whole organisation"} | top
    every = client.get(_url(scored, "heatmap", open="all")).content.decode()
    assert set(_rows(every)) == {"Whole organisation"} | {d.name for d in departments.values()}
    # A parent's toggle: a plain link (works without JavaScript), which htmx follows to swap
    # the table body only, keeping the focus on the toggle (same id).
    parent = next(d for d in departments.values() if d.depth == 0 and any(
        c.parent_id == d.pk for c in departments.values()))  # fmt: skip
    toggle = re.search(rf'<a id="toggle-{parent.pk}"[^>]*>', closed).group(0)
    assert 'aria-expanded="false"' in toggle and 'hx-select="#heatmap-body"' in toggle
    href = re.search(r'href="([^"]+)"', toggle).group(1).replace("&amp;", "&")
    opened = client.get(_url(scored, "heatmap") + href).content.decode()
    children = {d.name for d in departments.values() if d.parent_id == parent.pk}
    assert set(_rows(opened)) == {"Whole organisation"} | top | children
    assert 'aria-expanded="true"' in re.search(rf'<a id="toggle-{parent.pk}"[^>]*>', opened)[0]
    # Sorted or cut to a subtree, every row shows: a ranking is not a tree.
    by_priority = client.get(_url(scored, "heatmap", sort="priority", open="none")).content
    assert len(_rows(by_priority.decode())) > len(_rows(closed))
