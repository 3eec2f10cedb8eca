"""Reads of reports and action plans within an access (accounts.permissions).

Result cells, heatmaps, priorities and participation are read through `results.selectors`.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet
from django.utils import timezone

from accounts.permissions import Access, Permission
from assessments.models import Campaign
from assessments.selectors import campaign_require_visible
from reports.models import Action, ActionStatus, Report, ReportStatus


def reports(*, access: Access, campaign: Campaign) -> QuerySet[Report]:
    """The campaign's reports the access may see: the organisation report and every pack for
    whole-organisation roles, the packs inside their subtree for a manager. Reports made from
    a run that was replaced are withdrawn."""
    campaign_require_visible(access=access, campaign=campaign)
    access.require(Permission.VIEW_REPORTS)
    return (
        Report.objects.visible_to(access)
        .filter(campaign=campaign, result_run__is_current=True)
        .select_related("department")
    )


def report_for_download(*, access: Access, report_id: int) -> Report | None:
    """A finished report the access may download, or None (missing, unfinished, withdrawn or
    outside its organisation or subtree)."""
    if not access.can(Permission.VIEW_REPORTS):
        return None
    return (
        Report.objects.visible_to(access)
        .select_related("department", "campaign")
        # A report made from a run that was replaced is withdrawn.
        .filter(pk=report_id, status=ReportStatus.DONE, result_run__is_current=True)
        .exclude(file="")
        .first()
    )


def actions(*, access: Access, campaign: Campaign | None = None) -> QuerySet[Action]:
    """Action plans the access may see, of one campaign or all, in due-date order."""
    access.require(Permission.VIEW_ACTIONS)
    rows = Action.objects.visible_to(access).select_related("department", "campaign")
    if campaign is not None:
        campaign_require_visible(access=access, campaign=campaign)
        rows = rows.filter(campaign=campaign)
    return rows


OPEN_ACTION_STATUSES = (ActionStatus.PLANNED, ActionStatus.IN_PROGRESS)


def actions_overdue(*, access: Access, today: dt.date | None = None) -> QuerySet[Action]:
    """Open actions (planned or in progress) past their due date, the most overdue first."""
    today = today or timezone.localdate()
    return (
        actions(access=access)
        .filter(status__in=OPEN_ACTION_STATUSES, due_date__lt=today)
        .order_by("due_date", "pk")
    )


def reports_ready(*, access: Access, since: dt.datetime) -> QuerySet[Report]:
    """Finished reports of current runs made since `since` that the access may download."""
    access.require(Permission.VIEW_REPORTS)
    return (
        Report.objects.visible_to(access)
        .filter(status=ReportStatus.DONE, result_run__is_current=True, finished_at__gte=since)
        .exclude(file="")
        .select_related("campaign", "department")
        .order_by("-finished_at")
    )
