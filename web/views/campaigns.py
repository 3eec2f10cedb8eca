"""Campaign pages: setting up, launching, closing and reminding; the live participation
monitor and delivery problems."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.models import AuditAction
from accounts.permissions import Permission
from accounts.selectors import department_headcounts
from accounts.services import audit_record
from assessments.models import CampaignStatus, Instrument
from assessments.selectors import (
    campaign_for,
    campaign_launch_preview,
    campaigns,
    delivery_failures,
    failed_deliveries,
    instrument_spec,
)
from assessments.services import (
    FROZEN_AFTER_LAUNCH,
    campaign_create,
    campaign_launch,
    campaign_remind_now,
    campaign_update,
    invitations_retry_failed,
)
from results.selectors import participation, widest
from results.services import campaign_close
from web.access import org_view
from web.forms import CampaignForm, add_service_errors
from web.tables import participation_rows


def _participation_context(request: HttpRequest, pk: int) -> dict:
    access = request.access
    campaign = campaign_for(access=access, pk=pk)
    rows = participation(access=access, campaign=campaign)
    top = widest(rows)
    failed = (
        failed_deliveries(access=access, campaigns=[campaign]).get(campaign.pk, 0)
        if access.can(Permission.MANAGE_CAMPAIGNS)
        else 0
    )
    lowest = top.depth if top else 0
    lines = [(row, min(row.depth - lowest, 6)) for row in rows]
    return {
        "campaign": campaign,
        # Each row with its indentation below the widest group shown (at most 6 steps).
        "lines": lines,
        "rows_html": participation_rows(
            lines, k=campaign.min_group_size, closed=campaign.status == CampaignStatus.CLOSED
        ),
        "top": top,
        "failed": failed,
        "live": campaign.status == CampaignStatus.OPEN,
        "poll_seconds": settings.PARTICIPATION_POLL_SECONDS,
    }


@never_cache
@org_view(Permission.VIEW_PARTICIPATION)
def participation_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Who has been invited and how many answered, per department: counts only, each shown
    under the same suppression as everywhere else; scores never appear here."""
    return render(request, "hr/participation.html", _participation_context(request, pk))


@never_cache
@org_view(Permission.VIEW_PARTICIPATION)
def participation_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The table alone, for htmx to swap in while the page is open."""
    return render(request, "hr/_participation_table.html", _participation_context(request, pk))


@require_POST
@org_view(Permission.MANAGE_CAMPAIGNS)
def retry_failed(request: HttpRequest, pk: int) -> HttpResponse:
    campaign = campaign_for(access=request.access, pk=pk)
    try:
        count = invitations_retry_failed(campaign=campaign)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, _("%(count)d invitations are being sent again.") % {"count": count}
        )
    return redirect("web:participation", org=request.organization.slug, pk=campaign.pk)


@never_cache
@org_view(Permission.MANAGE_DIRECTORY)
def delivery_failures_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The addresses that could not be reached, to fix them in the directory. No department
    and no answered count is shown here."""
    campaign = campaign_for(access=request.access, pk=pk)
    failures = delivery_failures(access=request.access, campaign=campaign)
    return render(
        request, "hr/delivery_failures.html", {"campaign": campaign, "failures": failures}
    )


# --- Setting up and running campaigns ------------------------------------------------------


def _audit(request: HttpRequest, campaign, action: str) -> None:
    audit_record(
        organization=request.organization,
        actor=request.user,
        action=action,
        subject=f"campaign {campaign.pk}: {campaign.name}",
    )


def _headcounts(request: HttpRequest) -> dict[int, int]:
    return {h.department.pk: h.subtree for h in department_headcounts(access=request.access)}


def _small_targets(form: CampaignForm, headcounts: dict[int, int]) -> list[tuple[str, int]]:
    """Chosen departments with fewer active people than the chosen k (their results would be
    hidden, and they make neighbouring groups harder to show)."""
    if not form.is_bound or not hasattr(form, "cleaned_data"):
        return []
    k = form.cleaned_data.get("min_group_size") or 5
    return [
        (d.name, headcounts.get(d.pk, 0))
        for d in form.cleaned_data.get("target_departments") or []
        if headcounts.get(d.pk, 0) < k
    ]


@never_cache
@org_view(Permission.VIEW_CAMPAIGNS)
def campaigns_page(request: HttpRequest) -> HttpResponse:
    found = campaigns(access=request.access).order_by("-created_at")
    return render(request, "hr/campaigns.html", {"campaigns": found, "nav": "campaigns"})


def _initial(campaign) -> dict:
    return {
        "name": campaign.name,
        "instrument": campaign.instrument,
        "target_departments": list(campaign.target_departments.all()),
        "languages": campaign.languages,
        "opens_at": campaign.opens_at,
        "closes_at": campaign.closes_at,
        "reminder_days": ", ".join(str(day) for day in campaign.reminder_days),
        "min_group_size": campaign.min_group_size,
        "attributes_used": campaign.attributes_used,
        "previous_campaign": campaign.previous_campaign,
    }


@never_cache
@org_view(Permission.MANAGE_CAMPAIGNS)
def campaign_new(request: HttpRequest) -> HttpResponse:
    """A guided form for a draft campaign; nothing is sent until it is launched."""
    headcounts = _headcounts(request)
    initial = {"languages": [code for code, _name in settings.LANGUAGES], "min_group_size": 5}
    form = CampaignForm(
        request.POST or None,
        organization=request.organization,
        headcounts=headcounts,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        try:
            campaign = campaign_create(organization=request.organization, **form.service_values())
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("The draft is saved. Check it, then launch it when ready."))
            return redirect("web:campaign", org=request.organization.slug, pk=campaign.pk)
    return render(
        request,
        "hr/campaign_form.html",
        {"form": form, "small": _small_targets(form, headcounts), "nav": "campaigns"},
        status=400 if form.errors else 200,
    )


