"""Directory writes through the API: upserts keyed by HRIS id (idempotent, checked like an import
row, errors naming the field), DELETE deactivates and never deletes, `updated_since`, every
write audited under the key's name; body limits (413) and Idempotency-Key on POST."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiScope, AuditAction, AuditEntry, Department, Employee, SyncRun
from accounts.services import api_key_create, department_create
from api.models import IdempotentRequest
from tests.factories import EmployeeFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def harbour():
    organization = OrganizationFactory(name="Harbourside", slug="harbourside")
    ops = department_create(organization=organization, name="Operations")
    ops.external_id = "D-OPS"
    ops.save(update_fields=["external_id"])
    EmployeeFactory(
        organization=organization, department=ops, external_id="E-1", email="e1@harbour.test"
    )
    _key, raw = api_key_create(
        organization=organization,
        name="HRIS",
        scopes=[ApiScope.DIRECTORY_READ, ApiScope.DIRECTORY_WRITE],
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return organization, client


def _errors(response) -> dict[str, str]:
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    return {error["field"]: error["detail"] for error in response.json()["errors"]}


def test_a_department_upsert_creates_then_changes_nothing_then_renames_and_moves(harbour):
    _organization, client = harbour
    url = "/api/v1/directory/departments/D-NORTH"
    body = {"name": "Warehouse North", "parent_external_id": "D-OPS"}
    created = client.put(url, body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["parent_external_id"] == "D-OPS"
    assert created.json()["depth"] == 1
    again = client.put(url, body, format="json")
    assert again.status_code == 200 and again.json() == created.json()
    entries = AuditEntry.objects.filter(action=AuditAction.DIRECTORY_CHANGED)
    assert entries.count() == 1  # the second PUT changed nothing and recorded nothing
    assert entries.get().actor_label == "API key HRIS"
    assert entries.get().subject == "department D-NORTH"

    moved = client.put(url, {"name": "North", "parent_external_id": None}, format="json")
    assert moved.status_code == 200
    assert moved.json()["name"] == "North" and moved.json()["parent_external_id"] is None
    north = Department.objects.get(external_id="D-NORTH")
    assert north.path == f"/{north.pk}/" and north.depth == 0
    assert entries.count() == 2


def test_a_department_upsert_names_each_bad_field(harbour):
    _, client = harbour
    assert _errors(
        client.put(
            "/api/v1/directory/departments/D-X", {"name": "", "parent_external_id": "NOPE"},
            format="json",
        )
    ) == {
        "name": "a department needs a name",
        "parent_external_id": "unknown parent 'NOPE': no department has this external_id in "
        "the file or in the directory",
    }  # fmt: skip
    client.put("/api/v1/directory/departments/D-A", {"name": "A"}, format="json")
    client.put(
        "/api/v1/directory/departments/D-B", {"name": "B", "parent_external_id": "D-A"},
        format="json",
    )  # fmt: skip
    cycle = _errors(
        client.put(
            "/api/v1/directory/departments/D-A", {"name": "A", "parent_external_id": "D-B"},
            format="json",
        )
    )  # fmt: skip
    assert "cycle" in cycle["parent_external_id"]
    wrong_type = _errors(
        client.put("/api/v1/directory/departments/D-C", {"name": ["A"]}, format="json")
    )
    assert wrong_type == {"name": "expected text, a number or a boolean"}
    not_an_object = client.put("/api/v1/directory/departments/D-C", ["A"], format="json")
    assert not_an_object.status_code == 400
    assert not Department.objects.filter(external_id__in=["D-X", "D-C"]).exists()


def test_an_employee_upsert_checks_like_an_import_row(harbour):
    _organization, client = harbour
    url = "/api/v1/directory/employees/E-2"
    assert _errors(client.put(url, {"email": "not-an-email"}, format="json")) == {
        "email": "'not-an-email' is not a valid email address",
        "department_external_id": "a new employee needs a department_external_id",
    }
    assert set(
        _errors(
            client.put(
                url,
                {
                    "email": "E1@harbour.test",  # the address of active E-1
                    "department_external_id": "D-OPS",
                    "language": "fr",
                    "active": "maybe",
                    "attributes": {"site": "x" * 61},
                },
                format="json",
            )
        )
    ) == {"language", "active", "attributes.site"}
    taken = _errors(
        client.put(
            url, {"email": "E1@harbour.test", "department_external_id": "D-OPS"}, format="json"
        )
    )
    assert "already the address of active employee 'E-1'" in taken["email"]
    assert not Employee.objects.filter(external_id="E-2").exists()

    body = {
        "email": "e2@harbour.test",
        "department_external_id": "D-OPS",
        "language": "de",
        "attributes": {"site": "north"},
    }
    created = client.put(url, body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["attributes"] == {"site": "north"}
    assert created.json()["language"] == "de" and created.json()["active"] is True
    assert client.put(url, body, format="json").status_code == 200
    kept = client.put(url, {"email": "e2@harbour.test"}, format="json")  # the rest stays
    assert kept.json()["language"] == "de" and kept.json()["department_external_id"] == "D-OPS"
    assert AuditEntry.objects.filter(
        action=AuditAction.DIRECTORY_CHANGED, subject="employee E-2"
    ).count() == 1  # fmt: skip


def test_delete_deactivates_and_never_deletes(harbour):
    organization, client = harbour
    gone = client.delete("/api/v1/directory/employees/E-1")
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert Employee.objects.get(external_id="E-1").is_active is False
    assert client.delete("/api/v1/directory/employees/E-1").status_code == 200  # idempotent
    assert client.get("/api/v1/directory/employees/E-1").json()["active"] is False
    assert AuditEntry.objects.filter(subject="employee E-1").count() == 1

    EmployeeFactory(
        organization=organization, department=Department.objects.get(external_id="D-OPS")
    )
    busy = _errors(client.delete("/api/v1/directory/departments/D-OPS"))
    assert "active employees" in busy["is_active"]
    Employee.objects.for_organization(organization).update(is_active=False)
    closed = client.delete("/api/v1/directory/departments/D-OPS")
    assert closed.status_code == 200 and closed.json()["active"] is False
    assert Department.objects.filter(external_id="D-OPS").exists()
    assert client.delete("/api/v1/directory/departments/D-NONE").status_code == 404


def test_updated_since_lists_only_rows_changed_since(harbour):
    _organization, client = harbour
    Employee.objects.update(updated_at=timezone.now() - dt.timedelta(days=2))
    Department.objects.update(updated_at=timezone.now() - dt.timedelta(days=2))
    since = (timezone.now() - dt.timedelta(days=1)).isoformat()
    assert client.get("/api/v1/directory/employees", {"updated_since": since}).json()[
        "results"
    ] == []  # fmt: skip
    client.put(
        "/api/v1/directory/employees/E-1",
        {"email": "e1.new@harbour.test", "department_external_id": "D-OPS"},
        format="json",
    )
    changed = client.get("/api/v1/directory/employees", {"updated_since": since}).json()
    assert [row["external_id"] for row in changed["results"]] == ["E-1"]
    client.put(
        "/api/v1/directory/departments/D-SUB",
        {"name": "Sub", "parent_external_id": "D-OPS"},
        format="json",
    )
    departments = client.get("/api/v1/directory/departments", {"updated_since": since}).json()
    assert [row["external_id"] for row in departments["results"]] == ["D-SUB"]
    # A move changes the depth of the whole moved subtree: all of it is listed as changed.
    client.put("/api/v1/directory/departments/D-TOP", {"name": "Top"}, format="json")
    Department.objects.update(updated_at=timezone.now() - dt.timedelta(days=2))
    moved = client.put(
        "/api/v1/directory/departments/D-OPS",
        {"name": "Operations", "parent_external_id": "D-TOP"},
        format="json",
    )
    assert moved.status_code == 200 and moved.json()["depth"] == 1
    departments = client.get("/api/v1/directory/departments", {"updated_since": since}).json()
    assert sorted(row["external_id"] for row in departments["results"]) == ["D-OPS", "D-SUB"]
    bad = client.get("/api/v1/directory/employees", {"updated_since": "last tuesday"})
    assert _errors(bad) == {
        "updated_since": "'last tuesday' is not a date and time such as 2026-11-30T08:00:00Z."
    }
    naive = client.get("/api/v1/directory/employees", {"updated_since": "2000-01-01T00:00:00"})
    assert len(naive.json()["results"]) == 1


def test_a_body_over_the_limit_gets_413_and_the_sync_endpoint_alone_takes_more(harbour, settings):
    _, client = harbour
    settings.API_MAX_BODY_BYTES = 1_000
    settings.DIRECTORY_SYNC_MAX_BYTES = 50_000
    big = {"email": "e9@harbour.test", "department_external_id": "D-OPS", "pad": "x" * 2_000}
    refused = client.put("/api/v1/directory/employees/E-9", big, format="json")
    assert refused.status_code == 413
    assert refused["Content-Type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/too-large")
    assert "at most 1,000" in refused.json()["detail"]
    rows = [{"external_id": f"D-{n}", "name": f"Team {n}"} for n in range(100)]
    accepted = client.post(
        "/api/v1/directory/sync-runs",
        {"mode": "delta", "dry_run": True, "departments": rows},
        format="json",
    )
    assert accepted.status_code == 202, accepted.content
    rows = [{"external_id": f"D-{n}", "name": "x" * 100} for n in range(1_000)]
    too_big = client.post(
        "/api/v1/directory/sync-runs", {"mode": "delta", "departments": rows}, format="json"
    )
    assert too_big.status_code == 413
    assert SyncRun.objects.count() == 1


def test_an_idempotency_key_answers_the_same_request_once(harbour):
    _, client = harbour
    body = {"mode": "delta", "dry_run": True, "departments": [{"external_id": "D-R", "name": "R"}]}
    first = client.post(
        "/api/v1/directory/sync-runs", body, format="json", HTTP_IDEMPOTENCY_KEY="sync-0001"
    )
    again = client.post(
        "/api/v1/directory/sync-runs", body, format="json", HTTP_IDEMPOTENCY_KEY="sync-0001"
    )
    assert first.status_code == again.status_code == 202
    assert json.loads(again.content) == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"]
    assert SyncRun.objects.count() == 1
    other = client.post(
        "/api/v1/directory/sync-runs", {**body, "dry_run": False}, format="json",
        HTTP_IDEMPOTENCY_KEY="sync-0001",
    )  # fmt: skip
    assert other.status_code == 422
    assert other.json()["type"].endswith("/unprocessable")
    assert SyncRun.objects.count() == 1
    fresh = client.post(
        "/api/v1/directory/sync-runs", body, format="json", HTTP_IDEMPOTENCY_KEY="sync-0002"
    )
    assert fresh.status_code == 202 and SyncRun.objects.count() == 2


def test_idempotency_keys_belong_to_their_sender_and_expire(harbour, settings):
    organization, client = harbour
    _, raw = api_key_create(
        organization=organization, name="Other script", scopes=[ApiScope.DIRECTORY_WRITE]
    )
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    body = {"mode": "delta", "dry_run": True, "departments": [{"external_id": "D-R", "name": "R"}]}
    for sender in (client, other):
        answer = sender.post(
            "/api/v1/directory/sync-runs", body, format="json", HTTP_IDEMPOTENCY_KEY="same"
        )
        assert answer.status_code == 202 and "Idempotent-Replayed" not in answer
    assert SyncRun.objects.count() == 2
    IdempotentRequest.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    later = client.post(
        "/api/v1/directory/sync-runs", body, format="json", HTTP_IDEMPOTENCY_KEY="same"
    )
    assert later.status_code == 202 and "Idempotent-Replayed" not in later
    assert SyncRun.objects.count() == 3
    # A refusal for want of a key or scope is not kept: the retry with a good key runs.
    no_scope = APIClient()
    _, read_only = api_key_create(
        organization=organization, name="Reader", scopes=[ApiScope.DIRECTORY_READ]
    )
    no_scope.credentials(HTTP_AUTHORIZATION=f"Api-Key {read_only}")
    assert no_scope.post(
        "/api/v1/directory/sync-runs", body, format="json", HTTP_IDEMPOTENCY_KEY="k"
    ).status_code == 403  # fmt: skip
    assert not IdempotentRequest.objects.filter(key="k").exists()
    long_key = client.post(
        "/api/v1/directory/sync-runs", body, format="json", HTTP_IDEMPOTENCY_KEY="k" * 300
    )
    assert long_key.status_code == 400


def test_an_id_with_surrounding_space_is_kept_as_the_import_keeps_it(harbour):
    # Found by Schemathesis: the import strips values, so the upsert must look the row up by
    # the stripped id too (it answered 500).
    _, client = harbour
    created = client.put(
        "/api/v1/directory/departments/%0BD-PAD%20", {"name": "Pad"}, format="json"
    )
    assert created.status_code == 201 and created.json()["external_id"] == "D-PAD"
    assert client.get("/api/v1/directory/departments/D-PAD").status_code == 200


def test_nul_characters_and_far_offsets_are_bad_input_not_server_errors(harbour):
    # Found by Schemathesis on PostgreSQL, which stores neither NUL characters nor offsets
    # beyond ±15:59.
    _, client = harbour
    body = '{"mode": "delta", "departments": [{"external_id": "D-\\u0000", "name": "x"}]}'
    nul = client.post("/api/v1/directory/sync-runs", body, content_type="application/json")
    assert nul.status_code == 400 and "NUL" in nul.json()["detail"]
    assert not SyncRun.objects.exists()
    assert client.get("/api/v1/directory/departments/D%00").status_code == 400
    assert client.get("/api/v1/directory/employees", {"active": "\x00"}).status_code == 400
    far = client.get(
        "/api/v1/directory/departments", {"updated_since": "4096-04-04T06:18:01-17:00"}
    )
    assert far.status_code == 200 and far.json()["results"] == []


def test_a_signed_in_admin_s_write_is_recorded_under_their_account(harbour):
    from tests.factories import MembershipFactory, UserFactory

    organization, _ = harbour
    admin = UserFactory()
    MembershipFactory(user=admin, organization=organization, role="admin")
    client = APIClient()
    client.force_login(admin)
    made = client.put("/api/v1/directory/departments/D-S", {"name": "Stores"}, format="json")
    assert made.status_code == 201, made.content
    entry = AuditEntry.objects.get(action=AuditAction.DIRECTORY_CHANGED, subject="department D-S")
    assert entry.actor == admin and entry.actor_label == admin.email
