"""The Excel export of a closed campaign's results: the published cells the user may see, a
suppressed cell listed without any figure, one audit entry per download."""

from __future__ import annotations

import io
import json
import math

import openpyxl
import pytest
from django.urls import reverse

from accounts.models import AuditAction, AuditEntry
from accounts.permissions import access_for
from demo.seed import demo_seed
from reports.exports import FIGURE_COLUMNS, campaign_cells_xlsx
from results.models import DomainResult
from results.selectors import current_run
from tests.factories import MembershipFactory, UserFactory
from tests.reports.report_fixtures import SUPPRESSED, build_scored_campaign, shadow_figures
from tests.web.people import sign_in_as

pytestmark = pytest.mark.django_db

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FIGURES = [key for key, _width, _format in FIGURE_COLUMNS]
LABELS = 7  # label columns before the figures


@pytest.fixture
def scored(core_instrument, organization):
    return build_scored_campaign(core_instrument, organization=organization)


def _client_as(client, organization, role, scope=None):
    return sign_in_as(client, organization, role, scope)


def _url(organization, campaign) -> str:
    return reverse("web:results_export", kwargs={"org": organization.slug, "pk": campaign.pk})


def _download(client, organization, campaign):
    response = client.get(_url(organization, campaign), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    return response


def _rows(data: bytes) -> list[dict]:
    """The "Results" sheet as dicts: the labels by name, the figures by model field."""
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == ["Results", "About"]
    sheet = workbook["Results"]
    assert sheet.freeze_panes == "A2"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][6] == "Suppressed" and rows[0][7] == "n"
    labels = ("path", "department", "domain", "title", "attribute", "value", "suppressed")
    return [
        dict(zip(labels, row[:LABELS], strict=True)) | dict(zip(FIGURES, row[LABELS:], strict=True))
        for row in rows[1:]
    ]


