"""Results through the API: the stored cells of the current run and nothing more; a
suppressed cell is listed with `suppressed: true` and every figure null; every read is in the
audit trail under the key's name."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiScope, AuditAction, AuditEntry
from accounts.services import api_key_create
from demo.seed import demo_seed
from results.models import DomainResult
from results.selectors import current_run
from tests.reports.report_fixtures import build_scored_campaign, shadow_figures

pytestmark = pytest.mark.django_db

FIGURES = (
    "n", "mean", "sd", "risk_score", "band", "share_high_risk", "change", "change_ci_low",
    "change_ci_high", "change_significant",
)  # fmt: skip


def _client(organization, *scopes) -> tuple[APIClient, str]:
    key, raw = api_key_create(organization=organization, name="HRIS", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client, key.name


def _all_cells(client, campaign, **params) -> list[dict]:
    found, url, query = [], f"/api/v1/campaigns/{campaign.pk}/results", {"page_size": 500}
    query.update(params)
    while url:
        page = client.get(url, query)
        assert page.status_code == 200, page.content
        found += page.json()["results"]
        url, query = page.json()["next"], None
    return found


def _assert_matches_stored(cells: list[dict], campaign, organization_name=None) -> None:
    stored = {
        (c.department.name if c.department else None, c.domain_code, c.breakdown_attribute,
         c.breakdown_value): c
        for c in DomainResult.objects.filter(run=current_run(campaign=campaign)).select_related(
            "department"
        )
    }  # fmt: skip
    assert len(cells) == len(stored)
    for cell in cells:
        row = stored[
            (cell["department"], cell["domain"], cell["breakdown_attribute"],
             cell["breakdown_value"])
        ]  # fmt: skip
        assert cell["suppressed"] == row.suppressed
        if row.suppressed:
            assert all(cell[name] is None for name in FIGURES), cell
        else:
            assert cell["n"] == row.n and cell["risk_score"] == row.risk_score


def test_the_api_returns_the_stored_cells_and_no_figure_of_a_suppressed_one(core_instrument):
    scored = build_scored_campaign(core_instrument)
    client, name = _client(scored.organization, ApiScope.RESULTS_READ)
    cells = _all_cells(client, scored.campaign)
    _assert_matches_stored(cells, scored.campaign)
    assert any(c["suppressed"] for c in cells)
    # No figure the engine would have computed for a hidden department appears anywhere.
    shadow = shadow_figures(scored)
    hidden = {c["department"] for c in cells if c["suppressed"] and c["department"]}
    text = repr([c for c in cells if c["department"] in hidden])
    for (department_id, _code), figures in shadow.iterrows():
        name_of = next((d.name for d in scored.departments.values() if d.pk == department_id), None)
        if name_of in hidden:
            assert repr(figures["mean"]) not in text
    # Every read is recorded under the key's name, without figures.
    entries = AuditEntry.objects.filter(action=AuditAction.RESULTS_VIEWED)
    assert entries.count() == 1
    entry = entries.get()
    assert entry.actor is None and entry.actor_label == f"API key {name}"
    assert entry.detail == {"page": "api results"}


def test_filters_cut_the_cells(core_instrument):
    scored = build_scored_campaign(core_instrument)
    quayside = scored.departments["quayside"]
    quayside.external_id = "Q-1"
    quayside.save(update_fields=["external_id"])
    client, _name = _client(scored.organization, ApiScope.RESULTS_READ)
    cells = _all_cells(
        client, scored.campaign, department="Q-1", domain="demands", breakdown="none"
    )
    names = {d.name for d in scored.departments.values() if d.path.startswith(quayside.path)}
    assert cells and {c["department"] for c in cells} <= names
    assert {c["domain"] for c in cells} == {"demands"}
    assert {c["breakdown_attribute"] for c in cells} == {""}
    bad = client.get(f"/api/v1/campaigns/{scored.campaign.pk}/results", {"department": "NO"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "department"


@pytest.mark.parametrize("seed", [3])
def test_random_demo_campaigns_give_no_figure_of_a_suppressed_cell(core_instrument, seed):
    demo = demo_seed(seed=seed)
    client, _name = _client(demo.organization, ApiScope.RESULTS_READ)
    cells = _all_cells(client, demo.closed_campaign)
    _assert_matches_stored(cells, demo.closed_campaign)
    assert any(c["suppressed"] for c in cells) and any(c["breakdown_attribute"] for c in cells)


def test_an_open_campaign_has_no_results(core_instrument):
    scored = build_scored_campaign(core_instrument)
    scored.campaign.status = "open"
    scored.campaign.save(update_fields=["status"])
    client, _name = _client(scored.organization, ApiScope.RESULTS_READ)
    response = client.get(f"/api/v1/campaigns/{scored.campaign.pk}/results")
    assert response.status_code == 404
    assert not AuditEntry.objects.filter(action=AuditAction.RESULTS_VIEWED).exists()


def test_the_export_and_a_report_download_are_recorded_under_the_key(core_instrument):
    from django.core.files.base import ContentFile

    from reports.models import Report, ReportStatus

    scored = build_scored_campaign(core_instrument)
    client, name = _client(scored.organization, ApiScope.RESULTS_READ, ApiScope.REPORTS_READ)
    export = client.get(f"/api/v1/campaigns/{scored.campaign.pk}/results.xlsx")
    assert export.status_code == 200 and export.content[:2] == b"PK"
    assert "no-store" in export["Cache-Control"]
    report = Report.objects.create(
        organization=scored.organization, campaign=scored.campaign, language="de",
        status=ReportStatus.DONE, result_run=scored.run,
    )  # fmt: skip
    report.file.save("org.pdf", ContentFile(b"%PDF-1.7 org"))
    listed = client.get(f"/api/v1/campaigns/{scored.campaign.pk}/reports").json()["results"]
    assert [r["id"] for r in listed] == [report.pk] and listed[0]["kind"] == "organisation"
    download = client.get(f"/api/v1/reports/{report.pk}/download")
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    assert "no-store" in download["Cache-Control"]
    for action in (AuditAction.RESULTS_EXPORTED, AuditAction.REPORT_DOWNLOADED):
        entry = AuditEntry.objects.get(action=action)
        assert entry.actor is None and entry.actor_label == f"API key {name}"


def _assert_heatmap_matches_stored(client, campaign) -> dict:
    """The heatmap's cells against the stored department cells: a suppressed one shows no
    figure, a published one its stored band and score; the top risks are published cells."""
    matrix = client.get(f"/api/v1/campaigns/{campaign.pk}/heatmap")
    assert matrix.status_code == 200, matrix.content
    assert "no-store" in matrix["Cache-Control"]
    body = matrix.json()
    stored = {
        (c.department.name if c.department else None, c.domain_code): c
        for c in DomainResult.objects.filter(
            run=current_run(campaign=campaign), breakdown_attribute=""
        ).select_related("department")
    }
    seen = 0
    for row in body["rows"]:
        for cell in [*row["cells"], row["priority"]]:
            if cell is None:
                continue
            code = "overall" if cell["domain"] == "priority" else cell["domain"]
            stored_cell = stored[(row["department"], code)]
            assert cell["suppressed"] == stored_cell.suppressed
            if stored_cell.suppressed:
                assert [cell[k] for k in ("band", "risk_score", "change")] == [None] * 3
            else:
                assert cell["band"] == stored_cell.band
                assert cell["risk_score"] == stored_cell.risk_score
            seen += 1
    assert seen
    risks = client.get(f"/api/v1/campaigns/{campaign.pk}/top-risks", {"limit": 12}).json()
    assert risks and not any(r["suppressed"] for r in risks)
    assert [r["risk_score"] for r in risks] == sorted(
        (r["risk_score"] for r in risks), reverse=True
    )
    return body


def test_the_heatmap_and_top_risks_show_no_figure_of_a_suppressed_cell(core_instrument):
    scored = build_scored_campaign(core_instrument)
    client, _name = _client(scored.organization, ApiScope.RESULTS_READ)
    body = _assert_heatmap_matches_stored(client, scored.campaign)
    assert body["rows"][0]["department"] is None  # the organisation first
    assert any(cell and cell["suppressed"] for row in body["rows"] for cell in row["cells"])
    assert AuditEntry.objects.filter(
        action=AuditAction.RESULTS_VIEWED, detail={"page": "api heatmap"}
    ).count() == 1  # fmt: skip
    quayside = scored.departments["quayside"]
    quayside.external_id = "Q-1"
    quayside.save(update_fields=["external_id"])
    subtree = client.get(
        f"/api/v1/campaigns/{scored.campaign.pk}/heatmap", {"department": "Q-1"}
    ).json()
    names = {d.name for d in scored.departments.values() if d.path.startswith(quayside.path)}
    assert {row["department"] for row in subtree["rows"][1:]} <= names
    bad = client.get(f"/api/v1/campaigns/{scored.campaign.pk}/top-risks", {"limit": "99"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "limit"


@pytest.mark.parametrize("seed", [5])
def test_a_random_demo_heatmap_gives_no_figure_of_a_suppressed_cell(core_instrument, seed):
    demo = demo_seed(seed=seed)
    client, _name = _client(demo.organization, ApiScope.RESULTS_READ)
    body = _assert_heatmap_matches_stored(client, demo.closed_campaign)
    assert any(cell and cell["suppressed"] for row in body["rows"] for cell in row["cells"])
