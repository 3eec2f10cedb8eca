"""Writes to organisations, departments, employees, memberships and API keys."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q, Value
from django.db.models.functions import Concat, Length, Substr
from django.utils import timezone

from accounts.models import (
    ApiKey,
    ApiScope,
    AuditAction,
    AuditEntry,
    Department,
    Employee,
    EventType,
    Membership,
    Organization,
    OutboxEvent,
    Role,
    User,
)

logger = logging.getLogger(__name__)

# The task of webhooks/ that fans an outbox event out to endpoints, named rather than imported
# (accounts sits below webhooks/): see event_record.
DISPATCH_TASK = "webhooks.tasks.dispatch_event"


class DepartmentCycleError(ValidationError):
    """Raised when a department would end up inside its own subtree."""


PATH_MAX_LENGTH = Department._meta.get_field("path").max_length


def _lock_tree(organization_id: int) -> None:
    # One tree change at a time per organisation: two moves that cross each other would
    # otherwise deadlock, or build a cycle from two stale reads.
    Organization.objects.select_for_update().filter(pk=organization_id).first()


def _check_path_length(path: str, name: str) -> None:
    if len(path) > PATH_MAX_LENGTH:
        raise ValidationError(
            {
                "parent": f"Department '{name}' would sit too deep in the tree (path over "
                f"{PATH_MAX_LENGTH} characters); attach it higher up."
            }
        )


def _check_parent(*, organization: Organization, parent: Department | None) -> None:
    if parent is not None and parent.organization_id != organization.pk:
        raise ValidationError({"parent": f"Department '{parent}' belongs to another organisation."})
    if parent is not None and not parent.is_active:
        raise ValidationError({"parent": f"Department '{parent}' is deactivated."})


@transaction.atomic
def department_create(
    *,
    organization: Organization,
    name: str,
    parent: Department | None = None,
    external_id: str | None = None,
) -> Department:
    """Add a department under `parent` (or at the top of the tree) with its path filled in."""
    if not name.strip():
        raise ValidationError({"name": "A department needs a name."})
    _check_parent(organization=organization, parent=parent)
    _lock_tree(organization.pk)
    _check_external_id(organization.pk, external_id)
    if parent is not None:
        parent = Department.objects.get(pk=parent.pk)  # its path may have moved since it was read
    department = Department.objects.create(
        organization=organization, name=name.strip(), parent=parent, external_id=external_id or None
    )
    parent_path = parent.path if parent else "/"
    department.path = f"{parent_path}{department.pk}/"
    _check_path_length(department.path, department.name)
    department.depth = 0 if parent is None else parent.depth + 1
    department.save(update_fields=["path", "depth"])
    return department


def department_external_id_problem(
    *, organization_id: int, external_id: str | None, own_pk: int | None = None
) -> str:
    """Why a department cannot take this HRIS id (another one of the organisation has it)."""
    if not external_id:
        return ""
    taken = Department.objects.for_organization(organization_id).filter(external_id=external_id)
    other = taken.exclude(pk=own_pk).first()
    return "" if other is None else f"External id '{external_id}' is already used by '{other}'."


def _check_external_id(organization_id: int, external_id: str | None, *, own_pk=None) -> None:
    problem = department_external_id_problem(
        organization_id=organization_id, external_id=external_id, own_pk=own_pk
    )
    if problem:
        raise ValidationError({"external_id": problem})


class _Unchanged:
    """Marks an argument left out (None is a value: no HRIS id, or the top of the tree)."""


UNCHANGED = _Unchanged()


@transaction.atomic
def department_update(
    *,
    department: Department,
    name: str | None = None,
    external_id: str | _Unchanged | None = UNCHANGED,
    parent: Department | _Unchanged | None = UNCHANGED,
) -> Department:
    """Rename a department, change its HRIS id, or move it (with its subtree) under another
    parent, in one transaction; leave out what stays. Paths follow a move; cycles are refused."""
    _lock_tree(department.organization_id)
    locked = Department.objects.get(pk=department.pk)
    fields = []
    if name is not None:
        if not name.strip():
            raise ValidationError({"name": "A department needs a name."})
        locked.name = name.strip()
        fields.append("name")
    if not isinstance(external_id, _Unchanged):
        external_id = (external_id or "").strip() or None
        _check_external_id(locked.organization_id, external_id, own_pk=locked.pk)
        locked.external_id = external_id
        fields.append("external_id")
    if fields:
        locked.save(update_fields=fields)
    if not isinstance(parent, _Unchanged) and parent != locked.parent:
        locked = department_move(department=locked, new_parent=parent)
    return locked


def department_cycle_problem(*, department: Department, new_parent: Department | None) -> str:
    """Why `new_parent` cannot take `department`, or "" when it can."""
    if new_parent is None or not department.path:
        return ""
    if not new_parent.path.startswith(department.path):
        return ""
    if new_parent.pk == department.pk:
        return f"Department '{department}' cannot be its own parent."
    return (
        f"Department '{department}' cannot be placed under '{new_parent}': '{new_parent}' is "
        f"inside the subtree of '{department}', which would make a cycle."
    )


@transaction.atomic
def department_move(*, department: Department, new_parent: Department | None) -> Department:
    """Put `department` and its whole subtree under `new_parent`, refusing cycles."""
    _lock_tree(department.organization_id)
    department = Department.objects.get(pk=department.pk)
    _check_parent(organization=department.organization, parent=new_parent)
    if new_parent is not None:
        new_parent = Department.objects.get(pk=new_parent.pk)
        if problem := department_cycle_problem(department=department, new_parent=new_parent):
            raise DepartmentCycleError({"parent": problem})
    old_path, old_depth = department.path, department.depth
    new_path = f"{new_parent.path if new_parent else '/'}{department.pk}/"
    new_depth = 0 if new_parent is None else new_parent.depth + 1
    deepest = (
        Department.objects.for_organization(department.organization_id)
        .filter(path__startswith=old_path)
        .aggregate(longest=Max(Length("path")))["longest"]
    )
    _check_path_length("x" * (deepest - len(old_path) + len(new_path)), department.name)
    # One UPDATE rewrites the prefix of every path in the subtree.
    now = timezone.now()
    Department.objects.for_organization(department.organization_id).filter(
        path__startswith=old_path
    ).update(
        path=Concat(Value(new_path), Substr("path", len(old_path) + 1, Length("path"))),
        depth=F("depth") + (new_depth - old_depth),
        updated_at=now,
    )
    Department.objects.filter(pk=department.pk).update(parent=new_parent, updated_at=now)
    department.refresh_from_db()
    return department


@transaction.atomic
def membership_grant(
    *,
    user: User,
    organization: Organization,
    role: str,
    scope_department: Department | None = None,
) -> Membership:
    """Give `user` a role in `organization`, replacing any role they had there."""
    if role not in Role.values:
        raise ValidationError(
            {"role": f"Unknown role '{role}'; choose one of {', '.join(Role.values)}."}
        )
    if role == Role.MANAGER and scope_department is None:
        raise ValidationError({"scope_department": "A manager needs a scope department."})
    if role != Role.MANAGER:
        scope_department = None
    if scope_department is not None and scope_department.organization_id != organization.pk:
        raise ValidationError(
            {
                "scope_department": (
                    f"Department '{scope_department}' belongs to another organisation."
                )
            }
        )
    _lock_memberships(organization.pk)
    current = Membership.objects.for_organization(organization).filter(user=user).first()
    if current is not None and current.role == Role.ADMIN and role != Role.ADMIN:
        _refuse_losing_the_last_admin(organization, user)
    membership, _ = Membership.objects.update_or_create(
        user=user,
        organization=organization,
        defaults={"role": role, "scope_department": scope_department},
    )
    return membership


def _lock_memberships(organization_id: int) -> None:
    # One role change at a time per organisation, so two admins cannot demote each other at
    # once and leave nobody in charge.
    Organization.objects.select_for_update().filter(pk=organization_id).first()


def last_admin_problem(*, organization: Organization, user: User) -> str:
    """Why `user` cannot stop being an admin of `organization` (they are its last active
    admin), or "" when they can."""
    others = (
        Membership.objects.for_organization(organization)
        .filter(role=Role.ADMIN, user__is_active=True)
        .exclude(user=user)
    )
    if others.exists():
        return ""
    return (
        f"{user} is the last admin of {organization}: make someone else admin first, so the "
        "organisation is never left without one."
    )


def _refuse_losing_the_last_admin(organization: Organization, user: User) -> None:
    if problem := last_admin_problem(organization=organization, user=user):
        raise ValidationError({"role": problem})


@transaction.atomic
def membership_revoke(*, user: User, organization: Organization) -> None:
    """Take away `user`'s role in `organization`; the last admin cannot be removed."""
    _lock_memberships(organization.pk)
    membership = Membership.objects.for_organization(organization).filter(user=user).first()
    if membership is None:
        return
    if membership.role == Role.ADMIN:
        _refuse_losing_the_last_admin(organization, user)
    membership.delete()