def _numbers(data: bytes) -> list[float]:
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    return [
        float(value)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


def _key(department_name, row_or_cell) -> tuple:
    if isinstance(row_or_cell, dict):
        return (
            row_or_cell["department"],
            row_or_cell["domain"],
            row_or_cell["attribute"] or "",
            row_or_cell["value"] or "",
        )
    return (
        department_name,
        row_or_cell.domain_code,
        row_or_cell.breakdown_attribute,
        row_or_cell.breakdown_value,
    )


def _assert_matches_stored(rows: list[dict], stored: list[DomainResult], org_name: str) -> None:
    """Every row is one stored cell and every stored cell one row; a suppressed cell's row has
    no figure at all, a published cell's row has the stored figures."""
    by_key = {_key(c.department.name if c.department else org_name, c): c for c in stored}
    assert len(by_key) == len(stored), "department names are unique in these fixtures"
    assert sorted(_key(None, row) for row in rows) == sorted(by_key)
    for row in rows:
        cell = by_key[_key(None, row)]
        if cell.suppressed:
            assert row["suppressed"] == "yes"
            assert all(row[name] is None for name in FIGURES), row
            continue
        assert row["suppressed"] == "no"
        assert row["n"] == cell.n
        for name in ("mean", "sd", "risk_score", "share_high_risk", "trend_diff"):
            stored_value = getattr(cell, name)
            if stored_value is None:
                assert row[name] is None
            else:
                assert math.isclose(row[name], stored_value), (name, row)
        assert (row["band"] is None) == (cell.band is None)


def _assert_suppressed_rows_are_bare(rows: list[dict]) -> None:
    for row in rows:
        if row["suppressed"] == "yes":
            assert all(row[name] is None for name in FIGURES), row


def test_an_analyst_downloads_the_published_cells(client, scored):
    organization = scored.organization
    _client_as(client, organization, "analyst")
    response = _download(client, organization, scored.campaign)
    assert "no-store" in response["Cache-Control"]
    assert (
        response["Content-Disposition"] == 'attachment; filename="spring-pulse-2031-results.xlsx"'
    )

    rows = _rows(response.content)
    stored = list(DomainResult.objects.filter(run=current_run(campaign=scored.campaign)))
    _assert_matches_stored(rows, stored, organization.name)
    _assert_suppressed_rows_are_bare(rows)

    # The organisation's own row is labelled with its name; paths name the ancestors.
    assert any(row["department"] == organization.name for row in rows)
    lighthouse = next(row for row in rows if row["department"] == "Lighthouse Crew")
    assert lighthouse["path"] == "Quayside Operations / Lighthouse Crew"
    assert lighthouse["title"] and lighthouse["title"] != lighthouse["domain"]

    # Every suppressed department is listed, and only ever beside empty figure cells.
    hidden = {scored.departments[key].name for key in SUPPRESSED}
    for name in hidden:
        theirs = [row for row in rows if row["department"] == name]
        assert theirs and all(row["suppressed"] == "yes" for row in theirs)

    # What the engine would have published for them appears nowhere (unless a published
    # cell happens to carry the very same value).
    published = {
        round(float(getattr(cell, name)), 9)
        for cell in stored
        if not cell.suppressed
        for name in ("mean", "risk_score", "sd", "share_high_risk")
        if getattr(cell, name) is not None
    }
    numbers = {round(value, 9) for value in _numbers(response.content)}
    keys = {d.pk: key for key, d in scored.departments.items()}
    for (department_id, _code), figures in shadow_figures(scored).iterrows():
        if keys[department_id] not in SUPPRESSED:
            continue
        for name in ("mean", "risk_score"):
            value = round(float(figures[name]), 9)
            assert value not in numbers or value in published, (keys[department_id], name)


def test_the_about_sheet_states_k_and_the_campaign(client, scored):
    _client_as(client, scored.organization, "analyst")
    data = _download(client, scored.organization, scored.campaign).content
    about = openpyxl.load_workbook(io.BytesIO(data))["About"]
    values = {row[0]: row[1] for row in about.iter_rows(values_only=True)}
    assert values["Campaign"] == "Spring pulse 2031"
    assert values["Minimum group size (k)"] == scored.campaign.min_group_size
    assert values["Closed"] is not None
    assert "fewer than 5 respondents" in values["Suppression"]


def test_the_same_cells_give_the_same_bytes(scored):
    user = UserFactory()
    MembershipFactory(user=user, organization=scored.organization, role="analyst")
    access = access_for(user=user, organization=scored.organization)
    first = campaign_cells_xlsx(access=access, campaign=scored.campaign, language="en")
    second = campaign_cells_xlsx(access=access, campaign=scored.campaign, language="en")
    assert first == second


def test_a_manager_gets_their_subtree_and_no_organisation_row(client, scored):
    quay = scored.departments["quayside"]
    _client_as(client, scored.organization, "manager", scope=quay)
    # A manager's campaign list holds the campaign only if it asked their subtree: it did.
    rows = _rows(_download(client, scored.organization, scored.campaign).content)
    subtree = {d.name for d in scored.departments.values() if d.path.startswith(quay.path)}
    names = {row["department"] for row in rows}
    assert names and names <= subtree
    assert scored.organization.name not in names
    assert all(row["path"].startswith(quay.name) for row in rows)
    stored = list(
        DomainResult.objects.filter(run=scored.run, department__path__startswith=quay.path)
    )
    _assert_matches_stored(rows, stored, scored.organization.name)


def test_each_download_writes_one_audit_entry_without_figures(client, scored):
    organization = scored.organization
    user = _client_as(client, organization, "analyst")
    for _attempt in range(2):
        before = set(AuditEntry.objects.values_list("pk", flat=True))
        _download(client, organization, scored.campaign)
        new = AuditEntry.objects.exclude(pk__in=before)
        assert new.count() == 1
        entry = new.get()
        assert entry.action == AuditAction.RESULTS_EXPORTED
        assert entry.detail == {"page": "export"}
        assert entry.actor == user and entry.organization_id == organization.pk
        text = json.dumps([entry.subject, entry.detail])
        for cell in scored.run.rows.filter(suppressed=False):
            assert f"{cell.mean}" not in text
            assert f"{cell.risk_score}" not in text


def test_an_open_campaign_answers_404_and_a_viewer_403(client, scored, core_instrument):
    from tests.assessments.survey_fixtures import open_campaign

    organization = scored.organization
    still_open = open_campaign(organization, core_instrument, people=6)
    _client_as(client, organization, "analyst")
    before = AuditEntry.objects.count()
    assert client.get(_url(organization, still_open)).status_code == 404
    assert AuditEntry.objects.count() == before
    _client_as(client, organization, "viewer")
    assert client.get(_url(organization, scored.campaign)).status_code == 403
    assert AuditEntry.objects.count() == before


def test_names_that_look_like_formulas_stay_text(client, core_instrument, organization):
    scored = build_scored_campaign(core_instrument, organization=organization)
    department = scored.departments["beacon"]
    department.name = "=HYPERLINK(1)"
    department.save(update_fields=["name"])
    _client_as(client, organization, "analyst")
    data = _download(client, organization, scored.campaign).content
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    cells = [
        cell
        for row in workbook["Results"].iter_rows()
        for cell in row
        if cell.value == "=HYPERLINK(1)"
    ]
    assert cells and all(cell.data_type == "s" for cell in cells)


def test_the_results_page_links_to_the_export(client, scored):
    _client_as(client, scored.organization, "analyst")
    page = client.get(
        reverse("web:results", kwargs={"org": scored.organization.slug, "pk": scored.campaign.pk})
    ).content.decode()
    assert _url(scored.organization, scored.campaign) in page
    assert "Download as Excel" in page
    _client_as(client, scored.organization, "viewer")
    page = client.get(
        reverse("web:results", kwargs={"org": scored.organization.slug, "pk": scored.campaign.pk})
    ).content.decode()
    assert "Download as Excel" not in page


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_campaigns_never_put_a_figure_beside_a_suppressed_cell(
    client, core_instrument, seed
):
    demo = demo_seed(seed=seed)
    organization, campaign = demo.organization, demo.closed_campaign
    run = current_run(campaign=campaign)
    assert run is not None
    stored = list(DomainResult.objects.filter(run=run).select_related("department"))
    assert any(cell.suppressed for cell in stored)
    assert any(cell.breakdown_attribute for cell in stored)

    _client_as(client, organization, "analyst")
    rows = _rows(_download(client, organization, campaign).content)
    _assert_suppressed_rows_are_bare(rows)
    assert len(rows) == len(stored)
    suppressed = sorted(_key(None, r) for r in rows if r["suppressed"] == "yes")
    assert suppressed == sorted(
        _key(c.department.name if c.department else organization.name, c)
        for c in stored
        if c.suppressed
    )

    # A manager of some department with a subtree: only that subtree, no organisation row.
    root = next(c.department for c in stored if c.department and c.department.depth == 0)
    _client_as(client, organization, "manager", scope=root)
    rows = _rows(_download(client, organization, campaign).content)
    _assert_suppressed_rows_are_bare(rows)
    names = {
        c.department.name
        for c in stored
        if c.department and c.department.path.startswith(root.path)
    }
    assert {row["department"] for row in rows} <= names
    assert organization.name not in {row["department"] for row in rows}
