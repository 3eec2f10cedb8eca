"""Action plans through the API: the list with the HR actions page's filters, cursor-paginated;
create and update with the same rules as the HR app (a launched campaign, a domain of its
questionnaire, campaign, department and domain fixed once made; a manager in their own
subtree only); each write in the audit trail under the key's name."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import ApiScope, AuditAction, AuditEntry
from reports.models import Action, ActionStatus
from tests.api.conftest import key_client
from tests.factories import ActionFactory, CampaignFactory, OrganizationFactory
from tests.reports.report_fixtures import (
    OUTSIDE_ACTION,
    OVERDUE_ACTION,
    PLANNED_ACTION,
)
from tests.web.people import sign_in_as

pytestmark = pytest.mark.django_db


def _key(organization, *scopes) -> APIClient:
    return key_client(organization, *scopes, name="Plans")


def _titles(client, **params) -> list[str]:
    response = client.get("/api/v1/actions", params)
    assert response.status_code == 200, response.content
    return sorted(row["title"] for row in response.json()["results"])


def _errors(response, status: int = 400) -> list[dict]:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    return response.json()["errors"]


def _new(scored, **overrides) -> dict:
    return {
        "campaign": scored.campaign.pk,
        "department": "Q-lighthouse",
        "domain": "control",
        "title": "Let the crew plan its own rota",
        "owner": "Head of quay operations",
        "due_date": "2031-09-30",
        **overrides,
    }


def test_the_list_filters_like_the_actions_page(scored):
    client = _key(scored.organization, ApiScope.RESULTS_READ)
    everything = [OUTSIDE_ACTION, OVERDUE_ACTION, PLANNED_ACTION]
    assert _titles(client) == sorted(everything)
    assert _titles(client, campaign=scored.campaign.pk) == sorted(everything)
    assert _titles(client, department="Q-quayside") == sorted([OVERDUE_ACTION, PLANNED_ACTION])
    assert _titles(client, domain="demands") == sorted([OVERDUE_ACTION, OUTSIDE_ACTION])
    assert _titles(client, status="in_progress") == [OVERDUE_ACTION]
    assert _titles(client, overdue="true") == sorted([OVERDUE_ACTION, OUTSIDE_ACTION])
    assert _titles(client, overdue="false") == [PLANNED_ACTION]
    row = client.get("/api/v1/actions", {"status": "in_progress"}).json()["results"][0]
    assert row["department_external_id"] == "Q-lighthouse"
    assert row["department"] == "Lighthouse Crew" and row["domain"] == "demands"
    assert row["campaign"] == scored.campaign.pk and row["owner"] == "Head of quay operations"

    seen, url, params = [], "/api/v1/actions", {"page_size": 1}
    while url:
        page = client.get(url, params).json()
        assert len(page["results"]) <= 1
        seen += [r["title"] for r in page["results"]]
        url, params = page["next"], None
    assert sorted(seen) == sorted(everything)

    statuses = "planned, in_progress, done, cancelled"
    cases = [
        ({"status": "someday"}, "status", f"'someday' is not one of {statuses}."),
        ({"department": "Q-atlantis"}, "department", "No department with HRIS id 'Q-atlantis'."),
        ({"campaign": "999"}, "campaign", "No campaign with id '999'."),
        ({"overdue": "maybe"}, "overdue", "'maybe' is not true or false."),
    ]
    for params, field, detail in cases:
        response = client.get("/api/v1/actions", params)
        assert _errors(response) == [{"field": field, "detail": detail}], params


def test_an_action_is_created_and_updated_with_one_audit_entry_each(scored):
    client = _key(scored.organization, ApiScope.CAMPAIGNS_WRITE)
    created = client.post("/api/v1/actions", _new(scored), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert created["Location"].endswith(f"/api/v1/actions/{body['id']}")
    assert body["status"] == "planned" and body["due_date"] == "2031-09-30"
    action = Action.objects.get(pk=body["id"])
    assert action.department == scored.departments["lighthouse"]
    assert action.domain_code == "control"
    assert client.get(f"/api/v1/actions/{action.pk}").json() == body

    changed = client.patch(
        f"/api/v1/actions/{action.pk}",
        # Its campaign, department and domain may be sent back as they are.
        {"status": "in_progress", "owner": "  Shift lead ", "domain": "control"},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["status"] == "in_progress" and changed.json()["owner"] == "Shift lead"
    assert changed.json()["title"] == "Let the crew plan its own rota"

    entries = AuditEntry.objects.filter(
        action__in=(AuditAction.ACTION_CREATED, AuditAction.ACTION_UPDATED)
    ).order_by("pk")
    assert [e.action for e in entries] == [AuditAction.ACTION_CREATED, AuditAction.ACTION_UPDATED]
    for entry in entries:
        assert entry.actor is None and entry.actor_label == "API key Plans"
        assert entry.subject == f"action {action.pk}: Let the crew plan its own rota"
        assert entry.detail == {"department": "Lighthouse Crew", "domain": "control"}


def test_refusals_name_the_field(scored, core_instrument):
    client = _key(scored.organization, ApiScope.CAMPAIGNS_WRITE)
    draft = CampaignFactory(organization=scored.organization, instrument=core_instrument)
    statuses = "planned, in_progress, done, cancelled"
    cases = [
        ({"domain": "weather"}, "domain", "'weather' is not a domain of plimsoll-core v1; "),
        ({"title": "  "}, "title", "An action needs a title."),
        ({"owner": ""}, "owner", "Name who carries the action out."),
        ({"status": "someday"}, "status", f"Unknown status 'someday'; choose one of {statuses}."),
        ({"department": "Q-atlantis"}, "department", "No department with HRIS id 'Q-atlantis'."),
        (
            {"campaign": draft.pk},
            "campaign",
            f"No launched campaign with id '{draft.pk}' here (a draft has no actions).",
        ),
        ({"due_date": "soon"}, "due_date", "Date has wrong format."),
    ]
    for overrides, field, detail in cases:
        errors = _errors(client.post("/api/v1/actions", _new(scored, **overrides), format="json"))
        assert [e["field"] for e in errors] == [field], overrides
        assert errors[0]["detail"].startswith(detail), errors
    assert Action.objects.count() == 3

    planned = scored.actions["planned"]
    url = f"/api/v1/actions/{planned.pk}"
    fixed = _errors(
        client.patch(url, {"domain": "control", "department": "Q-beacon"}, format="json")
    )
    stays = "Fixed once the action exists: record a new action instead."
    assert fixed == [
        {"field": "department", "detail": stays},
        {"field": "domain", "detail": stays},
    ]
    status = _errors(client.patch(url, {"status": "someday"}, format="json"))
    assert status[0]["field"] == "status"
    blank = _errors(client.patch(url, {"title": ""}, format="json"))
    assert blank == [{"field": "title", "detail": "An action needs a title."}]
    planned.refresh_from_db()
    assert planned.status == ActionStatus.PLANNED and planned.title == PLANNED_ACTION
    written = (AuditAction.ACTION_CREATED, AuditAction.ACTION_UPDATED)
    assert not AuditEntry.objects.filter(action__in=written).exists()


def test_a_manager_keeps_the_plans_of_their_subtree_only(scored):
    client = APIClient()
    sign_in_as(client, scored.organization, "manager", scored.departments["quayside"])
    assert _titles(client) == sorted([OVERDUE_ACTION, PLANNED_ACTION])
    outside = scored.actions["outside"]
    assert client.get(f"/api/v1/actions/{outside.pk}").status_code == 404
    refused = client.patch(f"/api/v1/actions/{outside.pk}", {"status": "done"}, format="json")
    assert refused.status_code == 404
    beacon = client.post("/api/v1/actions", _new(scored, department="Q-beacon"), format="json")
    assert _errors(beacon) == [
        {"field": "department", "detail": "No department with HRIS id 'Q-beacon'."}
    ]
    mine = client.post("/api/v1/actions", _new(scored), format="json")
    assert mine.status_code == 201, mine.content
    done = client.patch(
        f"/api/v1/actions/{scored.actions['planned'].pk}", {"status": "done"}, format="json"
    )
    assert done.status_code == 200 and done.json()["status"] == "done"
    outside.refresh_from_db()
    assert outside.status == ActionStatus.PLANNED
    entry = AuditEntry.objects.get(action=AuditAction.ACTION_CREATED)
    assert entry.actor is not None and entry.actor_label == entry.actor.email


def test_viewers_and_results_keys_read_but_do_not_write(scored):
    reader = _key(scored.organization, ApiScope.RESULTS_READ)
    planned = scored.actions["planned"]
    assert reader.get(f"/api/v1/actions/{planned.pk}").status_code == 200
    assert reader.post("/api/v1/actions", _new(scored), format="json").status_code == 403
    viewer = APIClient()
    sign_in_as(viewer, scored.organization, "viewer")
    assert len(_titles(viewer)) == 3
    refused = viewer.patch(f"/api/v1/actions/{planned.pk}", {"status": "done"}, format="json")
    assert refused.status_code == 403
    theirs = _key(OrganizationFactory(), ApiScope.CAMPAIGNS_WRITE)
    assert theirs.get(f"/api/v1/actions/{planned.pk}").status_code == 404
    assert theirs.get("/api/v1/actions").json()["results"] == []
    assert _errors(theirs.post("/api/v1/actions", _new(scored), format="json"))[0]["field"] == (
        "campaign"
    )


def test_the_list_costs_the_same_queries_for_three_actions_or_thirty(scored):
    client = _key(scored.organization, ApiScope.RESULTS_READ)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/actions").status_code == 200
        return len(captured)

    few = queries()
    for n in range(27):
        ActionFactory(
            organization=scored.organization,
            campaign=scored.campaign,
            department=scored.departments["beacon" if n % 2 else "keel"],
        )
    assert queries() == few
