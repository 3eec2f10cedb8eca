"""Who may do what: the one access module.

`access_for` turns a signed-in user and the current organisation into an `Access`: the
organisation, the role, and the visible scope (the whole organisation or one department
subtree). `ROLE_PERMISSIONS` is the one table of what each role may do. Views, API views and
selectors ask the access object; none decides by hand. Query sets apply the scope with
`visible_to(access)` (accounts.models.TenantQuerySet).

A superuser is not a role: outside the admin site it reaches exactly what its memberships
give it, like anyone else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django_otp import user_has_device

from accounts.models import ApiKey, ApiScope, Department, Membership, Organization, Role

# The organisation a signed-in person last worked in (the HR app sets it; the API's session
# callers act in it).
ORGANIZATION_SESSION_KEY = "plimsoll_organization"


class Permission(enum.StrEnum):
    """Everything a role may be allowed to do in its organisation."""

    VIEW_CAMPAIGNS = "view_campaigns"  # campaign list and settings
    MANAGE_CAMPAIGNS = "manage_campaigns"  # create, edit, launch, close, remind
    VIEW_PARTICIPATION = "view_participation"  # invited and answered counts
    VIEW_RESULTS = "view_results"  # published result cells, heatmap, priorities
    EXPORT_RESULTS = "export_results"  # spreadsheets of published cells
    VIEW_REPORTS = "view_reports"  # list and download finished PDFs
    REQUEST_REPORTS = "request_reports"  # ask for PDFs to be rendered
    VIEW_ACTIONS = "view_actions"
    MANAGE_ACTIONS = "manage_actions"  # create and update action plans
    VIEW_DIRECTORY = "view_directory"  # read departments and employees (the API's directory)
    MANAGE_DIRECTORY = "manage_directory"  # departments, employees, imports and syncs
    MANAGE_USERS = "manage_users"  # invitations, roles and memberships
    MANAGE_API_KEYS = "manage_api_keys"
    MANAGE_WEBHOOKS = "manage_webhooks"
    VIEW_AUDIT = "view_audit"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


P = Permission

# The one table. A manager's permissions reach their own subtree only (Access.covers); every
# other role's reach the whole organisation.
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.ANALYST: frozenset(
        {
            P.VIEW_CAMPAIGNS,
            P.MANAGE_CAMPAIGNS,
            P.VIEW_PARTICIPATION,
            P.VIEW_RESULTS,
            P.EXPORT_RESULTS,
            P.VIEW_REPORTS,
            P.REQUEST_REPORTS,
            P.VIEW_ACTIONS,
            P.MANAGE_ACTIONS,
        }
    ),
    Role.MANAGER: frozenset(
        {
            P.VIEW_CAMPAIGNS,
            P.VIEW_PARTICIPATION,
            P.VIEW_RESULTS,
            P.EXPORT_RESULTS,
            P.VIEW_REPORTS,
            P.REQUEST_REPORTS,
            P.VIEW_ACTIONS,
            P.MANAGE_ACTIONS,
        }
    ),
    Role.VIEWER: frozenset({P.VIEW_CAMPAIGNS, P.VIEW_RESULTS, P.VIEW_REPORTS, P.VIEW_ACTIONS}),
    # Employee representatives check who looked at what: a viewer's rights and the audit trail.
    Role.REPRESENTATIVE: frozenset(
        {P.VIEW_CAMPAIGNS, P.VIEW_RESULTS, P.VIEW_REPORTS, P.VIEW_ACTIONS, P.VIEW_AUDIT}
    ),
}


# What each API key scope grants. A key acts for its whole organisation (there is no manager's
# key); its scopes are the limit.
SCOPE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    ApiScope.DIRECTORY_READ: frozenset({P.VIEW_DIRECTORY}),
    ApiScope.DIRECTORY_WRITE: frozenset({P.VIEW_DIRECTORY, P.MANAGE_DIRECTORY}),
    ApiScope.CAMPAIGNS_READ: frozenset({P.VIEW_CAMPAIGNS, P.VIEW_PARTICIPATION}),
    # Running campaigns includes the action plans that answer their results.
    ApiScope.CAMPAIGNS_WRITE: frozenset(
        {
            P.VIEW_CAMPAIGNS,
            P.VIEW_PARTICIPATION,
            P.MANAGE_CAMPAIGNS,
            P.VIEW_ACTIONS,
            P.MANAGE_ACTIONS,
        }
    ),
    # Results and reports belong to campaigns: a key that reads them may list the campaigns.
    ApiScope.RESULTS_READ: frozenset(
        {P.VIEW_CAMPAIGNS, P.VIEW_RESULTS, P.EXPORT_RESULTS, P.VIEW_ACTIONS}
    ),
    ApiScope.REPORTS_READ: frozenset({P.VIEW_CAMPAIGNS, P.VIEW_REPORTS, P.REQUEST_REPORTS}),
    ApiScope.WEBHOOKS_MANAGE: frozenset({P.MANAGE_WEBHOOKS}),
}

# The role of an access that acts for an API key (its permissions come from its scopes).
API_ROLE = "api"


class NotVisible(Http404):
    """A row outside what the access reaches: another organisation's, or outside a manager's
    subtree. Interfaces answer 404, never 403, so nobody learns that it exists."""


@dataclass(frozen=True)
class Access:
    """What one user (or one API key) may do in one organisation."""

    organization_id: int | None
    role: str | None
    subtree_path: str | None = None  # managers: the path prefix of their department subtree
    user_id: int | None = None
    # An API key's access: the permissions of its scopes, used instead of the role table.
    granted: frozenset[Permission] | None = None
    api_key_id: int | None = None
    # Who acts, as the audit trail names them when there is no user ("API key <name>").
    label: str = ""

    @property
    def permissions(self) -> frozenset[Permission]:
        if self.granted is not None:
            return self.granted
        return ROLE_PERMISSIONS.get(self.role, frozenset()) if self.role else frozenset()

    @property
    def is_member(self) -> bool:
        if self.organization_id is None:
            return False
        return self.granted is not None or self.role in ROLE_PERMISSIONS

    @property
    def whole_organization(self) -> bool:
        """Whether the scope is the whole organisation (every role but manager)."""
        return self.is_member and self.role != Role.MANAGER

    def can(self, permission: Permission) -> bool:
        return self.is_member and permission in self.permissions

    def require(self, permission: Permission) -> None:
        """Raise PermissionDenied unless the role may do this; NotVisible for no role at all."""
        if not self.is_member:
            raise NotVisible("Nothing here belongs to an organisation you can see.")
        if permission not in self.permissions:
            if self.api_key_id is not None:
                raise PermissionDenied(f"This API key's scopes do not allow: {permission.label}.")
            raise PermissionDenied(f"Your role ({self.role}) may not {permission.label}.")

    def require_organization(self, organization_id: int | None) -> None:
        """Raise NotVisible unless the row's organisation is this access's own."""
        if not self.is_member or organization_id != self.organization_id:
            raise NotVisible("This belongs to an organisation you cannot see.")

    def covers(self, department: Department | None) -> bool:
        """Whether a department (None: the whole organisation's figures) is in scope."""
        if not self.is_member:
            return False
        if department is not None and department.organization_id != self.organization_id:
            return False
        if self.whole_organization:
            return True
        if department is None or self.subtree_path is None:
            return False
        return department.path.startswith(self.subtree_path)

    def require_covers(self, department: Department | None) -> None:
        if not self.covers(department):
            where = "the whole organisation" if department is None else f"'{department}'"
            raise NotVisible(f"Department {where} is outside your scope.")

    def department_filter(self, lookup: str = "department") -> Q:
        """A filter on a department lookup (`""` for the Department model itself) that keeps
        what the scope covers. Rows without a department (the whole organisation's) pass only
        for a scope that is the whole organisation."""
        if not self.is_member:
            return Q(pk__in=[])
        if self.whole_organization:
            return Q()
        if self.subtree_path is None:
            return Q(pk__in=[])
        prefix = f"{lookup}__" if lookup else ""
        return Q(**{f"{prefix}path__startswith": self.subtree_path})

    def ancestor_or_self_ids(self) -> list[int]:
        """A manager's subtree root and its ancestors (ids read from the path)."""
        if self.subtree_path is None:
            return []
        return [int(part) for part in self.subtree_path.strip("/").split("/") if part]


NO_ACCESS = Access(organization_id=None, role=None)


# Roles whose sign-ins an organisation may require a second factor for.
SECOND_FACTOR_ROLES = (Role.ADMIN, Role.ANALYST)


def access_for(*, user, organization: Organization | int | None) -> Access:
    """The access of `user` in `organization`: a role and a scope, or none at all.

    Built once per request. A user without a membership there, a signed-out visitor, a
    superuser without a membership, and a session that still owes its second factor (see
    `access_and_second_factor`) all get NO_ACCESS.
    """
    access, factor_missing = access_and_second_factor(user=user, organization=organization)
    return NO_ACCESS if factor_missing else access


def access_and_second_factor(
    *, user, organization: Organization | int | None
) -> tuple[Access, bool]:
    """The role and scope of `user` in `organization`, and whether this session must still
    pass the second factor before using them: always once the user has set one up, and for
    admins and analysts of an organisation that requires it. `user.is_verified()` is set by
    django-otp's middleware; a user object without it counts as not verified."""
    organization_id = getattr(organization, "pk", organization)
    if organization_id is None or user is None or not getattr(user, "is_authenticated", False):
        return NO_ACCESS, False
    membership = (
        Membership.objects.for_organization(organization_id)
        .select_related("scope_department", "organization")
        .filter(user=user, user__is_active=True)
        .first()
    )
    if membership is None:
        return NO_ACCESS, False
    subtree = membership.scope_department.path if membership.role == Role.MANAGER else None
    access = Access(
        organization_id=organization_id,
        role=membership.role,
        subtree_path=subtree,
        user_id=user.pk,
    )
    verified = getattr(user, "is_verified", None)
    if verified is not None and verified():
        return access, False
    required = (
        membership.organization.require_second_factor and membership.role in SECOND_FACTOR_ROLES
    )
    return access, required or user_has_device(user)


def access_for_organization(organization: Organization | int, role: str = Role.ADMIN) -> Access:
    """An access that sees the whole organisation in a role, for work done for it rather than
    for a person (a report rendered by a worker, a command run by an operator)."""
    return Access(organization_id=getattr(organization, "pk", organization), role=role)


def access_for_api_key(key: ApiKey) -> Access:
    """What an API key may do: the whole of its organisation, within the permissions of its
    scopes. A revoked or expired key gets NO_ACCESS."""
    if not key.is_active:
        return NO_ACCESS
    granted = frozenset().union(
        *(SCOPE_PERMISSIONS.get(scope, frozenset()) for scope in key.scopes)
    )
    return Access(
        organization_id=key.organization_id,
        role=API_ROLE,
        granted=granted,
        api_key_id=key.pk,
        label=f"API key {key.name}",
    )
