"""Results of a closed campaign: the overview, the heatmap and the Excel export, from the same
selectors as the PDF, so a page can never show what the PDF hides."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from accounts.models import AuditAction, Department
from accounts.permissions import NotVisible, Permission
from accounts.services import audit_record
from assessments.models import CampaignStatus
from assessments.selectors import campaign_for, instrument_spec
from reports.charts import BAND_SYMBOLS, band_distribution
from reports.effectiveness import actions_effectiveness
from reports.exports import campaign_cells_xlsx
from reports.recommendations import ACTION_BANDS, recommendations
from reports.rendering import band_labels
from reports.selectors import actions
from results.models import DomainResult
from results.scoring import OVERALL, RESPONDENTS
from results.scoring.engine import BAND_SEVERITY
from results.selectors import (
    campaign_results,
    current_run,
    department_results,
    departments_by_priority,
    heatmap,
    participation,
    top_risks,
    widest,
)
from web.access import org_view
from web.forms import FastSelect
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
    request: HttpRequest,
    campaign,
    page: str,
    action: str = AuditAction.RESULTS_VIEWED,
    detail: dict | None = None,
) -> None:
    audit_record(
        organization=request.organization,
        actor=request.user,
        action=action,
        subject=f"campaign {campaign.pk}: {campaign.name}",
        detail={"page": page, **(detail or {})},
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


class _Collapsed:
    """The tree order cut to what is open: the top level, and the children of every open
    department whose own row shows. `?open=` lists the open departments (`all`: everything);
    without it, the top level is open. Called with the departments that have cells, it names
    the rows to show, and keeps a toggle (URL, open?) per shown department with children."""

    def __init__(self, request: HttpRequest):
        self.request = request
        self.raw = request.GET.get("open")
        self.toggles: dict[int, tuple[str, bool]] = {}

    def __call__(self, departments: list[Department]) -> set[int]:
        top_depth = min((d.depth for d in departments), default=0)
        with_children = {d.parent_id for d in departments if d.parent_id}
        if self.raw == "all":
            opened = set(with_children)
        elif self.raw is None:
            opened = {d.pk for d in departments if d.depth == top_depth}
        else:
            opened = {int(part) for part in self.raw.split(",") if part.isdigit()}
        shown = set()
        for department in departments:  # tree order: a parent before its children
            if department.depth == top_depth or (
                department.parent_id in opened and department.parent_id in shown
            ):
                shown.add(department.pk)
        query = self.request.GET.copy()
        for department in departments:
            if department.pk not in shown or department.pk not in with_children:
                continue
            is_open = department.pk in opened
            after = (opened - {department.pk}) if is_open else (opened | {department.pk})
            query["open"] = ",".join(str(pk) for pk in sorted(after & with_children)) or "none"
            self.toggles[department.pk] = ("?" + query.urlencode(), is_open)
        return shown


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
    subtree = None
    if department_id := request.GET.get("department", "").strip():
        subtree = (
            Department.objects.visible_to(access).filter(pk=department_id).first()
            if department_id.isdigit()
            else None
        )
    # In tree order, the subtrees open and close: only the rows shown are read.
    collapsed = _Collapsed(request) if sort == "tree" and subtree is None else None
    matrix = heatmap(access=access, campaign=campaign, keep=collapsed)
    _audit_view(request, campaign, "heatmap")
    rows = matrix.rows
    if subtree is not None:
        rows = [
            (d, cells) for d, cells in rows if d is not None and d.path.startswith(subtree.path)
        ]
    if sort == "priority":
        # As departments_by_priority orders them: the worst band, then the average risk score
        # (departments without a published priority last), ties in tree order.
        worst = {
            pk: (BAND_SEVERITY.get(cell.band, -1), cell.risk_score or 0)
            for pk, cell in matrix.overall.items()
            if pk is not None and not cell.suppressed
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
    department_select = FastSelect(
        choices=[("", _("All"))]
        + [
            (pk, f"{'— ' * depth}{name}")
            for pk, name, depth in departments.values_list("pk", "name", "depth")
        ]
    ).render("department", subtree.pk if subtree else "", attrs={"id": "department"})
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
                link=reverse(
                    "web:results_department",
                    kwargs={"org": request.organization.slug, "pk": pk, "department": 0},
                ),
                toggles=collapsed.toggles if collapsed else {},
            ),
            "expanded": (collapsed.raw or "") if collapsed else "",
            "has_rows": bool(rows),
            "value": value,
            "sort": sort,
            "subtree": subtree,
            "department_select": department_select,
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


def _results_department(request: HttpRequest, department_pk: int) -> Department:
    """A department the access covers that has results in the campaign's current run."""
    department = Department.objects.visible_to(request.access).filter(pk=department_pk).first()
    if department is None or not request.access.covers(department):
        raise NotVisible("No such department here.")
    return department


