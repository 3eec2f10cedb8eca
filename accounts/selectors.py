"""Reads of people and roles within an access (accounts.permissions)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from accounts.models import (
    ApiKey,
    AuditEntry,
    Department,
    DirectoryImport,
    Employee,
    Membership,
    SyncRun,
    SyncRunStatus,
)
from accounts.permissions import Access, NotVisible, Permission


def memberships(*, access: Access) -> QuerySet[Membership]:
    """Everyone with a role in the organisation, for those who manage users."""
    access.require(Permission.MANAGE_USERS)
    return (
        Membership.objects.for_organization(access.organization_id)
        .select_related("user", "scope_department")
        .order_by("user__email")
    )


def membership_for(*, access: Access, pk: int) -> Membership:
    found = memberships(access=access).filter(pk=pk).first()
    if found is None:
        raise NotVisible("No such member here.")
    return found


@dataclass(frozen=True)
class Headcount:
    department: Department
    direct: int  # active employees attached to this department itself
    subtree: int  # active employees here and in every department below


def department_headcounts(*, access: Access) -> list[Headcount]:
    """Every department of the organisation in tree order with its active headcount, directly
    and with everything below it. Two queries, whatever the size of the tree."""
    if not access.is_member:
        raise NotVisible("Nothing here belongs to an organisation you can see.")
    departments = list(Department.objects.for_organization(access.organization_id).order_by("path"))
    direct = dict(
        Employee.objects.for_organization(access.organization_id)
        .filter(is_active=True)
        .values("department_id")
        .annotate(count=Count("id"))
        .values_list("department_id", "count")
    )
    subtree = {d.pk: direct.get(d.pk, 0) for d in departments}
    for department in reversed(departments):  # children after parents in path order
        if department.parent_id in subtree:
            subtree[department.parent_id] += subtree[department.pk]
    return [Headcount(d, direct.get(d.pk, 0), subtree[d.pk]) for d in departments]


def employees(
    *,
    access: Access,
    search: str = "",
    department: Department | None = None,
    active: bool | None = True,
    attribute: str = "",
    value: str = "",
) -> QuerySet[Employee]:
    """The organisation's employees for those who manage the directory, filtered. Indexed
    lookups only, so it stays fast at 100,000 employees."""
    access.require(Permission.MANAGE_DIRECTORY)
    rows = Employee.objects.for_organization(access.organization_id).select_related("department")
    if search:
        term = search.strip()
        rows = rows.filter(Q(email__istartswith=term) | Q(external_id__istartswith=term))
    if department is not None:
        access.require_organization(department.organization_id)
        rows = rows.filter(department__path__startswith=department.path)
    if active is not None:
        rows = rows.filter(is_active=active)
    if attribute:
        rows = rows.filter(**{f"attributes__{attribute}": value})
    return rows.order_by("external_id")


def department_for(*, access: Access, pk: int) -> Department:
    access.require(Permission.MANAGE_DIRECTORY)
    found = Department.objects.visible_to(access).filter(pk=pk).first()
    if found is None:
        raise NotVisible("No such department here.")
    return found


def directory_imports(*, access: Access) -> QuerySet[DirectoryImport]:
    access.require(Permission.MANAGE_DIRECTORY)
    return (
        DirectoryImport.objects.for_organization(access.organization_id)
        .defer("plan")
        .select_related("created_by")
    )


def directory_import_for(*, access: Access, pk: int) -> DirectoryImport:
    access.require(Permission.MANAGE_DIRECTORY)
    found = DirectoryImport.objects.for_organization(access.organization_id).filter(pk=pk).first()
    if found is None:
        raise NotVisible("No such import here.")
    return found


def sync_runs(*, access: Access) -> QuerySet[SyncRun]:
    """The organisation's directory sync runs, newest first, without their rows."""
    access.require(Permission.MANAGE_DIRECTORY)
    return (
        SyncRun.objects.for_organization(access.organization_id)
        .defer("payload", "changes", "errors")
        .select_related("decided_by")
    )


def sync_runs_awaiting_approval(*, access: Access) -> QuerySet[SyncRun]:
    """Runs the brake stopped, for an admin's attention (none for who may not decide)."""
    if not access.can(Permission.MANAGE_DIRECTORY):
        return SyncRun.objects.none()
    return sync_runs(access=access).filter(status=SyncRunStatus.AWAITING_APPROVAL)


def sync_run_for(*, access: Access, pk: int) -> SyncRun:
    access.require(Permission.MANAGE_DIRECTORY)
    found = (
        SyncRun.objects.for_organization(access.organization_id)
        .defer("payload")
        .select_related("decided_by")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise NotVisible("No such sync run here.")
    return found


def audit_entries(*, access: Access) -> QuerySet[AuditEntry]:
    """The organisation's audit trail, newest first, for those who may read it."""
    access.require(Permission.VIEW_AUDIT)
    return AuditEntry.objects.for_organization(access.organization_id).order_by(
        "-created_at", "-id"
    )


def api_keys(*, access: Access) -> QuerySet[ApiKey]:
    """The organisation's API keys, newest first, for those who manage them."""
    access.require(Permission.MANAGE_API_KEYS)
    return (
        ApiKey.objects.for_organization(access.organization_id)
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )


def api_key_for(*, access: Access, pk: int) -> ApiKey:
    found = api_keys(access=access).filter(pk=pk).first()
    if found is None:
        raise NotVisible("No such API key here.")
    return found


def directory_departments(
    *, access: Access, active: bool | None = None, updated_since=None
) -> QuerySet[Department]:
    """The organisation's departments for the directory API (sync and read), by HRIS id."""
    access.require(Permission.VIEW_DIRECTORY)
    rows = Department.objects.visible_to(access).select_related("parent")
    if active is not None:
        rows = rows.filter(is_active=active)
    if updated_since is not None:
        rows = rows.filter(updated_at__gte=updated_since)
    return rows


def directory_employees(
    *,
    access: Access,
    department: Department | None = None,
    active: bool | None = None,
    updated_since=None,
) -> QuerySet[Employee]:
    """The organisation's employees for the directory API, optionally of one department and
    everything below it."""
    access.require(Permission.VIEW_DIRECTORY)
    rows = Employee.objects.visible_to(access).select_related("department")
    if department is not None:
        rows = rows.filter(department__path__startswith=department.path)
    if active is not None:
        rows = rows.filter(is_active=active)
    if updated_since is not None:
        rows = rows.filter(updated_at__gte=updated_since)
    return rows
