"""Users and roles: who may sign in to this organisation, and what each may do (admins only)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.models import AuditAction
from accounts.permissions import Permission
from accounts.selectors import membership_for, memberships
from accounts.services import audit_record, membership_grant, membership_revoke, user_invite
from web.access import ROLE_LABELS, org_view
from web.emails import access_granted_send
from web.forms import InviteForm, RoleForm, add_service_errors


@never_cache
@org_view(Permission.MANAGE_USERS)
def users_page(request: HttpRequest) -> HttpResponse:
    """Everyone with a role here, and a form to invite someone."""
    organization = request.organization
    form = InviteForm(request.POST or None, organization=organization)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                invited = user_invite(
                    organization=organization,
                    email=data["email"],
                    full_name=data["full_name"],
                    role=data["role"],
                    scope_department=data["scope_department"],
                )
                access_granted_send(
                    user=invited.user,
                    organization=organization,
                    role_label=ROLE_LABELS[data["role"]],
                )
                audit_record(
                    organization=organization,
                    actor=request.user,
                    action=AuditAction.USER_INVITED,
                    subject=invited.user.email,
                    detail={"role": data["role"]},
                )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                _("%(email)s can now sign in as %(role)s; an email with the link is on its way.")
                % {"email": invited.user.email, "role": ROLE_LABELS[data["role"]]},
            )
            return redirect("web:users", org=organization.slug)
    return render(
        request,
        "hr/users.html",
        {"members": memberships(access=request.access), "form": form, "nav": "users"},
        status=400 if form.errors else 200,
    )


@never_cache
@org_view(Permission.MANAGE_USERS)
def member_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Change someone's role (and a manager's department)."""
    membership = membership_for(access=request.access, pk=pk)
    initial = {"role": membership.role, "scope_department": membership.scope_department}
    form = RoleForm(request.POST or None, organization=request.organization, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                membership_grant(
                    user=membership.user,
                    organization=request.organization,
                    role=form.cleaned_data["role"],
                    scope_department=form.cleaned_data["scope_department"],
                )
                audit_record(
                    organization=request.organization,
                    actor=request.user,
                    action=AuditAction.ROLE_CHANGED,
                    subject=membership.user.email,
                    detail={"role": form.cleaned_data["role"]},
                )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request, _("The role of %(email)s is saved.") % {"email": membership.user.email}
            )
            return redirect("web:users", org=request.organization.slug)
    return render(
        request,
        "hr/member.html",
        {"membership": membership, "form": form, "nav": "users"},
        status=400 if form.errors else 200,
    )


@require_POST
@org_view(Permission.MANAGE_USERS)
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Take someone's role here away; their account stays for other organisations."""
    membership = membership_for(access=request.access, pk=pk)
    try:
        with transaction.atomic():
            membership_revoke(user=membership.user, organization=request.organization)
            audit_record(
                organization=request.organization,
                actor=request.user,
                action=AuditAction.ROLE_REMOVED,
                subject=membership.user.email,
            )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, _("%(email)s no longer has a role here.") % {"email": membership.user.email}
        )
    return redirect("web:users", org=request.organization.slug)