@never_cache
@org_view(Permission.VIEW_RESULTS)
def department_results_page(request: HttpRequest, pk: int, department: int) -> HttpResponse:
    """One department: every domain with its band, risk score, share at high risk, spread,
    respondents per band and change since the previous campaign; the breakdowns that passed
    suppression; suggested actions for the domains in the two worst bands; its action plan."""
    access = request.access
    campaign = _closed_campaign(request, pk)
    department = _results_department(request, department)
    cells = list(
        # The department and its children: department_results is already cut to its subtree.
        department_results(access=access, campaign=campaign, department=department).filter(
            department__depth__lte=department.depth + 1
        )
    )
    own = [cell for cell in cells if cell.department_id == department.pk]
    if not own:
        raise NotVisible("This department has no results in this campaign.")
    _audit_view(request, campaign, "department", detail={"department": department.name})
    language = request.LANGUAGE_CODE
    spec = instrument_spec(campaign.instrument_id)
    labels = band_labels()
    totals = {c.domain_code: c for c in own if not c.breakdown_attribute}
    domains = []
    for domain in spec.domains:
        cell = totals.get(domain.code)
        if cell is None:
            continue
        title = domain.title.get(language) or domain.title.get("en", domain.code)
        chart = None
        if not cell.suppressed and cell.band_counts:
            chart = band_distribution(
                cell.band_counts,
                labels=labels,
                title=_("Respondents per band: %(domain)s") % {"domain": title},
            )
        suggestions = (
            recommendations(
                instrument_code=spec.code, domain_code=domain.code, band=cell.band,
                language=language,
            )
            if not cell.suppressed and cell.band in ACTION_BANDS
            else []
        )  # fmt: skip
        domains.append(
            {"code": domain.code, "title": title, "cell": cell, "chart": mark_safe(chart or ""),
             "suggestions": suggestions}
        )  # fmt: skip
    breakdowns: dict[str, list[DomainResult]] = {}
    titles = {entry["code"]: entry["title"] for entry in domains}
    for cell in own:
        if cell.breakdown_attribute and not cell.suppressed and cell.domain_code in titles:
            breakdowns.setdefault(cell.breakdown_attribute, []).append(cell)
    children = sorted(
        (
            c
            for c in cells
            if c.department_id != department.pk
            and c.domain_code == OVERALL
            and not c.breakdown_attribute
        ),
        key=lambda c: c.department.path,
    )
    # The department's actions of this campaign, and of the previous one: what they changed
    # shows once a follow-up on the same questionnaire is scored.
    plan = list(
        actions(access=access)
        .filter(department=department, campaign_id__in=[campaign.pk, campaign.previous_campaign_id])
        .select_related("campaign")
        .order_by("campaign__created_at", "due_date", "pk")
    )
    effects = actions_effectiveness(access=access, actions=plan)
    for action in plan:
        action.effect = effects.get(action.pk)
    return render(
        request,
        "hr/results_department.html",
        {
            "campaign": campaign,
            "department": department,
            "overall": totals.get(OVERALL),
            "respondents": totals.get(RESPONDENTS),
            "domains": domains,
            "worst": sorted(
                (d for d in domains if d["suggestions"]), key=lambda d: -d["cell"].risk_score
            ),
            "breakdowns": [
                (attribute, sorted(rows, key=lambda c: (c.breakdown_value, c.domain_code)))
                for attribute, rows in sorted(breakdowns.items())
            ],
            "titles": titles,
            "children": children,
            "actions": plan,
            "band_labels": labels,
            "symbols": BAND_SYMBOLS,
            "nav": "campaigns",
        },
    )


@never_cache
@org_view(Permission.VIEW_RESULTS)
def domain_results_page(request: HttpRequest, pk: int, domain: str) -> HttpResponse:
    """One domain across departments: published departments ranked by risk score, then the
    departments whose result is hidden, named without any figure."""
    access = request.access
    campaign = _closed_campaign(request, pk)
    titles = _domain_titles(campaign, request.LANGUAGE_CODE)
    if domain not in titles:
        raise NotVisible("No such domain in this questionnaire.")
    picked = request.GET.get("domain")
    if picked and picked != domain and picked in titles:
        return redirect("web:results_domain", org=request.organization.slug, pk=pk, domain=picked)
    cells = list(
        campaign_results(access=access, campaign=campaign).filter(
            domain_code=domain, breakdown_attribute="", department__isnull=False
        )
    )
    _audit_view(request, campaign, "domain", detail={"domain": domain})
    shown = sorted(
        (c for c in cells if not c.suppressed),
        key=lambda c: (-(c.risk_score or 0), c.department.path),
    )
    hidden = sorted((c for c in cells if c.suppressed), key=lambda c: c.department.path)
    return render(
        request,
        "hr/results_domain.html",
        {
            "campaign": campaign,
            "domain": domain,
            "title": titles[domain],
            "shown": shown,
            "hidden": hidden,
            "domains": list(titles.items()),
            "band_labels": band_labels(),
            "symbols": BAND_SYMBOLS,
            "nav": "campaigns",
        },
    )
