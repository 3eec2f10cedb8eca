"""The one rendering module: report data → template → HTML → PDF.

Both reports are built from the result selectors, so they can only show what the selectors
give out: suppressed cells arrive without figures and are never turned into numbers here.
`render_report` returns the HTML as well as the PDF, so tests can read what was laid out.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import Department
from accounts.permissions import access_for_organization
from assessments.models import Campaign
from reports import charts
from reports.effectiveness import actions_effectiveness, follow_ups
from reports.models import Action, ActionStatus
from reports.pdf import html_to_pdf
from reports.recommendations import ACTION_BANDS, recommendations
from results.models import Band, DomainResult, ResultRun
from results.scoring import OVERALL, RESPONDENTS
from results.scoring.engine import BAND_SEVERITY
from results.selectors import current_run, participation

# How many departments a domain page ranks by name; the heatmap shows them all.
RANKED_PER_DOMAIN = 12


class ReportUnavailableError(ValueError):
    """The campaign has no scored results to report on."""


@dataclass(frozen=True)
class RenderedReport:
    html: str
    pdf: bytes
    pages: int


@dataclass
class DomainInfo:
    code: str
    title: str
    description: str
    direction: str
    normed: bool
    cutoffs: tuple


@dataclass
class DepartmentPage:
    department: Department
    overall: DomainResult
    cells: list[tuple[DomainInfo, DomainResult]]
    top_risks: list[tuple[DomainInfo, DomainResult]]
    trends: list[tuple[DomainInfo, DomainResult]]
    suggestions: list[tuple[DomainInfo, str, list]]
    actions: list[Action]
    significant: list[tuple[DomainInfo, DomainResult]] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        """Domains compared with the previous survey whose change is not significant."""
        return len(self.trends) - len(self.significant)


@dataclass
class AreaRow:
    """One department of a pack's subtree: participation and, where published, priorities."""

    participation: object  # results.selectors.ParticipationRow
    page: DepartmentPage | None  # None: results suppressed


def band_labels() -> dict[str, str]:
    return {
        Band.URGENT: _("Urgent action"),
        Band.IMPROVE: _("Improvement needed"),
        Band.GOOD: _("Good, room to improve"),
        Band.WELL: _("Doing well"),
    }


def status_labels() -> dict[str, str]:
    return {
        ActionStatus.PLANNED: _("Planned"),
        ActionStatus.IN_PROGRESS: _("In progress"),
        ActionStatus.DONE: _("Done"),
        ActionStatus.CANCELLED: _("Cancelled"),
    }


def render_report(
    *,
    campaign: Campaign,
    language: str,
    department: Department | None = None,
    run: ResultRun | None = None,
) -> RenderedReport:
    """The organisation report (no department) or one department's pack, in `language`.

    From `run` when given (a queued report renders the run it was asked for, even if a newer
    run has become current since), else from the campaign's current run.
    """
    run = run or current_run(campaign=campaign)
    if run is None:
        raise ReportUnavailableError(
            f"Campaign '{campaign}' has no results yet: it is scored after it closes."
        )
    with translation.override(language):
        context = _context(campaign=campaign, run=run, language=language, department=department)
        if department is not None:
            template = "reports/department.html"
        elif context["too_few"]:
            template = "reports/too_few.html"
        else:
            template = "reports/organisation.html"
        html = render_to_string(template, context)
    pdf, pages = html_to_pdf(html)
    return RenderedReport(html=html, pdf=pdf, pages=pages)


