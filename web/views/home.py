"""The home page of an organisation, shaped by the role: what to work on first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from accounts.permissions import Permission
from accounts.selectors import sync_runs_awaiting_approval
from assessments.models import Campaign, CampaignStatus
from assessments.selectors import campaigns, failed_deliveries, instrument_spec
from reports.charts import BAND_SYMBOLS
from reports.rendering import band_labels
from reports.selectors import (
    OPEN_ACTION_STATUSES,
    actions,
    actions_overdue,
    reports,
    reports_ready,
)
from results.scoring import OVERALL, RESPONDENTS
from results.selectors import (
    ParticipationRow,
    campaign_results,
    current_run,
    participation,
    top_risks,
    widest,
)
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
    latest = next((c for c in closed if lines[c.pk].scored), None)
    context = {
        "latest": _latest_results(access, latest) if latest else None,
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
        "syncs_waiting": list(sync_runs_awaiting_approval(access=access)[:10]),
        "today": timezone.localdate(),
    }
    if context["latest"]:
        spec = instrument_spec(context["latest"].campaign.instrument_id)
        language = request.LANGUAGE_CODE
        context["titles"] = {
            d.code: d.title.get(language) or d.title.get("en", d.code) for d in spec.domains
        }
        context["band_labels"] = band_labels()
        context["symbols"] = BAND_SYMBOLS
    return render(request, "hr/home.html", context)


@dataclass
class LatestResults:
    """The newest scored campaign, seen from the top of what the access covers: the whole
    organisation, or a manager's department."""

    campaign: Campaign
    department_id: int | None  # None: the whole organisation
    overall: object | None  # the published priority cell, or None where hidden
    respondents: int | None
    risks: list
    packs: list  # finished PDFs of that department (a manager's own pack)


def _latest_results(access, campaign: Campaign) -> LatestResults | None:
    if not access.can(Permission.VIEW_RESULTS):
        return None
    top = None if access.whole_organization else access.ancestor_or_self_ids()[-1]
    cells = campaign_results(access=access, campaign=campaign).filter(
        breakdown_attribute="", domain_code__in=[OVERALL, RESPONDENTS]
    )
    cells = cells.filter(department_id=top) if top else cells.filter(department__isnull=True)
    by_code = {cell.domain_code: cell for cell in cells if not cell.suppressed}
    packs = []
    if top is not None and access.can(Permission.VIEW_REPORTS):
        packs = list(reports(access=access, campaign=campaign).filter(
            status="done", department_id=top))  # fmt: skip
    respondents = by_code.get(RESPONDENTS)
    return LatestResults(
        campaign=campaign,
        department_id=top,
        overall=by_code.get(OVERALL),
        respondents=respondents.n if respondents else None,
        risks=top_risks(access=access, campaign=campaign, limit=3),
        packs=packs,
    )
