"""The home page of an organisation, shaped by the role: what to work on first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from accounts.permissions import Permission
from assessments.models import Campaign, CampaignStatus
from assessments.selectors import campaigns, failed_deliveries
from reports.selectors import (
    OPEN_ACTION_STATUSES,
    actions,
    actions_overdue,
    reports,
    reports_ready,
)
from results.selectors import ParticipationRow, current_run, participation, widest
from web.access import org_view

# Reports finished this recently are listed as ready on the home page.
READY_FOR = dt.timedelta(days=7)


@dataclass
class CampaignLine:
    campaign: Campaign
    participation: ParticipationRow | None = None  # the widest group the viewer may see
    failed: int = 0
    scored: bool = False
    reports: list | None = None


@never_cache  # participation counts and names of people's reports
@org_view(Permission.VIEW_CAMPAIGNS)
def org_home(request: HttpRequest) -> HttpResponse:
    access = request.access
    found = list(campaigns(access=access).order_by("-created_at"))
    lines = {campaign.pk: CampaignLine(campaign) for campaign in found}
    running = [c for c in found if c.status in (CampaignStatus.OPEN, CampaignStatus.SCHEDULED)]
    closed = [c for c in found if c.status == CampaignStatus.CLOSED]
    if access.can(Permission.VIEW_PARTICIPATION):
        for campaign in running:
            if campaign.status == CampaignStatus.OPEN:
                lines[campaign.pk].participation = widest(
                    participation(access=access, campaign=campaign)
                )
    if access.can(Permission.MANAGE_CAMPAIGNS):
        for pk, failed in failed_deliveries(access=access, campaigns=running).items():
            lines[pk].failed = failed
    for campaign in closed:
        line = lines[campaign.pk]
        line.scored = current_run(campaign=campaign) is not None
        line.reports = list(reports(access=access, campaign=campaign).filter(status="done"))
    overdue = list(actions_overdue(access=access)[:10])
    context = {
        "drafts": [lines[c.pk] for c in found if c.status == CampaignStatus.DRAFT],
        "running": [lines[c.pk] for c in running],
        "closed": [lines[c.pk] for c in closed],
        "overdue": overdue,
        "open_actions": list(
            actions(access=access)
            .filter(status__in=OPEN_ACTION_STATUSES)
            .order_by("due_date", "pk")[:10]
        ),
        "ready": list(reports_ready(access=access, since=timezone.now() - READY_FOR)[:10]),
        "failed_total": sum(line.failed for line in lines.values()),
        "today": timezone.localdate(),
    }
    return render(request, "hr/home.html", context)
