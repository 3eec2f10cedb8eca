"""Sync runs through the API: JSON or a file, full or delta, dry run; checked by the import
service, every bad row named by its path with nothing applied; the brake stops a run until an
admin approves it in the HR app; launched campaigns keep their snapshot; events in the outbox."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import (
    ApiScope,
    AuditAction,
    AuditEntry,
    Department,
    Employee,
    EventType,
    OutboxEvent,
    SyncRun,
)
from accounts.services import api_key_create
from accounts.sync import sync_run_execute, sync_runs_sweep
from tests.accounts.test_directory_import import csv_bytes, dep, emp, snapshot
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/directory/sync-runs"


@pytest.fixture
def hris():
    organization = OrganizationFactory(name="Harbourside", slug="harbourside")
    _, raw = api_key_create(
        organization=organization,
        name="HRIS",
        scopes=[ApiScope.DIRECTORY_READ, ApiScope.DIRECTORY_WRITE],
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return organization, client


def _staff(count: int, *, department="D-OPS", offset=0) -> list[dict]:
    return [
        {
            "external_id": f"E-{n}",
            "email": f"e{n}@harbour.test",
            "department_external_id": department,
            "attributes": {"site": "north"},
        }
        for n in range(offset, offset + count)
    ]


TREE = [
    {"external_id": "D-OPS", "name": "Operations"},
    {"external_id": "D-NORTH", "name": "Warehouse North", "parent_external_id": "D-OPS"},
]


def _send(client, capture, body, **extra):
    with capture(execute=True):
        response = client.post(URL, body, **extra)
    assert response.status_code == 202, response.content
    return client.get(response["Location"]).json()


def test_a_full_sync_is_accepted_then_applied_with_its_diff(
    hris, django_capture_on_commit_callbacks
):
    organization, client = hris
    body = {"mode": "full", "departments": TREE, "employees": _staff(30)}
    with django_capture_on_commit_callbacks(execute=True):
        accepted = client.post(URL, body, format="json")
    assert accepted.status_code == 202
    assert accepted.json()["status"] == "queued"  # the answer comes before the work
    run = client.get(accepted["Location"]).json()
    assert run["status"] == "applied", run
    assert run["summary"]["applied"]["employees_created"] == 30
    assert run["summary"]["applied"]["departments_created"] == 2
    assert len(run["changes"]["employees_created"]) == 30 and run["errors"] == []
    assert Employee.objects.for_organization(organization).count() == 30
    north = Department.objects.get(external_id="D-NORTH")
    assert north.parent.external_id == "D-OPS"

    again = _send(client, django_capture_on_commit_callbacks, body, format="json")
    assert again["status"] == "applied"
    assert not any(again["changes"].values())  # the same rows again change nothing

    moved = _staff(30)
    moved[3]["department_external_id"] = "D-NORTH"
    moved[4]["email"] = "new4@harbour.test"
    third = _send(
        client, django_capture_on_commit_callbacks,
        {"mode": "full", "departments": TREE, "employees": moved[:-1]}, format="json",
    )  # fmt: skip
    assert [c["external_id"] for c in third["changes"]["employees_moved"]] == ["E-3"]
    assert third["changes"]["email_changes"] == [
        {"row": 5, "external_id": "E-4", "old_email": "e4@harbour.test",
         "new_email": "new4@harbour.test"},
    ]  # fmt: skip
    assert third["changes"]["employees_deactivated"] == [
        {"row": None, "external_id": "E-29", "reason": "not in the file"}
    ]
    assert not Employee.objects.get(external_id="E-29").is_active
    types = list(OutboxEvent.objects.values_list("type", flat=True))
    assert types == [EventType.SYNC_COMPLETED] * 3
    assert AuditEntry.objects.filter(
        action=AuditAction.SYNC_REQUESTED, actor_label="API key HRIS"
    ).count() == 3  # fmt: skip


def test_every_bad_row_is_named_by_its_path_and_nothing_is_applied(
    hris, django_capture_on_commit_callbacks
):
    organization, client = hris
    _send(
        client, django_capture_on_commit_callbacks,
        {"mode": "full", "departments": TREE, "employees": _staff(5)}, format="json",
    )  # fmt: skip
    before = snapshot(organization)
    departments = [
        {"external_id": "D-X", "name": "", "parent_external_id": "NOPE"},
        {"external_id": "D-A", "name": "A", "parent_external_id": "D-B"},
        {"external_id": "D-B", "name": "B", "parent_external_id": "D-A"},
    ]
    employees = [
        *_staff(5),
        {"external_id": "E-90", "email": "not-an-email", "department_external_id": "D-OPS"},
        {"external_id": "E-91", "email": "e91@x.test", "department_external_id": "D-OPS",
         "language": "fr"},
        {"external_id": "E-92", "email": "e92@x.test", "department_external_id": "D-404"},
        {"external_id": "E-93", "email": "e93@x.test", "department_external_id": "D-OPS",
         "active": "maybe"},
        {"external_id": "E-94", "email": "e94@x.test", "department_external_id": "D-OPS",
         "attributes": {"site": "x" * 61}},
        {"external_id": "E-95", "email": "E0@harbour.test", "department_external_id": "D-OPS"},
        {"external_id": "E-96", "email": "e96@x.test"},
        {"external_id": "E-90", "email": "e90b@x.test", "department_external_id": "D-OPS"},
        {"external_id": "E-97", "email": "e97@x.test", "department_external_id": "D-OPS",
         "salary": "high"},
        "not an object",
    ]  # fmt: skip
    run = _send(
        client, django_capture_on_commit_callbacks,
        {"mode": "full", "departments": departments, "employees": employees}, format="json",
    )  # fmt: skip
    assert run["status"] == "failed"
    assert "nothing was applied" in run["failure"]
    assert run["changes"] == {}
    paths = {error["path"] for error in run["errors"]}
    assert paths == {
        "departments[0].name",
        "departments[0].parent_external_id",
        "departments[1].parent_external_id",
        "departments[2].parent_external_id",
        "employees[5].email",
        "employees[6].language",
        "employees[7].department_external_id",
        "employees[8].active",
        "employees[9].attributes.site",
        "employees[10].email",
        "employees[11].department_external_id",
        "employees[12].external_id",
        "employees[13].salary",
        "employees[14]",
    }, paths
    by_path = {error["path"]: error for error in run["errors"]}
    assert by_path["employees[5].email"]["index"] == 5
    assert by_path["employees[5].email"]["value"] == "not-an-email"
    assert "not a valid email address" in by_path["employees[5].email"]["detail"]
    assert "E-0" in by_path["employees[10].email"]["detail"]
    assert snapshot(organization) == before
    assert OutboxEvent.objects.filter(type=EventType.SYNC_FAILED).count() == 1
    assert SyncRun.objects.get(pk=run["id"]).payload == {}  # the rows are not kept


def test_a_csv_file_is_accepted_and_its_errors_name_the_file_row(
    hris, django_capture_on_commit_callbacks
):
    organization, client = hris
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = csv_bytes(
        [dep("D-OPS", "Operations"), emp("E-1", "e1@harbour.test", "D-OPS", site="north"),
         emp("E-2", "broken", "D-OPS")]
    )  # fmt: skip
    upload = SimpleUploadedFile("staff.csv", data, content_type="text/csv")
    run = _send(
        client, django_capture_on_commit_callbacks,
        {"mode": "full", "dry_run": "false", "file": upload}, format="multipart",
    )  # fmt: skip
    assert run["status"] == "failed"
    assert [(e["path"], e["row"], e["index"]) for e in run["errors"]] == [
        ("file[4].email", 4, None)
    ]
    upload = SimpleUploadedFile("staff.csv", data.replace(b"broken", b"e2@harbour.test"))
    run = _send(
        client, django_capture_on_commit_callbacks,
        {"mode": "full", "file": upload}, format="multipart",
    )  # fmt: skip
    assert run["status"] == "applied" and run["summary"]["format"] == "csv"
    assert Employee.objects.for_organization(organization).count() == 2


def test_a_dry_run_reports_and_applies_nothing(hris, django_capture_on_commit_callbacks):
    _organization, client = hris
    run = _send(
        client, django_capture_on_commit_callbacks,
        {"mode": "full", "dry_run": True, "departments": TREE, "employees": _staff(3)},
        format="json",
    )  # fmt: skip
    assert run["status"] == "planned" and run["dry_run"] is True
    assert len(run["changes"]["employees_created"]) == 3
    assert not Employee.objects.exists() and not Department.objects.exists()


def test_a_delta_never_deactivates_by_omission(hris, django_capture_on_commit_callbacks):
    _organization, client = hris
    _send(
        client, django_capture_on_commit_callbacks,
        {"mode": "full", "departments": TREE, "employees": _staff(10)}, format="json",
    )  # fmt: skip
    run = _send(
        client, django_capture_on_commit_callbacks,
        {"mode": "delta", "employees": _staff(1, department="D-NORTH")}, format="json",
    )  # fmt: skip
    assert run["status"] == "applied"
    assert run["changes"]["employees_deactivated"] == []
    assert Employee.objects.filter(is_active=True).count() == 10


def test_the_brake_waits_for_an_admin_who_approves_it_in_the_hr_app(
    hris, django_capture_on_commit_callbacks, client
):
    organization, api = hris
    _send(
        api, django_capture_on_commit_callbacks,
        {"mode": "full", "departments": TREE, "employees": _staff(10)}, format="json",
    )  # fmt: skip
    before = snapshot(organization)
    run = _send(
        api, django_capture_on_commit_callbacks,
        {"mode": "full", "departments": TREE, "employees": _staff(7)}, format="json",
    )  # fmt: skip
    assert run["status"] == "awaiting_approval"
    assert "deactivate 3 of 10 active employees" in run["reasons"][0]
    assert len(run["changes"]["employees_deactivated"]) == 3
    assert snapshot(organization) == before
    assert OutboxEvent.objects.filter(type=EventType.SYNC_AWAITING_APPROVAL).count() == 1

    admin = UserFactory()
    MembershipFactory(user=admin, organization=organization, role="admin")
    client.force_login(admin)
    home = client.get(reverse("web:org_home", kwargs={"org": organization.slug}))
    assert (
        f"Sync run {run['id']} from API key HRIS waits for your approval" in home.content.decode()
    )
    page = client.get(reverse("web:sync_run", kwargs={"org": organization.slug, "pk": run["id"]}))
    text = page.content.decode()
    assert "deactivate 3 of 10 active employees" in text and "E-9" in text
    decide = reverse("web:sync_run_decide", kwargs={"org": organization.slug, "pk": run["id"]})
    unconfirmed = client.post(decide, {"decision": "approve"}, follow=True)
    assert "Tick the box" in unconfirmed.content.decode()
    assert snapshot(organization) == before
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(decide, {"decision": "approve", "confirmed": "1"}, follow=True)
    assert "approved and applied" in done.content.decode()
    assert Employee.objects.filter(is_active=True).count() == 7
    stored = SyncRun.objects.get(pk=run["id"])
    assert stored.status == "applied" and stored.decided_by == admin and stored.payload == {}
    assert AuditEntry.objects.filter(action=AuditAction.SYNC_APPROVED, actor=admin).count() == 1
    again = client.post(decide, {"decision": "approve", "confirmed": "1"}, follow=True)
    assert "not awaiting approval" in again.content.decode()


def test_a_rejected_run_applies_nothing(hris, django_capture_on_commit_callbacks, client):
    organization, api = hris
    _send(
        api, django_capture_on_commit_callbacks,
        {"mode": "full", "departments": TREE, "employees": _staff(10)}, format="json",
    )  # fmt: skip
    run = _send(
        api, django_capture_on_commit_callbacks,
        {"mode": "full", "departments": TREE, "employees": _staff(2)}, format="json",
    )  # fmt: skip
    admin = UserFactory()
    MembershipFactory(user=admin, organization=organization, role="admin")
    client.force_login(admin)
    decide = reverse("web:sync_run_decide", kwargs={"org": organization.slug, "pk": run["id"]})
    client.post(decide, {"decision": "reject"})
    assert SyncRun.objects.get(pk=run["id"]).status == "rejected"
    assert Employee.objects.filter(is_active=True).count() == 10
    assert api.get(f"{URL}/{run['id']}").json()["status"] == "rejected"


def test_launched_campaigns_keep_their_snapshot(
    hris, django_capture_on_commit_callbacks, core_instrument
):
    from assessments.models import CampaignDepartment, Invitation
    from assessments.services import campaign_launch
    from tests.factories import CampaignFactory

    organization, client = hris
    _send(
        client, django_capture_on_commit_callbacks,
        {"mode": "full", "departments": TREE, "employees": _staff(12, department="D-NORTH")},
        format="json",
    )  # fmt: skip
    campaign = CampaignFactory(organization=organization, instrument=core_instrument)
    campaign.target_departments.set([Department.objects.get(external_id="D-OPS")])
    campaign_launch(campaign=campaign)

    def frozen():
        tree = CampaignDepartment.objects.filter(campaign=campaign).order_by("department_id")
        invitations = Invitation.objects.filter(campaign=campaign).order_by("pk")
        return (
            list(tree.values_list("department_id", "parent_id")),
            list(invitations.values_list("pk", "employee_id", "department_id")),
        )

    before = frozen()
    assert len(before[1]) == 12
    moved = _staff(12, department="D-NEW")
    run = _send(
        client, django_capture_on_commit_callbacks,
        {"mode": "full", "employees": moved[:10],
         "departments": [
             TREE[0], {"external_id": "D-NEW", "name": "New"},
             {"external_id": "D-NORTH", "name": "North", "parent_external_id": "D-NEW"},
         ]},
        format="json",
    )  # fmt: skip
    assert run["status"] == "applied", run
    assert len(run["changes"]["employees_moved"]) == 10
    assert len(run["changes"]["departments_moved"]) == 1
    assert frozen() == before  # the campaign counts people where they were at launch


def test_shape_errors_are_answered_at_once(hris):
    _, client = hris
    bad = client.post(
        URL, {"mode": "sometimes", "dry_run": "perhaps", "employees": {}}, format="json"
    )
    assert bad.status_code == 400
    fields = {error["field"] for error in bad.json()["errors"]}
    assert fields == {"mode", "dry_run", "employees"}
    empty = client.post(URL, {"mode": "full"}, format="json")
    assert empty.status_code == 400
    assert "would deactivate everyone" in empty.json()["errors"][0]["detail"]
    assert not SyncRun.objects.exists()


def test_a_run_is_applied_once_and_the_sweep_resends_lost_runs(
    hris, django_capture_on_commit_callbacks
):
    import datetime as dt

    from django.utils import timezone

    _organization, client = hris
    accepted = client.post(
        URL, {"mode": "full", "departments": TREE, "employees": _staff(4)}, format="json"
    )  # no commit hook ran: the hand-over to the worker was lost
    run = SyncRun.objects.get(pk=accepted.json()["id"])
    assert run.status == "queued"
    assert sync_runs_sweep() == []  # not stale yet
    later = timezone.now() + dt.timedelta(minutes=11)
    assert sync_runs_sweep(now=later) == [run.pk]  # sent again, and run eagerly here
    run.refresh_from_db()
    assert run.status == "applied"
    assert sync_run_execute(run_id=run.pk).status == "applied"  # a second delivery: no-op
    assert Employee.objects.count() == 4
    assert OutboxEvent.objects.filter(type=EventType.SYNC_COMPLETED).count() == 1
