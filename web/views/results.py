"""Results of a closed campaign: the overview, the heatmap and the Excel export, from the same
selectors as the PDF, so a page can never show what the PDF hides."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.text import slugify
from django.views.decorators.cache import never_cache

from accounts.models import AuditAction, Department
from accounts.permissions import NotVisible, Permission
from accounts.services import audit_record
from assessments.models import CampaignStatus
from assessments.selectors import campaign_for, instrument_spec
from reports.charts import BAND_SYMBOLS
from reports.exports import campaign_cells_xlsx
from reports.rendering import band_labels
from results.scoring.engine import BAND_SEVERITY
from results.selectors import (
    campaign_results,
    current_run,
    departments_by_priority,
    heatmap,
    participation,
    top_risks,
    widest,
)
from web.access import org_view
from web.tables import heatmap_rows

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SORTS = ("tree", "priority")
VALUES = ("risk", "change")


def _closed_campaign(request: HttpRequest, pk: int):
    campaign = campaign_for(access=request.access, pk=pk)
    if campaign.status != CampaignStatus.CLOSED:
        raise NotVisible("Results are shown only for a closed campaign.")
    return campaign


def _audit_view(
    request: HttpRequest, campaign, page: str, action: str = AuditAction.RESULTS_VIEWED
) -> None:
    audit_record(
        organization=request.organization,
        actor=request.user,
        action=action,
        subject=f"campaign {campaign.pk}: {campaign.name}",
        detail={"page": page},
    )


def _domain_titles(campaign, language: str) -> dict[str, str]:
    spec = instrument_spec(campaign.instrument_id)
    return {
        domain.code: domain.title.get(language) or domain.title.get("en", domain.code)
        for domain in spec.domains
    }


@never_cache
@org_view(Permission.VIEW_RESULTS)
def results_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The summary HR reads first: participation, overall risk, the highest risks, the
    departments to look at first and what changed significantly since the last campaign."""
    access = request.access
    campaign = _closed_campaign(request, pk)
    titles = _domain_titles(campaign, request.LANGUAGE_CODE)
    run = current_run(campaign=campaign)
    _audit_view(request, campaign, "overview")
    context = {"campaign": campaign, "run": run, "titles": titles, "nav": "campaigns"}
    if run is not None:
        cells = campaign_results(access=access, campaign=campaign).filter(breakdown_attribute="")
        top = None if access.whole_organization else access.ancestor_or_self_ids()[-1]
        scope = cells.filter(department_id=top) if top else cells.filter(department__isnull=True)
        by_code = {cell.domain_code: cell for cell in scope}
        context.update(
            overall=by_code.get("overall"),
            respondents=by_code.get("respondents"),
            risks=top_risks(access=access, campaign=campaign, limit=3),
            priorities=departments_by_priority(access=access, campaign=campaign)[:10],
            changes=[
                cell
                for cell in scope
                if cell.trend_significant and cell.domain_code in titles and not cell.suppressed
            ],
            band_labels=band_labels(),
            symbols=BAND_SYMBOLS,
        )
        if access.can(Permission.VIEW_PARTICIPATION):
            context["participation"] = widest(participation(access=access, campaign=campaign))
    return render(request, "hr/results.html", context)


@never_cache
@org_view(Permission.VIEW_RESULTS)
def heatmap_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Departments by domains, each cell with its band as colour, symbol and word, and its
    number; hidden cells marked. Sorted by tree or priority or one domain, cut to a subtree,
    showing the risk score or the change since the previous campaign."""
    access = request.access
    campaign = _closed_campaign(request, pk)
    titles = _domain_titles(campaign, request.LANGUAGE_CODE)
    value = request.GET.get("value") if request.GET.get("value") in VALUES else "risk"
    sort = request.GET.get("sort", "tree")
    if sort not in SORTS and sort not in titles:
        sort = "tree"
    matrix = heatmap(access=access, campaign=campaign)
    _audit_view(request, campaign, "heatmap")
    rows = matrix.rows
    subtree = None
    if department_id := request.GET.get("department", "").strip():
        subtree = (
            Department.objects.visible_to(access).filter(pk=department_id).first()
            if department_id.isdigit()
            else None
        )
        if subtree is not None:
            rows = [
                (d, cells) for d, cells in rows if d is not None and d.path.startswith(subtree.path)
            ]
    if sort == "priority":
        worst = {
            cell.department_id: (BAND_SEVERITY.get(cell.band, -1), cell.risk_score or 0)
            for cell in departments_by_priority(access=access, campaign=campaign)
        }
        rows = sorted(rows, key=lambda row: worst.get(row[0] and row[0].pk, (-2, 0)), reverse=True)
    elif sort in titles:
        column = matrix.domains.index(sort)

        def by_domain(row):
            cell = row[1][column]
            return (
                cell is not None and not cell.suppressed,
                cell.risk_score if cell and cell.risk_score is not None else -1,
            )

        rows = sorted(rows, key=by_domain, reverse=True)
    top_depth = min((d.depth for d, _cells in rows if d is not None), default=0)
    departments = Department.objects.visible_to(access).filter(is_active=True).order_by("path")
    return render(
        request,
        "hr/heatmap.html",
        {
            "campaign": campaign,
            "domains": [(code, titles.get(code, code)) for code in matrix.domains],
            "rows_html": heatmap_rows(
                rows,
                value=value,
                k=campaign.min_group_size,
                top_depth=top_depth,
                labels=band_labels(),
                indent=sort == "tree",
            ),
            "has_rows": bool(rows),
            "value": value,
            "sort": sort,
            "subtree": subtree,
            "departments": departments,
            "band_labels": band_labels(),
            "symbols": BAND_SYMBOLS,
            "nav": "campaigns",
        },
    )


@never_cache
@org_view(Permission.EXPORT_RESULTS)
def results_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The published cells the user may see as an Excel workbook; suppressed cells listed
    without any figure. Recorded in the audit trail like a results page."""
    campaign = _closed_campaign(request, pk)
    data = campaign_cells_xlsx(
        access=request.access, campaign=campaign, language=request.LANGUAGE_CODE
    )
    _audit_view(request, campaign, "export", AuditAction.RESULTS_EXPORTED)
    response = HttpResponse(data, content_type=XLSX)
    name = slugify(campaign.name) or f"campaign-{campaign.pk}"
    response["Content-Disposition"] = f'attachment; filename="{name}-results.xlsx"'
    return response
