"""The one place pages get their organisation and access.

Every HR page lives under /o/<organisation slug>/. `org_view` resolves the slug among the
organisations the signed-in user belongs to, builds the access once for the request
(accounts.permissions.access_for) and checks the page's permission from the role table:
another organisation's pages answer 404 (as if they did not exist), a page the role may not use
answers 403, and a signed-out visitor is sent to sign in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.models import Department, Organization, Role
from accounts.permissions import (
    ORGANIZATION_SESSION_KEY,
    Access,
    Permission,
    access_and_second_factor,
)

# The organisation last worked in, so "/" can go straight back to it.
SESSION_KEY = ORGANIZATION_SESSION_KEY

ROLE_LABELS = {
    Role.ADMIN: _("HR admin"),
    Role.ANALYST: _("Analyst"),
    Role.MANAGER: _("Manager"),
    Role.VIEWER: _("Viewer"),
    Role.REPRESENTATIVE: _("Employee representative"),
}


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    url: str


# Pages in the navigation, each shown to roles whose permission allows it.
NAV = [
    # (key, label, URL name, permission)
    ("campaigns", _("Campaigns"), "web:campaigns", Permission.VIEW_CAMPAIGNS),
    ("actions", _("Actions"), "web:actions", Permission.VIEW_ACTIONS),
    ("people", _("People and departments"), "web:departments", Permission.MANAGE_DIRECTORY),
    ("users", _("Users and roles"), "web:users", Permission.MANAGE_USERS),
    ("api_keys", _("API keys"), "web:api_keys", Permission.MANAGE_API_KEYS),
    ("webhooks", _("Webhooks"), "web:webhooks", Permission.MANAGE_WEBHOOKS),
    ("audit", _("Audit trail"), "web:audit", Permission.VIEW_AUDIT),
]


def nav_items(access: Access, organization: Organization) -> list[NavItem]:
    return [
        NavItem(key, label, reverse(name, kwargs={"org": organization.slug}))
        for key, label, name, permission in NAV
        if access.can(permission)
    ]


def _scope_name(access: Access) -> str:
    if access.whole_organization or access.subtree_path is None:
        return ""
    root = access.ancestor_or_self_ids()[-1]
    return Department.objects.filter(pk=root).values_list("name", flat=True).first() or ""


def org_view(permission: Permission | None = None) -> Callable:
    """Decorate a view taking (request, ...) that serves one organisation's page; its URL has
    an `org` slug. The view finds `request.organization` and `request.access` set."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, org: str, *args, **kwargs) -> HttpResponse:
            organization = Organization.objects.filter(slug=org).first()
            access, factor_missing = access_and_second_factor(
                user=request.user, organization=organization
            )
            if not access.is_member:
                raise Http404("No such organisation, or you are not a member of it.")
            if factor_missing:
                return redirect_to_login(
                    request.get_full_path(), reverse("web:two_factor"), REDIRECT_FIELD_NAME
                )
            if permission is not None:
                access.require(permission)
            request.organization = organization
            request.access = access
            # For templates: {% if request.can.manage_campaigns %}
            request.can = {item.value: access.can(item) for item in Permission}
            request.role_label = ROLE_LABELS.get(access.role, access.role)
            request.scope_name = _scope_name(access)
            request.nav_items = nav_items(access, organization)
            if request.session.get(SESSION_KEY) != organization.slug:
                request.session[SESSION_KEY] = organization.slug  # saved only when it changes
            return view(request, *args, **kwargs)

        wrapper.required_permission = permission
        return wrapper

    return decorator


def memberships_of(user) -> list:
    """The user's organisations with their roles, by name."""
    return list(
        user.memberships.select_related("organization", "scope_department").order_by(
            "organization__name"
        )
    )


__all__ = ["SESSION_KEY", "Access", "memberships_of", "org_view"]
