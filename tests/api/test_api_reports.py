"""Reports through the API: request the organisation report or a department pack of a closed
campaign, poll the report until it is done, download it; the same refusals as the HR app
(no pack for a hidden department, a manager's packs in their own subtree only)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import ApiScope, AuditAction, AuditEntry
from reports.models import Report, ReportStatus
from tests.api.conftest import key_client
from tests.factories import OrganizationFactory
from tests.reports.report_fixtures import PUBLISHED
from tests.web.people import sign_in_as

pytestmark = pytest.mark.django_db


def _key(organization, *scopes) -> APIClient:
    return key_client(organization, *scopes, name="Reporting")


def _errors(response, status: int = 400) -> list[dict]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    return response.json()["errors"]


def test_a_report_is_requested_polled_and_downloaded(scored, django_capture_on_commit_callbacks):
    client = _key(scored.organization, ApiScope.REPORTS_READ)
    url = f"/api/v1/campaigns/{scored.campaign.pk}/reports"
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = client.post(url, {"language": "en"}, format="json")
    assert response.status_code == 202, response.content
    report = response.json()
    assert report["kind"] == "organisation" and report["department"] is None
    assert report["status"] == "queued" and report["download_url"] is None
    assert report["campaign"] == scored.campaign.pk
    poll = client.get(f"/api/v1/reports/{report['id']}")
    assert poll.status_code == 200 and poll.json()["status"] == "queued"

    # Asking again for the same gives the same report, not a second rendering.
    again = client.post(url, {"language": "en"}, format="json")
    assert again.status_code == 202 and again.json()["id"] == report["id"]

    for callback in queued:  # the worker renders it (tasks run in-process in tests)
        callback()
    done = client.get(f"/api/v1/reports/{report['id']}").json()
    assert done["status"] == "done", done["error"]
    assert done["download_url"] == f"http://testserver/api/v1/reports/{report['id']}/download"
    pdf = client.get(done["download_url"])
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")
    listed = client.get(url).json()["results"]
    assert [r["id"] for r in listed] == [report["id"]]
    assert listed[0]["download_url"] == done["download_url"]

    requested = AuditEntry.objects.filter(action=AuditAction.REPORT_REQUESTED)
    assert requested.count() == 2  # each request is recorded
    entry = requested.first()
    assert entry.actor is None and entry.actor_label == "API key Reporting"
    assert entry.subject == f"campaign {scored.campaign.pk}: {scored.campaign.name}"
    assert entry.detail == {"report": "organisation", "language": "en"}


def test_a_department_pack_by_its_hris_id(scored):
    client = _key(scored.organization, ApiScope.REPORTS_READ)
    url = f"/api/v1/campaigns/{scored.campaign.pk}/reports"
    response = client.post(url, {"department": "Q-lighthouse", "language": "de"}, format="json")
    assert response.status_code == 202, response.content
    pack = response.json()
    assert pack["kind"] == "department" and pack["department_external_id"] == "Q-lighthouse"
    assert pack["language"] == "de"
    assert Report.objects.get(pk=pack["id"]).department == scored.departments["lighthouse"]


def test_refusals_name_the_field(scored):
    client = _key(scored.organization, ApiScope.REPORTS_READ)
    url = f"/api/v1/campaigns/{scored.campaign.pk}/reports"
    hidden = _errors(client.post(url, {"department": "Q-foghorn", "language": "en"}, format="json"))
    assert hidden[0]["field"] == "department"
    assert hidden[0]["detail"].startswith(
        "Department 'Foghorn Unit' has no published results in this campaign"
    )
    unknown = _errors(
        client.post(url, {"department": "Q-atlantis", "language": "en"}, format="json")
    )
    assert unknown == [
        {"field": "department", "detail": "No department with HRIS id 'Q-atlantis'."}
    ]
    language = _errors(client.post(url, {"language": "fr"}, format="json"))
    assert language == [
        {
            "field": "language",
            "detail": "Reports for plimsoll-core v1 are available in en, de, not 'fr'.",
        }
    ]
    missing = _errors(client.post(url, {}, format="json"))
    assert [e["field"] for e in missing] == ["language"]
    assert not Report.objects.exists()
    assert not AuditEntry.objects.filter(action=AuditAction.REPORT_REQUESTED).exists()


def test_an_open_campaign_and_another_organisations_campaign_have_no_reports(scored):
    client = _key(scored.organization, ApiScope.REPORTS_READ)
    theirs = _key(OrganizationFactory(), ApiScope.REPORTS_READ)
    url = f"/api/v1/campaigns/{scored.campaign.pk}/reports"
    assert theirs.post(url, {"language": "en"}, format="json").status_code == 404
    report = client.post(url, {"language": "en"}, format="json").json()
    assert theirs.get(f"/api/v1/reports/{report['id']}").status_code == 404
    scored.campaign.status = "open"
    scored.campaign.save(update_fields=["status"])
    response = client.post(url, {"language": "en"}, format="json")
    assert response.status_code == 404
    assert response.json()["detail"] == "Reports are made only for a closed campaign."


def test_packs_for_every_published_department(scored):
    client = _key(scored.organization, ApiScope.REPORTS_READ)
    url = f"/api/v1/campaigns/{scored.campaign.pk}/reports/packs"
    response = client.post(url, {"language": "en"}, format="json")
    assert response.status_code == 202, response.content
    assert sorted(r["department_external_id"] for r in response.json()) == sorted(
        f"Q-{key}" for key in PUBLISHED
    )
    within = client.post(url, {"department": "Q-compass"}, format="json")
    assert within.status_code == 202, within.content
    # Compass Sales alone: its children are hidden; in each of the campaign's languages.
    assert sorted((r["department"], r["language"]) for r in within.json()) == [
        ("Compass Sales", "de"),
        ("Compass Sales", "en"),
    ]
    hidden = _errors(client.post(url, {"department": "Q-tiller"}, format="json"))
    assert hidden[0]["field"] == "" and "No department in your scope" in hidden[0]["detail"]


def test_a_manager_requests_packs_of_their_subtree_only(scored):
    client = APIClient()
    sign_in_as(client, scored.organization, "manager", scored.departments["quayside"])
    url = f"/api/v1/campaigns/{scored.campaign.pk}/reports"
    organisation = _errors(client.post(url, {"language": "en"}, format="json"))
    assert organisation[0]["field"] == "department"
    assert "outside your scope" in organisation[0]["detail"]
    outside = _errors(client.post(url, {"department": "Q-beacon", "language": "en"}, format="json"))
    assert outside == [{"field": "department", "detail": "No department with HRIS id 'Q-beacon'."}]
    mine = client.post(url, {"department": "Q-lighthouse", "language": "en"}, format="json")
    assert mine.status_code == 202, mine.content
    packs = client.post(f"{url}/packs", {"language": "en"}, format="json")
    assert packs.status_code == 202, packs.content
    assert sorted(r["department"] for r in packs.json()) == [
        "Lighthouse Crew",
        "Quayside Operations",
    ]
    # A report outside the subtree is not found, not forbidden.
    theirs = Report.objects.create(
        organization=scored.organization,
        campaign=scored.campaign,
        language="en",
        result_run=scored.run,
        status=ReportStatus.DONE,
    )
    assert client.get(f"/api/v1/reports/{theirs.pk}").status_code == 404
    assert client.get(f"/api/v1/reports/{mine.json()['id']}").status_code == 200
    entry = AuditEntry.objects.filter(action=AuditAction.REPORT_REQUESTED).order_by("pk")[0]
    assert entry.actor is not None and entry.detail["report"] == "Lighthouse Crew"