@dataclass(frozen=True)
class Invited:
    user: User
    created: bool  # a new account, which still has to choose its first password


@transaction.atomic
def user_invite(
    *,
    organization: Organization,
    email: str,
    role: str,
    full_name: str = "",
    scope_department: Department | None = None,
) -> Invited:
    """Give someone a role in `organization`, making their account if they have none.

    A new account has no password: the person chooses one through the link in the invitation.
    Someone who already has a role here is refused (change their role instead).
    """
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": f"'{email}' is not an email address."}) from exc
    user = User.objects.filter(email=email).first()
    if user is not None and Membership.objects.for_organization(organization).filter(user=user):
        raise ValidationError(
            {"email": f"{email} already has a role in {organization}; change it in the list."}
        )
    created = user is None
    if created:
        user = User.objects.create_user(email=email, password=None, full_name=full_name.strip())
    membership_grant(
        user=user, organization=organization, role=role, scope_department=scope_department
    )
    return Invited(user=user, created=created)


@transaction.atomic
def department_deactivate(*, department: Department) -> Department:
    """Mark a department as no longer in use. Refused while active employees or active
    departments are still in it: move them first, so nobody is left out of a campaign."""
    _lock_tree(department.organization_id)
    locked = Department.objects.get(pk=department.pk)
    people = (
        Employee.objects.for_organization(locked.organization_id)
        .filter(department__path__startswith=locked.path, is_active=True)
        .count()
    )
    children = locked.children.filter(is_active=True).count()
    if people or children:
        raise ValidationError(
            {
                "is_active": (
                    f"Department '{locked}' still has {people} active employees and "
                    f"{children} active departments in it or below; move or deactivate them "
                    "first."
                )
            }
        )
    locked.is_active = False
    locked.save(update_fields=["is_active"])
    return locked


