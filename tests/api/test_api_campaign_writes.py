"""Running a campaign through the API: create, change, launch, remind, retry and close with
an API key, through the services the HR app uses, with the same rules and refusals; every
write in the audit trail under the key's name; refusals as problem details naming the field."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiScope, AuditAction, AuditEntry, Department
from accounts.services import api_key_create
from api.problems import service_field_errors
from assessments.models import Campaign, CampaignStatus, DeliveryStatus, Invitation
from tests.factories import DepartmentFactory, EmployeeFactory, OrganizationFactory
from tests.web.people import sign_in_as

pytestmark = pytest.mark.django_db


@pytest.fixture
def org(core_instrument):
    """Harbourside: Operations (D-OPS, three people) with Night Shift (D-NIGHT, two people)
    below it, and an empty Finance (D-FIN)."""
    organization = OrganizationFactory(name="Harbourside", slug="harbourside")
    ops = DepartmentFactory(organization=organization, name="Operations", external_id="D-OPS")
    night = DepartmentFactory(
        organization=organization, name="Night Shift", parent=ops, external_id="D-NIGHT"
    )
    DepartmentFactory(organization=organization, name="Finance", external_id="D-FIN")
    for department, count in ((ops, 3), (night, 2)):
        for _ in range(count):
            EmployeeFactory(organization=organization, department=department)
    return organization


def _key(organization, *scopes, name="HRIS") -> APIClient:
    _key_row, raw = api_key_create(organization=organization, name=name, scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def _when(days: int) -> str:
    return (timezone.now() + dt.timedelta(days=days)).isoformat()


def _draft(**overrides) -> dict:
    return {
        "name": "Spring pulse",
        "instrument": "plimsoll-core",
        "target_departments": ["D-OPS"],
        "closes_at": _when(21),
        "reminder_days": [14, 7],
        **overrides,
    }


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    return response.json()


def _errors(response, status: int = 400) -> list[dict]:
    return _problem(response, status)["errors"]


def test_a_campaign_runs_from_draft_to_closed_through_the_api(
    org, django_capture_on_commit_callbacks
):
    client = _key(org, ApiScope.CAMPAIGNS_WRITE)
    created = client.post("/api/v1/campaigns", _draft(), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    pk = body["id"]
    assert created["Location"].endswith(f"/api/v1/campaigns/{pk}")
    assert body["status"] == "draft"
    assert (body["instrument"], body["instrument_version"]) == ("plimsoll-core", 1)
    assert body["target_departments"] == [{"external_id": "D-OPS", "name": "Operations"}]
    assert body["languages"] == ["en", "de"]  # every language of the questionnaire
    assert body["reminder_days"] == [7, 14] and body["min_group_size"] == 5

    changed = client.patch(
        f"/api/v1/campaigns/{pk}",
        {"name": "Spring pulse 2031", "min_group_size": 4, "target_departments": ["D-NIGHT"]},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["name"] == "Spring pulse 2031"
    assert changed.json()["min_group_size"] == 4
    assert changed.json()["target_departments"][0]["external_id"] == "D-NIGHT"
    back = client.patch(f"/api/v1/campaigns/{pk}", {"target_departments": ["D-OPS"]}, format="json")
    assert back.status_code == 200, back.content

    with django_capture_on_commit_callbacks(execute=True):
        launched = client.post(f"/api/v1/campaigns/{pk}/launch")
    assert launched.status_code == 200, launched.content
    assert launched.json()["status"] == "open" and launched.json()["launched_at"]
    # Everyone active in Operations and below is invited, and the invitations went out.
    assert Invitation.objects.filter(campaign_id=pk).count() == 5
    assert len(mail.outbox) == 5
    assert set(Invitation.objects.values_list("delivery_status", flat=True)) == {
        DeliveryStatus.SENT
    }

    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        reminded = client.post(f"/api/v1/campaigns/{pk}/remind")
    assert reminded.status_code == 202, reminded.content
    assert len(mail.outbox) == 5  # nobody has answered: everyone is reminded
    assert Campaign.objects.get(pk=pk).reminder_round == 1

    refused = Invitation.objects.filter(campaign_id=pk).order_by("pk").values("pk")[:2]
    Invitation.objects.filter(pk__in=refused).update(
        delivery_status=DeliveryStatus.FAILED, delivery_error="550 mailbox unknown"
    )
    retried = client.post(f"/api/v1/campaigns/{pk}/retry-deliveries")
    assert retried.status_code == 202, retried.content
    assert retried.json() == {"retried": 2}

    closed = client.post(f"/api/v1/campaigns/{pk}/close")
    assert closed.status_code == 200, closed.content
    assert closed.json()["status"] == "closed" and closed.json()["closed_at"]

    # One audit entry per write, under the key's name, naming the campaign.
    entries = AuditEntry.objects.exclude(action=AuditAction.API_KEY_CREATED).order_by("pk")
    assert [e.action for e in entries] == [
        AuditAction.CAMPAIGN_CREATED,
        AuditAction.CAMPAIGN_UPDATED,
        AuditAction.CAMPAIGN_UPDATED,
        AuditAction.CAMPAIGN_LAUNCHED,
        AuditAction.REMINDERS_SENT,
        AuditAction.DELIVERIES_RETRIED,
        AuditAction.CAMPAIGN_CLOSED,
    ]
    for entry in entries:
        assert entry.actor is None and entry.actor_label == "API key HRIS"
        assert entry.subject.startswith(f"campaign {pk}: Spring pulse")
    assert entries[1].detail == {"fields": ["min_group_size", "name", "target_departments"]}


def test_bad_input_is_refused_naming_the_field_and_nothing_is_made(org):
    client = _key(org, ApiScope.CAMPAIGNS_WRITE)
    known = "there are: plimsoll-core v1."
    cases = [
        (
            {"target_departments": ["D-OPS", "D-NOPE"]},
            "target_departments[1]",
            "No active department with HRIS id 'D-NOPE'.",
        ),
        ({"instrument": "stress-99"}, "instrument", f"No questionnaire 'stress-99'; {known}"),
        (
            {"instrument_version": 7},
            "instrument_version",
            f"No questionnaire 'plimsoll-core' version 7; {known}",
        ),
        (
            {"opens_at": _when(30)},
            "closes_at",
            "The closing time must be after the opening time.",
        ),
        (
            {"min_group_size": 2},
            "min_group_size",
            "The minimum group size must be at least 3, got 2.",
        ),
        (
            {"languages": ["fr"]},
            "languages",
            "plimsoll-core v1 has no text in fr; it supports en, de.",
        ),
        ({"previous_campaign": 999}, "previous_campaign", "No closed campaign with id 999."),
    ]
    for overrides, field, detail in cases:
        response = client.post("/api/v1/campaigns", _draft(**overrides), format="json")
        assert _errors(response) == [{"field": field, "detail": detail}], overrides
    bad_date = _errors(
        client.post("/api/v1/campaigns", _draft(closes_at="next Tuesday"), format="json")
    )
    assert [e["field"] for e in bad_date] == ["closes_at"]
    assert "Datetime has wrong format" in bad_date[0]["detail"]
    missing = _errors(client.post("/api/v1/campaigns", {"name": "x"}, format="json"))
    assert {e["field"] for e in missing} == {"instrument", "target_departments", "closes_at"}
    assert not Campaign.objects.exists()
    assert not AuditEntry.objects.exclude(action=AuditAction.API_KEY_CREATED).exists()


def test_a_launched_campaign_keeps_its_frozen_settings_and_a_closed_one_all(org):
    client = _key(org, ApiScope.CAMPAIGNS_WRITE)
    pk = client.post("/api/v1/campaigns", _draft(), format="json").json()["id"]
    assert client.post(f"/api/v1/campaigns/{pk}/launch").status_code == 200

    frozen = client.patch(f"/api/v1/campaigns/{pk}", {"min_group_size": 7}, format="json")
    problem = _problem(frozen, 409)
    assert problem["type"].endswith("/conflict")
    assert problem["errors"] == [
        {
            "field": "min_group_size",
            "detail": "Campaign 'Spring pulse' was launched; min_group_size is frozen at launch.",
        }
    ]
    # Sending a frozen setting back unchanged is no attempt to change it; the name, the dates
    # and the reminders may still change, as in the HR app.
    renamed = client.patch(
        f"/api/v1/campaigns/{pk}",
        {"min_group_size": 5, "name": "Spring pulse (extended)", "closes_at": _when(28)},
        format="json",
    )
    assert renamed.status_code == 200, renamed.content
    again = _errors(client.post(f"/api/v1/campaigns/{pk}/launch"), 409)
    assert again == [
        {
            "field": "status",
            "detail": "Campaign 'Spring pulse (extended)' was already launched (it is open).",
        }
    ]

    assert client.post(f"/api/v1/campaigns/{pk}/close").status_code == 200
    closed = _errors(client.patch(f"/api/v1/campaigns/{pk}", {"name": "x"}, format="json"), 409)
    assert closed == [
        {"field": "status", "detail": "Campaign 'Spring pulse (extended)' is closed."}
    ]
    reopened = _errors(client.post(f"/api/v1/campaigns/{pk}/close"), 409)
    assert "a closed campaign never reopens" in reopened[0]["detail"]
    assert _errors(client.post(f"/api/v1/campaigns/{pk}/remind"), 409)[0]["field"] == "status"
    retry = _errors(client.post(f"/api/v1/campaigns/{pk}/retry-deliveries"), 409)
    assert retry == [
        {
            "field": "status",
            "detail": "Campaign 'Spring pulse (extended)' is closed: only an open campaign sends.",
        }
    ]
    assert Campaign.objects.get(pk=pk).min_group_size == 5
    steps = (AuditAction.CAMPAIGN_LAUNCHED, AuditAction.CAMPAIGN_CLOSED)
    done = AuditEntry.objects.filter(action__in=steps).order_by("pk")
    assert [e.action for e in done] == list(steps)  # only the launch and the close that happened


def test_a_launch_is_refused_with_what_stops_it(org):
    client = _key(org, ApiScope.CAMPAIGNS_WRITE)
    empty = client.post("/api/v1/campaigns", _draft(target_departments=["D-FIN"]), format="json")
    pk = empty.json()["id"]
    refused = _errors(client.post(f"/api/v1/campaigns/{pk}/launch"))
    assert refused == [
        {"field": "target_departments", "detail": "No active employees in Finance or below."}
    ]
    draft = client.post("/api/v1/campaigns", _draft(), format="json").json()["id"]
    close = _errors(client.post(f"/api/v1/campaigns/{draft}/close"), 409)
    assert close[0]["detail"].startswith("Campaign 'Spring pulse' cannot move from draft to closed")
    assert Campaign.objects.get(pk=pk).status == CampaignStatus.DRAFT
    assert not Invitation.objects.exists()
    written = AuditEntry.objects.exclude(action=AuditAction.API_KEY_CREATED)
    assert {e.action for e in written} == {AuditAction.CAMPAIGN_CREATED}


def test_a_signed_in_analyst_writes_under_their_own_name(org):
    api = APIClient()
    user = sign_in_as(api, org, "analyst")
    created = api.post("/api/v1/campaigns", _draft(), format="json")
    assert created.status_code == 201, created.content
    entry = AuditEntry.objects.get(action=AuditAction.CAMPAIGN_CREATED)
    assert entry.actor == user and entry.actor_label == user.email


def test_another_organisations_campaigns_and_departments_are_not_found(org, core_instrument):
    theirs = _key(OrganizationFactory(), ApiScope.CAMPAIGNS_WRITE)
    mine = _key(org, ApiScope.CAMPAIGNS_WRITE)
    pk = mine.post("/api/v1/campaigns", _draft(), format="json").json()["id"]
    for method, url in (
        ("patch", f"/api/v1/campaigns/{pk}"),
        ("post", f"/api/v1/campaigns/{pk}/launch"),
        ("post", f"/api/v1/campaigns/{pk}/close"),
        ("post", f"/api/v1/campaigns/{pk}/remind"),
        ("post", f"/api/v1/campaigns/{pk}/retry-deliveries"),
    ):
        response = getattr(theirs, method)(url, {"name": "Taken over"}, format="json")
        assert _problem(response, 404)["type"].endswith("/not-found"), url
    # Their key cannot name our departments either.
    refused = _errors(theirs.post("/api/v1/campaigns", _draft(), format="json"))
    assert refused[0]["field"] == "target_departments[0]"
    assert Campaign.objects.get(pk=pk).status == CampaignStatus.DRAFT


def test_a_read_only_key_and_a_manager_cannot_run_campaigns(org):
    reader = _key(org, ApiScope.CAMPAIGNS_READ, ApiScope.RESULTS_READ, ApiScope.REPORTS_READ)
    refused = reader.post("/api/v1/campaigns", _draft(), format="json")
    assert _problem(refused, 403)["detail"].endswith("one of campaigns:write.")
    night = Department.objects.get(external_id="D-NIGHT")
    manager = APIClient()
    sign_in_as(manager, org, "manager", scope=night)
    assert manager.post("/api/v1/campaigns", _draft(), format="json").status_code == 403
    assert not Campaign.objects.exists()


def test_the_campaign_list_costs_the_same_queries_for_one_campaign_or_ten(org):
    client = _key(org, ApiScope.CAMPAIGNS_WRITE)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/campaigns").status_code == 200
        return len(captured)

    assert client.post("/api/v1/campaigns", _draft(), format="json").status_code == 201
    one = queries()
    for n in range(9):
        body = _draft(name=f"Pulse {n}", target_departments=["D-OPS", "D-FIN"])
        assert client.post("/api/v1/campaigns", body, format="json").status_code == 201
    assert queries() == one


def test_a_services_refusal_reads_as_field_paths_of_the_api():
    refusal = ValidationError(
        {
            "domain_code": "'x' is not a domain of %(instrument)s.",
            NON_FIELD_ERRORS: ["Nothing can be made."],
        }
    )
    refusal.error_dict["domain_code"][0].params = {"instrument": "plimsoll-core v1"}
    assert service_field_errors(refusal, {"domain_code": "domain"}) == [
        {"field": "domain", "detail": "'x' is not a domain of plimsoll-core v1."},
        {"field": "", "detail": "Nothing can be made."},
    ]
    plain = ValidationError(["One thing.", "Another."])
    assert service_field_errors(plain, {}) == [
        {"field": "", "detail": "One thing."},
        {"field": "", "detail": "Another."},
    ]
