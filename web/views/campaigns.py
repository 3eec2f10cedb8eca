"""Campaign pages: the live participation monitor and delivery problems."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.permissions import Permission
from assessments.models import CampaignStatus
from assessments.selectors import campaign_for, delivery_failures, failed_deliveries
from assessments.services import invitations_retry_failed
from results.selectors import participation
from web.access import org_view

# Seconds between refreshes of the participation table while the page is visible.
POLL_SECONDS = 15


def _participation_context(request: HttpRequest, pk: int) -> dict:
    access = request.access
    campaign = campaign_for(access=access, pk=pk)
    rows = participation(access=access, campaign=campaign)
    top = min(rows, key=lambda row: row.depth, default=None)
    failed = (
        failed_deliveries(access=access, campaigns=[campaign]).get(campaign.pk, 0)
        if access.can(Permission.MANAGE_CAMPAIGNS)
        else 0
    )
    lowest = top.depth if top else 0
    return {
        "campaign": campaign,
        # Each row with its indentation below the widest group shown (at most 6 steps).
        "lines": [(row, min(row.depth - lowest, 6)) for row in rows],
        "top": top,
        "failed": failed,
        "live": campaign.status == CampaignStatus.OPEN,
        "poll_seconds": POLL_SECONDS,
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