def _context(*, campaign: Campaign, run: ResultRun, language: str, department) -> dict:
    organization = campaign.organization
    # Reports are made for the organisation; a pack is cut to its department below.
    access = access_for_organization(organization)
    instrument = campaign.instrument
    norms = instrument.definition.get("norms") or {}
    domains = [
        DomainInfo(
            code=d.code,
            title=d.title.get(language) or d.title.get("en", d.code),
            description=(_domain_description(instrument, d.code) or {}).get(language, ""),
            direction=d.direction,
            normed=bool(d.benchmark),
            cutoffs=tuple((d.benchmark or {}).get(p) for p in ("p20", "p50", "p80"))
            if d.benchmark
            else tuple(d.band_cutoffs or ()),
        )
        for d in instrument.domains.order_by("position")
    ]
    by_code = {d.code: d for d in domains}
    departments = {d.pk: d for d in Department.objects.for_organization(organization)}
    cells: dict[tuple[int | None, str], DomainResult] = {}
    labels = band_labels()
    for cell in DomainResult.objects.filter(run=run, breakdown_attribute=""):
        cell.department = departments.get(cell.department_id)
        # Display helpers; a suppressed cell has no band, so it gets none.
        cell.band_label = labels.get(cell.band, "")
        cell.band_symbol = charts.BAND_SYMBOLS.get(cell.band, "")
        cell.band_colour = charts.BAND_COLOURS.get(cell.band, "")
        if not cell.suppressed:
            cell.share_high_risk_percent = (
                None if cell.share_high_risk is None else round(cell.share_high_risk * 100)
            )
            domain = by_code.get(cell.domain_code)
            cell.trend_worse = bool(
                domain
                and cell.trend_diff is not None
                and (cell.trend_diff > 0) == (domain.direction == "higher_is_worse")
            )
        cells[(cell.department_id, cell.domain_code)] = cell
    k = campaign.min_group_size

    if department is not None:
        subtree_ids = {d.pk for d in departments.values() if d.path.startswith(department.path)}
    else:
        subtree_ids = set(departments)

    def published(department_id) -> bool:
        overall = cells.get((department_id, OVERALL))
        return overall is not None and not overall.suppressed

    rows = sorted(
        (d for pk, d in departments.items() if pk in subtree_ids and published(pk)),
        key=lambda d: d.path,
    )
    hidden_departments = sum(
        1 for pk in subtree_ids if not published(pk) and (pk, OVERALL) in cells
    )
    heatmap = [(d, [cells.get((d.pk, code)) for code in by_code]) for d in rows]
    actions = _actions(campaign, subtree_ids)
    pages = [
        _department_page(d, domains, cells, actions.get(d.pk, []), instrument.code, language)
        for d in rows
    ]
    context = {
        "campaign": campaign,
        "organization": organization,
        "instrument": instrument,
        "instrument_title": instrument.title_in(language),
        "norms_note": (norms.get("note") or {}).get(language, ""),
        "normed": bool(norms.get("normed")),
        "run": run,
        "k": k,
        "language": language,
        "domains": domains,
        "band_labels": labels,
        "band_symbols": charts.BAND_SYMBOLS,
        "band_colours": charts.BAND_COLOURS,
        "heatmap": heatmap,
        "hidden_departments": hidden_departments,
        "generated_on": timezone.localdate(),
        "department": department,
    }
    if department is None:
        context.update(
            _organisation_summary(campaign, access, cells, by_code, departments, labels, published)
        )
        context["domain_pages"] = [_domain_page(domain, cells, rows, labels) for domain in domains]
        context["department_pages"] = pages
        context["library"] = _library(instrument.code, domains, cells, language)
    else:
        if not published(department.pk):
            raise ReportUnavailableError(
                f"Department '{department}' has no published results (fewer than {k} "
                "respondents, or hidden so that a smaller group cannot be worked out by "
                "subtraction): no pack can be made without exposing them."
            )
        context["page"] = next(p for p in pages if p.department.pk == department.pk)
        by_department = {p.department.pk: p for p in pages}
        context["participation"] = _participation_counts(
            [
                row
                for row in participation(access=access, campaign=campaign)
                if row.department is not None and row.department.pk in subtree_ids
            ],
            published,
        )
        # What was agreed further down the subtree (the department's own plan is on its page).
        context["area_actions"] = sorted(
            (
                (departments[department_id], action)
                for department_id, found in actions.items()
                # A hidden department is only ever named beside the "hidden" mark.
                if department_id != department.pk and published(department_id)
                for action in found
            ),
            key=lambda pair: (pair[0].path, pair[1].due_date or dt.date.max, pair[1].pk),
        )
        # The department and its subtree: who took part and, where published, what stands out.
        context["area"] = [
            AreaRow(participation=row, page=by_department.get(row.department.pk))
            for row in context["participation"]
        ]
    context["effectiveness"] = _effectiveness(campaign, access, subtree_ids, departments, by_code)
    context["suppressed_ids"] = {pk for pk in subtree_ids if not published(pk)}
    # The published number of respondents of the report's scope; None where it is suppressed.
    count = cells.get((department.pk if department else None, RESPONDENTS))
    context["respondents"] = None if count is None or count.suppressed else count.n
    # Nothing shown even for the whole organisation: the report says so instead of implying
    # that all is well.
    context["too_few"] = department is None and not published(None)
    return context


def _participation_counts(rows, published) -> list:
    """Participation rows without counts wherever the results are suppressed: how many
    answered a group is its n, which a suppressed group must not give away."""
    return [
        row
        if not row.shown or published(row.department.pk if row.department else None)
        else dataclasses.replace(row, shown=False, invited=None, completed=None)
        for row in rows
    ]


