"""The access of an API request, from the one access module: an API key acts for its
organisation within its scopes; a signed-in HR user acts with their role in the organisation
they work in (a manager in their subtree only)."""

from __future__ import annotations

from rest_framework import exceptions, permissions

from accounts.models import ApiKey, Membership, Organization
from accounts.permissions import (
    NO_ACCESS,
    ORGANIZATION_SESSION_KEY,
    SCOPE_PERMISSIONS,
    Access,
    access_for,
    access_for_api_key,
)
from accounts.services import audit_record


def _session_organization(request) -> Organization | None:
    slug = request.session.get(ORGANIZATION_SESSION_KEY) if hasattr(request, "session") else None
    found = Membership.objects.filter(user=request.user, user__is_active=True)
    if slug:
        found = found.filter(organization__slug=slug)
    organizations = {m.organization for m in found.select_related("organization")[:2]}
    return organizations.pop() if len(organizations) == 1 else None


def api_access(request) -> Access:
    """Built once per request and kept on it."""
    cached = getattr(request, "_plimsoll_access", None)
    if cached is not None:
        return cached
    if isinstance(request.auth, ApiKey):
        access = access_for_api_key(request.auth)
    elif request.user and request.user.is_authenticated:
        organization = _session_organization(request)
        if organization is None:
            raise exceptions.PermissionDenied(
                "Open the organisation in the HR app first: you have roles in several."
            )
        access = access_for(user=request.user, organization=organization)
    else:
        access = NO_ACCESS
    request._plimsoll_access = access
    return access


def scopes_for(permission) -> list[str]:
    return sorted(scope for scope, granted in SCOPE_PERMISSIONS.items() if permission in granted)


class HasPermission(permissions.BasePermission):
    """The view's `required_permission` (per method, if a dict), from the access table: a key
    without the scope, or a role without the permission, gets 403 naming what is missing."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            raise exceptions.NotAuthenticated()
        access = api_access(request)
        required = view.required_permission
        if isinstance(required, dict):
            required = required.get(request.method, required.get("*"))
        if required is None or access.can(required):
            return True
        if isinstance(request.auth, ApiKey):
            raise exceptions.PermissionDenied(
                f"This API key lacks the scope for this: one of {', '.join(scopes_for(required))}."
            )
        raise exceptions.PermissionDenied("Your role does not allow this.")


def acting(request) -> dict:
    """Who a request acts as, in the form services record it in the audit trail: the signed-in
    user (`actor`), or no user and the key's name (`actor_label`, "API key <name>")."""
    user = None if isinstance(request.auth, ApiKey) else request.user
    return {"actor": user, "actor_label": api_access(request).label or getattr(user, "email", "")}


def organization_of(request) -> Organization:
    """The organisation the request acts in, for services that take one."""
    return Organization.objects.get(pk=api_access(request).organization_id)


def audit(request, subject, action: str, detail: dict | None = None) -> None:
    """One audit entry for what a request did, under the key's name or the signed-in user.
    `subject` is an object with a `pk` and a `name` (a campaign, …) or a label."""
    access = api_access(request)
    if not isinstance(subject, str):
        subject = f"{type(subject)._meta.verbose_name} {subject.pk}: {subject}"
    audit_record(
        organization=access.organization_id,
        **acting(request),
        action=action,
        subject=subject,
        detail=detail or {},
    )
