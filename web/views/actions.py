"""Action plans: what was agreed per department and domain, who carries it out, by when, and
whether the follow-up campaign shows the domain improved (the effectiveness check)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from accounts.models import AuditAction, Department
from accounts.permissions import NotVisible, Permission
from accounts.services import audit_record
from assessments.models import CampaignStatus
from assessments.selectors import campaigns
from reports.effectiveness import actions_effectiveness
from reports.models import Action
from reports.recommendations import ACTION_BANDS, recommendations
from reports.selectors import OPEN_ACTION_STATUSES, actions
from reports.services import action_create, action_update
from results.selectors import department_results
from web.access import org_view
from web.forms import ActionFilterForm, ActionForm, add_service_errors

ACTIONS_PER_PAGE = 50
# Fixed once an action exists: what it was agreed for.
LOCKED_AFTER_CREATE = ("campaign", "department", "domain_code")


def _departments(request: HttpRequest):
    """The departments the access covers, in tree order."""
    return Department.objects.visible_to(request.access).order_by("path")


def _campaigns(request: HttpRequest):
    return (
        campaigns(access=request.access)
        .exclude(status=CampaignStatus.DRAFT)
        .order_by("-created_at")
    )


@never_cache
@org_view(Permission.VIEW_ACTIONS)
def actions_page(request: HttpRequest) -> HttpResponse:
    """Every action the access may see, filtered, with before → after where a follow-up
    campaign has been scored."""
    access = request.access
    form = ActionFilterForm(
        request.GET or None, campaigns=_campaigns(request), departments=_departments(request)
    )
    rows = actions(access=access).order_by("due_date", "pk")
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        if data["campaign"]:
            rows = rows.filter(campaign=data["campaign"])
        if data["department"]:
            rows = rows.filter(department__path__startswith=data["department"].path)
        if data["domain"]:
            rows = rows.filter(domain_code=data["domain"])
        if data["status"]:
            rows = rows.filter(status=data["status"])
        if data["overdue"]:
            rows = rows.filter(status__in=OPEN_ACTION_STATUSES, due_date__lt=timezone.localdate())
    page = Paginator(rows, ACTIONS_PER_PAGE).get_page(request.GET.get("page"))
    found = actions_effectiveness(access=access, actions=page.object_list)
    today = timezone.localdate()
    titles = dict(form.fields["domain"].choices)
    lines = [
        (
            action,
            found.get(action.pk),
            bool(
                action.due_date
                and action.due_date < today
                and action.status in OPEN_ACTION_STATUSES
            ),
            titles.get(action.domain_code) or action.domain_code,
        )
        for action in page.object_list
    ]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "hr/actions.html",
        {
            "form": form,
            "page": page,
            "lines": lines,
            "query": query.urlencode(),
            "nav": "actions",
        },
    )


def _suggested_title(request: HttpRequest, campaign, department, domain_code: str) -> str:
    """The first suggested action for the cell's band (or for the bands that need action, when
    the cell is hidden or fine), for the person to edit."""
    cell = (
        department_results(access=request.access, campaign=campaign, department=department)
        .filter(department=department, domain_code=domain_code, breakdown_attribute="")
        .first()
    )
    bands = ACTION_BANDS
    if cell is not None and cell.band in ACTION_BANDS:
        bands = (cell.band, *(band for band in ACTION_BANDS if band != cell.band))
    for band in bands:
        found = recommendations(
            instrument_code=campaign.instrument.code,
            domain_code=domain_code,
            band=band,
            language=get_language() or "en",
        )
        if found:
            return found[0].title
    return ""


def _prefill(request: HttpRequest, campaign_choices, department_choices) -> dict:
    """Initial values from a result cell: ?campaign=&department=&domain=."""
    initial: dict = {}
    campaign = department = None
    if (value := request.GET.get("campaign", "")).isdigit():
        campaign = campaign_choices.filter(pk=value).first()
        if campaign is None:
            raise NotVisible("No such campaign here.")
        initial["campaign"] = campaign
    if (value := request.GET.get("department", "")).isdigit():
        department = department_choices.filter(pk=value).first()
        if department is None:
            raise NotVisible("No such department here.")
        initial["department"] = department
    domain_code = request.GET.get("domain", "")
    if domain_code:
        initial["domain_code"] = domain_code
    if campaign is not None and department is not None and domain_code:
        # A suggestion picked on the department's results page, else the first suggested.
        picked = request.GET.get("title", "").strip()[: Action._meta.get_field("title").max_length]
        initial["title"] = picked or _suggested_title(request, campaign, department, domain_code)
    return initial


def _audit(request: HttpRequest, action, what: str) -> None:
    audit_record(
        organization=request.organization,
        actor=request.user,
        action=what,
        subject=f"action {action.pk}: {action.title}",
        detail={"department": action.department.name, "domain": action.domain_code},
    )


@never_cache
@org_view(Permission.MANAGE_ACTIONS)
def action_new(request: HttpRequest) -> HttpResponse:
    """Record an action for a department and domain, started from a result cell or blank."""
    campaign_choices = _campaigns(request)
    department_choices = _departments(request)
    initial = (
        {} if request.method == "POST" else _prefill(request, campaign_choices, department_choices)
    )
    form = ActionForm(
        request.POST or None,
        campaigns=campaign_choices,
        departments=department_choices,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                action = action_create(**form.cleaned_data)
                _audit(request, action, AuditAction.ACTION_CREATED)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("The action is saved."))
            return redirect("web:actions", org=request.organization.slug)
    return render(
        request,
        "hr/action_form.html",
        {"form": form, "nav": "actions"},
        status=400 if form.errors else 200,
    )


@never_cache
@org_view(Permission.MANAGE_ACTIONS)
def action_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change an action's title, owner, due date, status or notes."""
    action = actions(access=request.access).filter(pk=pk).first()
    if action is None:
        raise NotVisible("No such action here.")
    initial = {
        "campaign": action.campaign,
        "department": action.department,
        "domain_code": action.domain_code,
        "title": action.title,
        "owner": action.owner,
        "due_date": action.due_date,
        "status": action.status,
        "description": action.description,
    }
    form = ActionForm(
        request.POST or None,
        # Its own campaign and department are shown even where the lists would leave them out.
        campaigns=campaigns(access=request.access).filter(pk=action.campaign_id),
        departments=Department.objects.filter(pk=action.department_id),
        initial=initial,
        locked=LOCKED_AFTER_CREATE,
    )
    if request.method == "POST" and form.is_valid():
        changes = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name not in LOCKED_AFTER_CREATE
        }
        try:
            with transaction.atomic():
                action = action_update(action=action, **changes)
                _audit(request, action, AuditAction.ACTION_UPDATED)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("The action is saved."))
            return redirect("web:actions", org=request.organization.slug)
    found = actions_effectiveness(access=request.access, actions=[action])
    return render(
        request,
        "hr/action_form.html",
        {"form": form, "action": action, "effect": found.get(action.pk), "nav": "actions"},
        status=400 if form.errors else 200,
    )