def _domain_description(instrument, code: str) -> dict | None:
    for domain in instrument.definition["domains"]:
        if domain["code"] == code:
            return domain.get("description")
    return None


def _actions(campaign: Campaign, department_ids: set[int]) -> dict[int, list[Action]]:
    found: dict[int, list[Action]] = {}
    today = timezone.localdate()
    statuses = status_labels()
    for action in Action.objects.for_organization(campaign.organization_id).filter(
        campaign=campaign, department_id__in=department_ids
    ):
        action.status_label = statuses.get(action.status, action.status)
        action.overdue = bool(
            action.due_date
            and action.due_date < today
            and action.status not in (ActionStatus.DONE, ActionStatus.CANCELLED)
        )
        found.setdefault(action.department_id, []).append(action)
    return found


def _effectiveness(campaign, access, department_ids, departments, by_code) -> dict | None:
    """The actions of the previous campaign whose follow-up is this one, each with its domain
    before → after (reports.effectiveness): what changed where actions were taken."""
    previous = campaign.previous_campaign
    if previous is None:
        return None
    later = follow_ups(organization_id=campaign.organization_id, campaign_ids=[previous.pk])
    if campaign not in later.get(previous.pk, []):
        return None
    earlier = list(
        Action.objects.for_organization(campaign.organization_id)
        .filter(campaign=previous, department_id__in=department_ids)
        .order_by("department__path", "domain_code", "pk")
    )
    if not earlier:
        return None
    found = actions_effectiveness(access=access, actions=earlier, follow_up=campaign)
    statuses = status_labels()
    rows = []
    for action in earlier:
        action.status_label = statuses.get(action.status, action.status)
        domain = by_code.get(action.domain_code)
        rows.append(
            (
                departments[action.department_id],
                domain.title if domain else action.domain_code,
                action,
                found[action.pk],
            )
        )
    return {"previous": previous, "rows": rows}


def _department_page(department, domains, cells, actions, instrument_code, language):
    shown = [
        (domain, cells[(department.pk, domain.code)])
        for domain in domains
        if (department.pk, domain.code) in cells
        and not cells[(department.pk, domain.code)].suppressed
    ]
    ranked = sorted(shown, key=lambda pair: -pair[1].risk_score)
    suggestions = [
        (
            domain,
            cell.band,
            recommendations(
                instrument_code=instrument_code,
                domain_code=domain.code,
                band=cell.band,
                language=language,
            ),
        )
        for domain, cell in ranked
        if cell.band in ACTION_BANDS
    ]
    return DepartmentPage(
        department=department,
        overall=cells[(department.pk, OVERALL)],
        cells=shown,
        top_risks=ranked[:3],
        trends=[(d, c) for d, c in shown if c.trend_diff is not None],
        significant=sorted(
            ((d, c) for d, c in shown if c.trend_diff is not None and c.trend_significant),
            key=lambda pair: -abs(pair[1].trend_diff),
        ),
        suggestions=suggestions,
        actions=sorted(actions, key=lambda a: (a.due_date or dt.date.max, a.pk)),
    )


def _organisation_summary(campaign, access, cells, by_code, departments, labels, published):
    organisation = [
        (by_code[code], cell)
        for (department_id, code), cell in cells.items()
        if department_id is None and code in by_code and not cell.suppressed
    ]
    top_domains = sorted(organisation, key=lambda pair: -pair[1].risk_score)[:3]
    attention = sorted(
        (
            cell
            for (department_id, code), cell in cells.items()
            if department_id is not None
            and code == OVERALL
            and not cell.suppressed
            and cell.band in ACTION_BANDS
        ),
        key=attention_order,
    )[:5]
    changes = sorted(
        (
            (by_code[code], cell)
            for (department_id, code), cell in cells.items()
            if department_id is not None
            and code in by_code
            and not cell.suppressed
            and cell.trend_significant
        ),
        key=lambda pair: -abs(pair[1].trend_diff),
    )[:5]
    rows = _participation_counts(participation(access=access, campaign=campaign), published)
    overall_participation = next((r for r in rows if r.department is None), None)
    top_level = [r for r in rows if r.department is not None and r.department.depth == 0]
    org_overall = cells.get((None, OVERALL))
    bars = charts.risk_bars(
        [
            charts.Bar(domain.title, cell.risk_score, cell.band, f"n = {cell.n}")
            for domain, cell in sorted(organisation, key=lambda p: -p[1].risk_score)
        ],
        title=_("Risk score by domain, whole organisation"),
    )
    org_overall = org_overall if org_overall and not org_overall.suppressed else None
    return {
        "org_overall": org_overall,
        "key_messages": _key_messages(
            org_overall, top_domains, attention, changes, overall_participation, cells, labels
        ),
        "top_domains": top_domains,
        "attention": attention,
        "changes": changes,
        "participation_overall": overall_participation,
        "participation_top_level": top_level,
        "organisation_chart": bars,
    }


