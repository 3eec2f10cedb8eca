"""Directory writes from an HRIS: one department or employee at a time (upserts keyed by the
HRIS id) and sync runs (many rows at once, full or delta, dry run), all through the directory
import service (`accounts.directory`), so the API checks rows exactly as the HR app's import.

A sync run is a row first (QUEUED, with its rows), checked and applied by a Celery task after
commit; a beat sweep re-enqueues runs whose hand-over or worker was lost. The task takes the
organisation's tree lock before planning, so two runs of one organisation go one after the other,
and marks the run applied in the transaction that writes the directory, so a run cut off by a
dying worker is redone from the start and applied once. A run whose plan trips the brake (mass
deactivation, many changed addresses) waits for an admin's approval in the HR app.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.directory import (
    CHANGE_KEYS,
    ImportPlan,
    ImportResult,
    RowError,
    directory_import_plan,
    directory_plan_write,
)
from accounts.models import (
    SYNC_RUN_PENDING,
    ApiKey,
    AuditAction,
    Department,
    Employee,
    EventType,
    Organization,
    SyncRun,
    SyncRunStatus,
    User,
)
from accounts.services import _lock_tree, audit_record, department_deactivate, event_record

logger = logging.getLogger(__name__)

# A run still queued or running this long after it was last handed over was lost on the way:
# the broker was down, or the worker died without the message coming back.
STALE_RUN = dt.timedelta(minutes=10)


# --- one row at a time ---------------------------------------------------------------------


@dataclass(frozen=True)
class Upsert:
    """What an upsert did: the row as it is now, and whether it was created."""

    row: Department | Employee
    created: bool


class RowsInvalid(ValidationError):
    """The rows do not fit the directory; `errors` says where (RowError, one per cell)."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(str(error) for error in errors))
        self.row_errors = errors


def _upsert(
    *, organization: Organization, kind: str, row: dict[str, Any], actor: User | None,
    actor_label: str,
) -> Upsert:  # fmt: skip
    _lock_tree(organization.pk)
    # The id as the import keeps it (stripped), so the row is found again below.
    row = {**row, "external_id": str(row["external_id"]).strip()}
    departments, employees = ([row], []) if kind == "department" else ([], [row])
    plan = directory_import_plan(
        organization=organization, departments=departments, employees=employees, mode="delta"
    )
    if plan.errors:
        raise RowsInvalid(plan.errors)
    model = Department if kind == "department" else Employee
    existed = model.objects.for_organization(organization).filter(external_id=row["external_id"])
    created = not existed.exists()
    if plan.has_changes:
        directory_plan_write(organization=organization, plan=plan)
        audit_record(
            organization=organization,
            actor=actor,
            actor_label=actor_label,
            action=AuditAction.DIRECTORY_CHANGED,
            subject=f"{kind} {row['external_id']}",
            detail={"change": "created" if created else "updated"},
        )
    return Upsert(
        row=existed.get(),
        created=created,
    )


@transaction.atomic
def department_upsert(
    *, organization: Organization, external_id: str, name: Any, parent_external_id: Any,
    actor: User | None = None, actor_label: str = "",
) -> Upsert:  # fmt: skip
    """Create or update the department with this HRIS id: its name and its parent (another
    HRIS id; empty or None = the top of the tree). Sending the same body twice changes nothing
    the second time. Raises RowsInvalid naming each bad field."""
    row = {"external_id": external_id, "name": name, "parent_external_id": parent_external_id}
    return _upsert(
        organization=organization, kind="department", row=row, actor=actor, actor_label=actor_label
    )


@transaction.atomic
def employee_upsert(
    *,
    organization: Organization,
    external_id: str,
    fields: dict[str, Any],
    actor: User | None = None,
    actor_label: str = "",
) -> Upsert:
    """Create or update the employee with this HRIS id from the import's employee columns
    (email, department_external_id, language, active, attributes); a field left out keeps its
    value (a new employee needs an email and a department). Raises RowsInvalid."""
    row = {**fields, "external_id": external_id}
    return _upsert(
        organization=organization, kind="employee", row=row, actor=actor, actor_label=actor_label
    )


