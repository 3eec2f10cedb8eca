"""Reads of results that every consumer shares (pages, PDF, API), honouring the viewer's scope.

Every function takes the viewer's Scope (accounts.selectors.scope_for): a manager sees their
subtree only, and nobody sees the organisation row unless they see the whole organisation.
Suppressed cells come back as they are stored, without figures.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from accounts.models import Department
from accounts.selectors import Scope, scope_for
from assessments.models import Campaign, CampaignStatus
from assessments.scoring import OVERALL, RESPONDENTS
from assessments.scoring.engine import BAND_SEVERITY
from assessments.selectors import ParticipationRow, campaign_participation
from reports.models import DomainResult, Report, ReportStatus, ResultRun, RunStatus


def current_run(*, campaign: Campaign) -> ResultRun | None:
    return (
        ResultRun.objects.for_organization(campaign.organization_id)
        .filter(campaign=campaign, is_current=True)
        .first()
    )


def visible_runs() -> Q:
    """Runs anyone may still see: the current run of each campaign, and runs without results
    (waiting, running or failed). A finished run that was replaced is withdrawn."""
    return Q(is_current=True) | ~Q(status=RunStatus.DONE)


def published_respondents(*, run: ResultRun, department: Department | None = None) -> int | None:
    """The published number of respondents of a run (the organisation, or one department), or
    None where it is suppressed. Only a current run has published figures."""
    if not run.is_current:
        return None
    row = DomainResult.objects.filter(
        run=run, domain_code=RESPONDENTS, breakdown_attribute="", department=department
    ).first()
    return None if row is None or row.suppressed else row.n


def _check_scope(scope: Scope, campaign: Campaign) -> None:
    if scope.organization_id != campaign.organization_id or not scope.sees_anything:
        raise PermissionDenied("These results belong to an organisation you cannot see.")


def _cells(scope: Scope, campaign: Campaign) -> QuerySet[DomainResult]:
    _check_scope(scope, campaign)
    run = current_run(campaign=campaign)
    if run is None:
        return DomainResult.objects.none()
    cells = DomainResult.objects.filter(run=run).select_related("department")
    if scope.whole_organization:
        return cells
    return cells.filter(scope.department_filter(), department__isnull=False)


def campaign_results(*, scope: Scope, campaign: Campaign) -> QuerySet[DomainResult]:
    """Every visible cell of the campaign's current run (breakdowns and priorities included)."""
    return _cells(scope, campaign).order_by("department__path", "domain_code")


def department_results(
    *, scope: Scope, campaign: Campaign, department: Department
) -> QuerySet[DomainResult]:
    """The cells of one department and its subtree."""
    if department.organization_id != campaign.organization_id or not scope.covers(department):
        raise PermissionDenied(f"Department '{department}' is outside your scope.")
    return _cells(scope, campaign).filter(department__path__startswith=department.path)


@dataclass
class Heatmap:
    """Departments (rows, tree order, the organisation first) by domains (columns)."""

    domains: list[str]
    rows: list[tuple[Department | None, list[DomainResult | None]]] = field(default_factory=list)


def heatmap(*, scope: Scope, campaign: Campaign) -> Heatmap:
    """The departments-by-domains matrix of the current run, suppressed cells included."""
    domains = [d.code for d in campaign.instrument.domains.order_by("position")]
    cells = (
        _cells(scope, campaign)
        .filter(breakdown_attribute="")
        .exclude(domain_code__in=[OVERALL, RESPONDENTS])
    )
    by_department: dict[int | None, dict[str, DomainResult]] = {}
    departments: dict[int | None, Department | None] = {}
    for cell in cells:
        by_department.setdefault(cell.department_id, {})[cell.domain_code] = cell
        departments[cell.department_id] = cell.department
    order = sorted(departments, key=lambda pk: "" if pk is None else departments[pk].path)
    result = Heatmap(domains=domains)
    for pk in order:
        row = by_department[pk]
        result.rows.append((departments[pk], [row.get(code) for code in domains]))
    return result


def top_risks(
    *, scope: Scope, campaign: Campaign, department: Department | None = None, limit: int = 3
) -> list[DomainResult]:
    """The published domain cells with the highest risk score, overall or for one department.

    Without a department: the organisation's own cells for viewers who see it whole, else the
    cells of the manager's subtree root.
    """
    cells = (
        _cells(scope, campaign)
        .filter(breakdown_attribute="", suppressed=False)
        .exclude(domain_code__in=[OVERALL, RESPONDENTS])
    )
    if department is not None:
        if not scope.covers(department):
            raise PermissionDenied(f"Department '{department}' is outside your scope.")
        cells = cells.filter(department=department)
    elif scope.whole_organization:
        cells = cells.filter(department__isnull=True)
    else:
        cells = cells.filter(department__path=scope.subtree_path)
    return list(cells.order_by("-risk_score", "domain_code")[:limit])


def departments_by_priority(*, scope: Scope, campaign: Campaign) -> list[DomainResult]:
    """Published per-department priority rows, the most urgent first: the worst band of any
    domain, then the average risk score."""
    cells = _cells(scope, campaign).filter(
        domain_code=OVERALL, breakdown_attribute="", suppressed=False, department__isnull=False
    )
    # The worst band of any domain first, then the average risk score (as the PDF states).
    severity = Case(
        *(When(band=band, then=Value(rank)) for band, rank in BAND_SEVERITY.items()),
        output_field=IntegerField(),
    )
    return list(
        cells.annotate(severity=severity).order_by("-severity", "-risk_score", "department__path")
    )


def participation(*, scope: Scope, campaign: Campaign) -> list[ParticipationRow]:
    """Invited and answered counts limited to what the viewer may see.

    While a campaign is open they follow campaign_participation's rules. After close, a
    group's answered count is its published respondent count from the current run (the same
    suppression as every result), and a group whose count is suppressed shows no count at all;
    until a run exists, no answered count is shown.
    """
    _check_scope(scope, campaign)
    rows = [
        row for row in campaign_participation(campaign=campaign) if scope.covers(row.department)
    ]
    if campaign.status != CampaignStatus.CLOSED:
        return rows
    run = current_run(campaign=campaign)
    counts = (
        {}
        if run is None
        else dict(
            DomainResult.objects.filter(
                run=run, domain_code=RESPONDENTS, breakdown_attribute="", suppressed=False
            ).values_list("department_id", "n")
        )
    )
    published = []
    for row in rows:
        answered = counts.get(row.department.pk if row.department else None)
        if row.shown and answered is not None:
            published.append(dataclasses.replace(row, completed=answered))
        else:
            published.append(dataclasses.replace(row, shown=False, invited=None, completed=None))
    return published


def report_for_download(*, user, report_id: int) -> Report | None:
    """A finished report the user may download, or None (missing, unfinished or not theirs).

    HR members who see the whole organisation get every report of it; a manager gets the
    packs of departments inside their subtree and never the organisation report. The admin
    site's superusers get every report, as they can in the admin.
    """
    report = (
        Report.objects.select_related("department", "campaign")
        # A report made from a run that was replaced is withdrawn.
        .filter(pk=report_id, status=ReportStatus.DONE, result_run__is_current=True)
        .exclude(file="")
        .first()
    )
    if report is None or not getattr(user, "is_authenticated", False):
        return None
    if user.is_superuser:
        return report
    scope = scope_for(user=user, organization=report.organization_id)
    return report if scope.covers(report.department) else None


__all__ = [
    "Heatmap",
    "campaign_results",
    "current_run",
    "department_results",
    "departments_by_priority",
    "heatmap",
    "participation",
    "report_for_download",
    "top_risks",
]