def attention_order(cell) -> tuple:
    """Departments needing attention first: the worst band of any domain first, then the
    higher average risk score, then tree order. Stated in the report beside the list."""
    return (-BAND_SEVERITY[cell.band], -cell.risk_score, cell.department.path)


def _key_messages(org, top_domains, attention, changes, participation_row, cells, labels):
    """A few sentences for the summary page, from published figures only."""
    messages = []
    if participation_row is not None and participation_row.shown and participation_row.invited:
        rate = round(100 * participation_row.completed / participation_row.invited)
        messages.append(
            _("%(answered)s of %(invited)s people answered (%(rate)s %%).")
            % {
                "answered": participation_row.completed,
                "invited": participation_row.invited,
                "rate": rate,
            }
        )
    if top_domains:
        domain, cell = top_domains[0]
        messages.append(
            _(
                "Across the organisation the highest risk is in %(domain)s: %(score)s of 100, "
                "“%(band)s”."
            )
            % {"domain": domain.title, "score": round(cell.risk_score), "band": labels[cell.band]}
        )
    shown = [
        cell
        for (department_id, code), cell in cells.items()
        if department_id is not None and code == OVERALL and not cell.suppressed
    ]
    urgent = [cell for cell in shown if cell.band == "urgent"]
    if urgent:
        messages.append(
            ngettext(
                "%(count)s of %(shown)s departments shown has at least one domain that needs "
                "urgent action; %(first)s comes first.",
                "%(count)s of %(shown)s departments shown have at least one domain that needs "
                "urgent action; %(first)s comes first.",
                len(urgent),
            )
            % {"count": len(urgent), "shown": len(shown), "first": attention[0].department.name}
        )
    elif attention:
        messages.append(
            _("No department shown needs urgent action; %(first)s needs improvement first.")
            % {"first": attention[0].department.name}
        )
    elif shown:
        messages.append(_("No department shown has a domain in a band that needs action."))
    if changes:
        worse = sum(1 for _domain, cell in changes if cell.trend_worse)
        messages.append(
            _(
                "Since the previous survey %(count)s changes are significant, "
                "%(worse)s of them for the worse."
            )
            % {"count": len(changes), "worse": worse}
        )
    return messages


def _domain_page(domain: DomainInfo, cells, rows, labels) -> dict:
    organisation = cells.get((None, domain.code))
    ranked = sorted(
        (
            cells[(d.pk, domain.code)]
            for d in rows
            if (d.pk, domain.code) in cells and not cells[(d.pk, domain.code)].suppressed
        ),
        key=lambda cell: (-cell.risk_score, cell.department.path),
    )
    chart = charts.risk_bars(
        [
            charts.Bar(cell.department.name, cell.risk_score, cell.band, f"n = {cell.n}")
            for cell in ranked[:RANKED_PER_DOMAIN]
        ],
        title=domain.title,
    )
    return {
        "domain": domain,
        "organisation": organisation if organisation and not organisation.suppressed else None,
        "ranked": ranked[:RANKED_PER_DOMAIN],
        "more": max(0, len(ranked) - RANKED_PER_DOMAIN),
        "chart": chart,
        "bands": _band_counts(ranked),
        # Respondents by band in the whole organisation (stored on its cell), not departments.
        "distribution": charts.band_distribution(
            organisation.band_counts, labels=labels, title=domain.title
        )
        if organisation and not organisation.suppressed and organisation.band_counts
        else "",
    }


def _band_counts(cells) -> dict[str, int]:
    counts = dict.fromkeys(charts.BAND_ORDER, 0)
    for cell in cells:
        counts[cell.band] += 1
    return counts


def _library(instrument_code, domains, cells, language) -> list:
    """Every suggestion some department received, once, with its full description."""
    used = {
        (cell.domain_code, cell.band)
        for cell in cells.values()
        if not cell.suppressed and cell.band in ACTION_BANDS and cell.domain_code != OVERALL
    }
    return [
        (domain, band, recommendations(
            instrument_code=instrument_code, domain_code=domain.code, band=band, language=language
        ))
        for domain in domains
        for band in ACTION_BANDS
        if (domain.code, band) in used
    ]  # fmt: skip