@transaction.atomic
def employee_deactivate(
    *, employee: Employee, actor: User | None = None, actor_label: str = ""
) -> Employee:
    """Mark an employee as gone (never deleted: past campaigns counted them). Idempotent."""
    _lock_tree(employee.organization_id)
    locked = Employee.objects.get(pk=employee.pk)
    if locked.is_active:
        locked.is_active = False
        locked.save(update_fields=["is_active"])
        audit_record(
            organization=locked.organization_id,
            actor=actor,
            actor_label=actor_label,
            action=AuditAction.DIRECTORY_CHANGED,
            subject=f"employee {locked.external_id}",
            detail={"change": "deactivated"},
        )
    return locked


@transaction.atomic
def department_retire(
    *, department: Department, actor: User | None = None, actor_label: str = ""
) -> Department:
    """Deactivate a department (never deleted): refused while active people or departments are
    in it, as in the HR app. Idempotent."""
    if not department.is_active:
        return department
    department = department_deactivate(department=department)
    audit_record(
        organization=department.organization_id,
        actor=actor,
        actor_label=actor_label,
        action=AuditAction.DIRECTORY_CHANGED,
        subject=f"department {department.external_id}",
        detail={"change": "deactivated"},
    )
    return department


# --- sync runs -----------------------------------------------------------------------------


def _enqueue(run_id: int) -> None:
    transaction.on_commit(lambda: _send_run(run_id))


def _send_run(run_id: int) -> None:
    from accounts.tasks import sync_run_execute as task  # tasks import this module

    try:
        task.delay(run_id)
    except Exception:  # noqa: BLE001 - the sweep re-enqueues a run left queued
        logger.warning("Could not enqueue sync run %s; the sweep will retry", run_id)


@transaction.atomic
def sync_run_request(
    *,
    organization: Organization,
    mode: str,
    dry_run: bool,
    departments: list,
    employees: list,
    source_rows: dict[str, list[int]] | None = None,
    file_errors: list[RowError] = (),
    data_format: str = "json",
    api_key: ApiKey | None = None,
    requested_by_label: str,
) -> SyncRun:
    """Keep a sync run's rows and hand it to a worker after commit."""
    if mode not in ("full", "delta"):
        raise ValidationError({"mode": f"Unknown mode '{mode}'; use 'full' or 'delta'."})
    run = SyncRun.objects.create(
        organization=organization,
        mode=mode,
        dry_run=dry_run,
        payload={
            "departments": departments,
            "employees": employees,
            "source_rows": source_rows or {},
            "file_errors": [error.__dict__ for error in file_errors],
        },
        summary={
            "format": data_format,
            "department_rows": len(departments),
            "employee_rows": len(employees),
        },
        api_key=api_key,
        requested_by_label=requested_by_label[:254],
    )
    audit_record(
        organization=organization,
        actor=None,
        actor_label=requested_by_label,
        action=AuditAction.SYNC_REQUESTED,
        subject=f"sync run {run.pk}",
        detail={"mode": mode, "dry_run": dry_run},
    )
    _enqueue(run.pk)
    return run


def _event(run: SyncRun, type_: str) -> None:
    event_record(
        organization=run.organization_id,
        type=type_,
        data={
            "sync_run": {
                "id": run.pk,
                "mode": run.mode,
                "dry_run": run.dry_run,
                "status": run.status,
            }
        },
    )


def _finish(run: SyncRun, plan: ImportPlan, status: str, *, keep_rows: bool = False) -> None:
    run.status = status
    run.summary = {"format": run.summary.get("format", "json"), **plan.summary()}
    # A run with bad rows changes nothing: its errors are the whole story.
    run.changes = {} if plan.errors else plan.changes
    run.errors = [error.__dict__ for error in plan.errors]
    run.reasons = plan.reasons
    run.finished_at = timezone.now()
    if not keep_rows:
        run.payload = {}
    run.save()