@transaction.atomic
def department_reactivate(*, department: Department) -> Department:
    """Bring a deactivated department back (its parent must be active)."""
    _lock_tree(department.organization_id)
    locked = Department.objects.select_related("parent").get(pk=department.pk)
    if locked.parent is not None and not locked.parent.is_active:
        raise ValidationError(
            {"is_active": f"Its parent '{locked.parent}' is deactivated; reactivate that first."}
        )
    locked.is_active = True
    locked.save(update_fields=["is_active"])
    return locked


@transaction.atomic
def organization_second_factor_set(*, organization: Organization, required: bool) -> Organization:
    """Require (or stop requiring) a second factor of the organisation's admins and analysts."""
    Organization.objects.filter(pk=organization.pk).update(require_second_factor=required)
    organization.refresh_from_db(fields=["require_second_factor"])
    return organization


def audit_record(
    *,
    organization: Organization | int,
    actor: User | None,
    action: str,
    subject: str = "",
    detail: dict | None = None,
    actor_label: str = "",
) -> AuditEntry:
    """Write one audit entry in the caller's transaction (so it stands or falls with the
    change it records). Callers pass names and labels, never answers, tokens or figures.
    Work done without a user names its actor in `actor_label` (an API key: Access.label)."""
    if action not in AuditAction.values:
        raise ValidationError({"action": f"Unknown audit action '{action}'."})
    return AuditEntry.objects.create(
        organization_id=getattr(organization, "pk", organization),
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=(getattr(actor, "email", "") or actor_label or "system")[:254],
        action=action,
        subject=subject[:300],
        detail=detail or {},
    )


# --- the outbox of events -------------------------------------------------------------------


def event_record(*, organization: Organization | int, type: str, data: dict) -> OutboxEvent:
    """Write an event for the organisation's webhook endpoints in the caller's transaction, so
    it exists exactly when the change it announces does, and hand it to webhooks/ once that
    transaction commits. A lost hand-over (Redis down) only delays it: webhooks/ sweeps events
    not yet dispatched. `data` holds ids and labels, never figures, answers or people."""
    if type not in EventType.values:
        raise ValidationError({"type": f"Unknown event type '{type}'."})
    event = OutboxEvent.objects.create(
        organization_id=getattr(organization, "pk", organization), type=type, data=data
    )
    event_id = str(event.pk)
    transaction.on_commit(lambda: _send_event(event_id))
    return event


def _send_event(event_id: str) -> None:
    from celery import current_app

    task = current_app.tasks.get(DISPATCH_TASK)
    if task is None:  # webhooks/ not installed: nothing subscribes
        return
    try:
        task.delay(event_id)
    except Exception:  # noqa: BLE001 - the sweep picks up events not dispatched
        logger.warning("Could not enqueue outbox event %s; the sweep will retry", event_id)


# --- API keys --------------------------------------------------------------------------------

