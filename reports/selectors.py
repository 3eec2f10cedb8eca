"""Reads of results that every consumer shares (pages, PDF, API), honouring the viewer's scope.

Every function takes the viewer's Scope (accounts.selectors.scope_for): a manager sees their
subtree only, and nobody sees the organisation row unless they see the whole organisation.
Suppressed cells come back as they are stored, without figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from accounts.models import Department
from accounts.selectors import Scope, scope_for
from assessments.models import Campaign
from assessments.scoring import OVERALL
from assessments.selectors import ParticipationRow, campaign_participation
from reports.models import DomainResult, Report, ReportStatus, ResultRun


def current_run(*, campaign: Campaign) -> ResultRun | None:
    return (
        ResultRun.objects.for_organization(campaign.organization_id)
        .filter(campaign=campaign, is_current=True)
        .first()
    )


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
    cells = _cells(scope, campaign).filter(breakdown_attribute="").exclude(domain_code=OVERALL)
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
        .exclude(domain_code=OVERALL)
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
    """Published per-department priority rows, the most urgent first."""
    cells = _cells(scope, campaign).filter(
        domain_code=OVERALL, breakdown_attribute="", suppressed=False, department__isnull=False
    )
    return list(cells.order_by("-risk_score", "department__path"))


def participation(*, scope: Scope, campaign: Campaign) -> list[ParticipationRow]:
    """Invited and completed counts (k-thresholded) limited to what the viewer may see."""
    _check_scope(scope, campaign)
    return [
        row for row in campaign_participation(campaign=campaign) if scope.covers(row.department)
    ]


def report_for_download(*, user, report_id: int) -> Report | None:
    """A finished report the user may download, or None (missing, unfinished or not theirs).

    HR members who see the whole organisation get every report of it; a manager gets the
    packs of departments inside their subtree and never the organisation report. The admin
    site's superusers get every report, as they can in the admin.
    """
    report = (
        Report.objects.select_related("department", "campaign")
        .filter(pk=report_id, status=ReportStatus.DONE)
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