def sync_run_execute(*, run_id: int) -> SyncRun:
    """Check a queued run's rows and, unless it is a dry run, has bad rows or trips the brake,
    apply them: in one transaction under the tree lock, marked applied in it."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().get(pk=run_id)
        if run.status not in SYNC_RUN_PENDING:
            return run  # done already (a redelivered message, or the sweep's second send)
        run.status = SyncRunStatus.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at"])
    with transaction.atomic():
        # The tree lock first: two runs of one organisation plan and write one after the other.
        _lock_tree(run.organization_id)
        run = SyncRun.objects.select_for_update().get(pk=run_id)
        if run.status not in SYNC_RUN_PENDING:
            return run
        if settings.SYNC_TEST_DELAY_SECONDS:
            # Test hook: lets an integration test kill a worker while a run is in progress.
            time.sleep(settings.SYNC_TEST_DELAY_SECONDS)
        plan = _plan(run)
        if plan.errors:
            _finish(run, plan, SyncRunStatus.FAILED)
            run.failure = f"{len(plan.errors):,} row(s) do not fit; nothing was applied."
            run.save(update_fields=["failure"])
            _event(run, EventType.SYNC_FAILED)
        elif run.dry_run:
            _finish(run, plan, SyncRunStatus.PLANNED)
            _event(run, EventType.SYNC_COMPLETED)
        elif plan.needs_confirmation:
            _finish(run, plan, SyncRunStatus.AWAITING_APPROVAL, keep_rows=True)
            _event(run, EventType.SYNC_AWAITING_APPROVAL)
        else:
            result = directory_plan_write(organization=run.organization, plan=plan)
            _finish(run, plan, SyncRunStatus.APPLIED)
            run.summary = {**run.summary, "applied": _counts(result)}
            run.save(update_fields=["summary"])
            _event(run, EventType.SYNC_COMPLETED)
    return run


def _counts(result: ImportResult) -> dict[str, int]:
    return {key: getattr(result, key) for key in CHANGE_KEYS}


def _plan(run: SyncRun) -> ImportPlan:
    payload = run.payload
    return directory_import_plan(
        organization=run.organization,
        departments=payload.get("departments", []),
        employees=payload.get("employees", []),
        mode=run.mode,
        source_rows=payload.get("source_rows") or None,
        file_errors=[RowError(**error) for error in payload.get("file_errors", [])],
    )


@transaction.atomic
def sync_run_approve(*, run: SyncRun, user: User) -> SyncRun:
    """An admin's yes to a run the brake stopped: plan its rows again (the directory may have
    moved on) and apply them, brake confirmed. Refused when the rows no longer fit."""
    _lock_tree(run.organization_id)
    locked = SyncRun.objects.select_for_update().get(pk=run.pk)
    if locked.status != SyncRunStatus.AWAITING_APPROVAL:
        raise ValidationError(
            f"This sync run is {locked.get_status_display().lower()}, not awaiting approval."
        )
    plan = _plan(locked)
    locked.decided_by, locked.decided_at = user, timezone.now()
    if plan.errors:
        _finish(locked, plan, SyncRunStatus.FAILED)
        locked.failure = (
            "The directory changed since the run was checked, and its rows no longer fit; "
            "nothing was applied. Send the sync again."
        )
        locked.save(update_fields=["failure"])
        _event(locked, EventType.SYNC_FAILED)
    else:
        result = directory_plan_write(organization=locked.organization, plan=plan)
        _finish(locked, plan, SyncRunStatus.APPLIED)
        locked.summary = {**locked.summary, "applied": _counts(result)}
        locked.save()
        _event(locked, EventType.SYNC_COMPLETED)
    audit_record(
        organization=locked.organization_id,
        actor=user,
        action=AuditAction.SYNC_APPROVED,
        subject=f"sync run {locked.pk}",
        detail={"mode": locked.mode, "status": locked.status},
    )
    return locked


@transaction.atomic
def sync_run_reject(*, run: SyncRun, user: User) -> SyncRun:
    """An admin's no to a run the brake stopped: nothing is applied and its rows are dropped."""
    locked = SyncRun.objects.select_for_update().get(pk=run.pk)
    if locked.status != SyncRunStatus.AWAITING_APPROVAL:
        raise ValidationError(
            f"This sync run is {locked.get_status_display().lower()}, not awaiting approval."
        )
    locked.status = SyncRunStatus.REJECTED
    locked.decided_by, locked.decided_at = user, timezone.now()
    locked.payload = {}
    locked.failure = f"Rejected by {user.email}; nothing was applied."
    locked.save()
    audit_record(
        organization=locked.organization_id,
        actor=user,
        action=AuditAction.SYNC_REJECTED,
        subject=f"sync run {locked.pk}",
        detail={"mode": locked.mode},
    )
    _event(locked, EventType.SYNC_FAILED)
    return locked


def sync_runs_sweep(*, now: dt.datetime | None = None) -> list[int]:
    """Beat: hand over again the runs still queued or running long after they were sent."""
    now = now or timezone.now()
    stale = list(
        SyncRun.objects.filter(status__in=SYNC_RUN_PENDING, created_at__lt=now - STALE_RUN)
        .exclude(started_at__gte=now - STALE_RUN)
        .values_list("pk", flat=True)
    )
    for run_id in stale:
        _send_run(run_id)
    return stale