@never_cache
@org_view(Permission.MANAGE_CAMPAIGNS)
def campaign_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a draft; once launched, only the name, dates and reminders can change."""
    campaign = campaign_for(access=request.access, pk=pk)
    if campaign.status == CampaignStatus.CLOSED:
        messages.error(request, _("A closed campaign cannot be changed."))
        return redirect("web:campaign", org=request.organization.slug, pk=campaign.pk)
    locked = () if campaign.status == CampaignStatus.DRAFT else FROZEN_AFTER_LAUNCH
    headcounts = _headcounts(request)
    form = CampaignForm(
        request.POST or None,
        organization=request.organization,
        headcounts=headcounts,
        initial=_initial(campaign),
        locked=locked,
    )
    if request.method == "POST" and form.is_valid():
        values = form.service_values()
        changes = {name: values[name] for name in form.changed_data if name not in locked}
        try:
            campaign_update(campaign=campaign, **changes)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("The campaign is saved."))
            return redirect("web:campaign", org=request.organization.slug, pk=campaign.pk)
    return render(
        request,
        "hr/campaign_form.html",
        {
            "form": form,
            "campaign": campaign,
            "small": _small_targets(form, headcounts),
            "nav": "campaigns",
        },
        status=400 if form.errors else 200,
    )


@never_cache
@org_view(Permission.VIEW_CAMPAIGNS)
def campaign_page(request: HttpRequest, pk: int) -> HttpResponse:
    """A campaign's settings and what can be done with it now."""
    campaign = campaign_for(access=request.access, pk=pk)
    context = {"campaign": campaign, "nav": "campaigns"}
    if request.access.can(Permission.MANAGE_CAMPAIGNS) and campaign.status == "draft":
        context["preview"] = campaign_launch_preview(access=request.access, campaign=campaign)
    if campaign.status != CampaignStatus.DRAFT and request.access.can(
        Permission.VIEW_PARTICIPATION
    ):
        context["top"] = widest(participation(access=request.access, campaign=campaign))
    return render(request, "hr/campaign.html", context)


@never_cache
@org_view(Permission.MANAGE_CAMPAIGNS)
def campaign_launch_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm who will be invited and how many, then launch."""
    campaign = campaign_for(access=request.access, pk=pk)
    preview = campaign_launch_preview(access=request.access, campaign=campaign)
    errors = []
    if request.method == "POST":
        try:
            with transaction.atomic():
                launched = campaign_launch(campaign=campaign)
                _audit(request, campaign, AuditAction.CAMPAIGN_LAUNCHED)
        except ValidationError as exc:
            errors = exc.messages
        else:
            if launched.status == CampaignStatus.OPEN:
                done = _("The campaign is open: invitations are on their way.")
            else:
                done = _("The campaign is scheduled: invitations go out when it opens.")
            messages.success(request, done)
            return redirect("web:campaign", org=request.organization.slug, pk=campaign.pk)
    return render(
        request,
        "hr/campaign_launch.html",
        {"campaign": campaign, "preview": preview, "errors": errors, "nav": "campaigns"},
        status=400 if errors else 200,
    )


@never_cache
@org_view(Permission.MANAGE_CAMPAIGNS)
def campaign_close_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, then close early: answers stop at once and the scoring starts."""
    campaign = campaign_for(access=request.access, pk=pk)
    errors = []
    if request.method == "POST":
        try:
            with transaction.atomic():
                campaign_close(campaign=campaign)
                _audit(request, campaign, AuditAction.CAMPAIGN_CLOSED)
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(request, _("The campaign is closed. Results are being computed."))
            return redirect("web:campaign", org=request.organization.slug, pk=campaign.pk)
    return render(
        request,
        "hr/campaign_close.html",
        {"campaign": campaign, "errors": errors, "nav": "campaigns"},
        status=400 if errors else 200,
    )


@require_POST
@org_view(Permission.MANAGE_CAMPAIGNS)
def campaign_remind(request: HttpRequest, pk: int) -> HttpResponse:
    """Remind now: everyone invited who has not answered gets one more reminder."""
    campaign = campaign_for(access=request.access, pk=pk)
    try:
        campaign_remind_now(campaign=campaign)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, _("Reminders are on their way to everyone who has not answered yet.")
        )
    return redirect("web:campaign", org=request.organization.slug, pk=campaign.pk)


@never_cache
@org_view(Permission.VIEW_CAMPAIGNS)
def instrument_page(request: HttpRequest, pk: int) -> HttpResponse:
    """A questionnaire's domains and questions in every language it has."""
    instrument = get_object_or_404(Instrument, pk=pk)
    spec = instrument_spec(instrument.pk)
    languages = list(spec.languages)
    domains = [
        {
            "code": domain.code,
            "titles": [(code, domain.title.get(code, "")) for code in languages],
            "items": [
                {
                    "number": item.number,
                    "texts": [(code, item.text.get(code, "")) for code in languages],
                    "reverse": item.reverse,
                }
                for item in domain.items
            ],
        }
        for domain in spec.domains
    ]
    return render(
        request,
        "hr/instrument.html",
        {
            "instrument": instrument,
            "languages": languages,
            "domains": domains,
            "questions": len(spec.items),
            "nav": "campaigns",
        },
    )