API_KEY_MARK = "plim_"
API_KEY_MAX_LIFETIME = dt.timedelta(days=731)  # two years, whatever the leap days
# How stale `last_used_at` may get: one write a minute at most, however busy the key.
API_KEY_USE_RESOLUTION = dt.timedelta(seconds=60)
_NAME_MAX_LENGTH = ApiKey._meta.get_field("name").max_length


def _api_key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _check_api_key(*, name: str, scopes, expires_at: dt.datetime) -> list[str]:
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "An API key needs a name, e.g. the system that uses it."
    elif len(name) > _NAME_MAX_LENGTH:
        errors["name"] = f"Keep the name to {_NAME_MAX_LENGTH} characters (it has {len(name)})."
    chosen = [str(scope) for scope in scopes or []]
    unknown = [scope for scope in chosen if scope not in ApiScope.values]
    if not chosen:
        errors["scopes"] = "Choose at least one scope: a key without one could do nothing."
    elif unknown:
        errors["scopes"] = (
            f"Unknown scope '{unknown[0]}'; the scopes are {', '.join(ApiScope.values)}."
        )
    now = timezone.now()
    if expires_at <= now:
        errors["expires_at"] = "The expiry date must be in the future."
    elif expires_at > now + API_KEY_MAX_LIFETIME:
        errors["expires_at"] = "A key may last at most two years; choose an earlier expiry date."
    if errors:
        raise ValidationError(errors)
    # Each scope once, in the order of ApiScope.
    return [scope for scope in ApiScope.values if scope in chosen]


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    name: str,
    scopes: list[str],
    expires_at: dt.datetime | None = None,
    created_by: User | None = None,
) -> tuple[ApiKey, str]:
    """Create an API key for the organisation and return it with its plaintext
    (`plim_<prefix>.<secret>`): the one and only time the key exists outside its holder's
    hands. Only its SHA-256 is stored."""
    name = (name or "").strip()
    if expires_at is None:
        days = getattr(settings, "API_KEY_DEFAULT_DAYS", 365)
        expires_at = timezone.now() + dt.timedelta(days=days)
    scopes = _check_api_key(name=name, scopes=scopes, expires_at=expires_at)
    for _attempt in range(5):
        prefix = secrets.token_urlsafe(6)  # 8 characters
        raw = f"{API_KEY_MARK}{prefix}.{secrets.token_urlsafe(32)}"
        try:
            # A savepoint: a prefix that is already taken (one chance in 2^48) tries again.
            with transaction.atomic():
                key = ApiKey.objects.create(
                    organization=organization,
                    name=name,
                    prefix=prefix,
                    key_hash=_api_key_hash(raw),
                    scopes=scopes,
                    expires_at=expires_at,
                    created_by=created_by,
                )
        except IntegrityError:
            continue
        break
    else:  # pragma: no cover - five colliding random prefixes in a row
        raise ValidationError({"name": "Could not make a unique key; try again."})
    audit_record(
        organization=organization,
        actor=created_by,
        action=AuditAction.API_KEY_CREATED,
        subject=name,
        detail={"scopes": scopes},
    )
    return key, raw


@transaction.atomic
def api_key_revoke(*, key: ApiKey, revoked_by: User | None = None) -> ApiKey:
    """Stop a key from opening the API, for good. Revoking a revoked key changes nothing."""
    current = ApiKey.objects.select_for_update().get(pk=key.pk)
    if current.revoked_at is None:
        current.revoked_at = timezone.now()
        current.save(update_fields=["revoked_at"])
        audit_record(
            organization=current.organization_id,
            actor=revoked_by,
            action=AuditAction.API_KEY_REVOKED,
            subject=current.name,
        )
    key.revoked_at = current.revoked_at
    return key


def api_key_authenticate(raw: str) -> ApiKey | None:
    """The active key a request presents (`Authorization: Api-Key <key>`), or None for a key
    that is malformed, unknown, wrong, revoked or expired. Notes when it was used, at most
    once a minute, so a busy integration does not write a row per request."""
    raw = (raw or "").strip()
    if not raw.startswith(API_KEY_MARK):
        return None
    prefix, dot, secret = raw.removeprefix(API_KEY_MARK).partition(".")
    if not prefix or not dot or not secret or len(prefix) > 12:
        return None
    key = ApiKey.objects.select_related("organization").filter(prefix=prefix).first()
    if key is None:
        return None
    if not hmac.compare_digest(_api_key_hash(raw), key.key_hash):
        return None
    if not key.is_active:
        return None
    now = timezone.now()
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - API_KEY_USE_RESOLUTION)
    if ApiKey.objects.filter(stale, pk=key.pk).update(last_used_at=now):
        key.last_used_at = now
    return key
