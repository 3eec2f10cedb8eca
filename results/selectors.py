"""Reads of results that every consumer shares (pages, PDF, API, exports), within an access.

Every function that serves someone takes their `Access` (accounts.permissions): it checks the
role's permission from the one table, and applies the scope with `visible_to(access)`, so a
manager sees their subtree only and nobody sees the organisation's own row unless they see the
whole organisation. Suppressed cells come back as they are stored, without figures.

Participation lives here too: its counts are figures, and which of them may be shown is decided
by the same suppression engine as the results.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from accounts.models import Department
from accounts.permissions import Access, Permission
from assessments.models import Campaign, CampaignStatus, ParticipationDisclosure
from assessments.selectors import (
    FrozenTree,
    ParticipationCounts,
    campaign_participation_counts,
    campaign_require_visible,
)
from results.models import DomainResult, ResultRun, RunStatus
from results.scoring import OVERALL, RESPONDENTS
from results.scoring.disclosure import participation_disclosed
from results.scoring.engine import BAND_SEVERITY

# --- Runs --------------------------------------------------------------------------------


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


# --- Cells -------------------------------------------------------------------------------


def _cells(access: Access, campaign: Campaign) -> QuerySet[DomainResult]:
    campaign_require_visible(access=access, campaign=campaign)
    access.require(Permission.VIEW_RESULTS)
    run = current_run(campaign=campaign)
    if run is None:
        return DomainResult.objects.none()
    return DomainResult.objects.visible_to(access).filter(run=run).select_related("department")


def campaign_results(*, access: Access, campaign: Campaign) -> QuerySet[DomainResult]:
    """Every visible cell of the campaign's current run (breakdowns and priorities included)."""
    return _cells(access, campaign).order_by("department__path", "domain_code")


def department_results(
    *, access: Access, campaign: Campaign, department: Department
) -> QuerySet[DomainResult]:
    """The cells of one department and its subtree."""
    access.require_organization(campaign.organization_id)
    access.require_covers(department)
    return _cells(access, campaign).filter(department__path__startswith=department.path)


# A department-by-domain cell as the heatmap needs it, read as a named row of plain values
# (a heatmap of a thousand departments holds more than ten thousand cells): department_id,
# domain_code, suppressed, risk_score, band, trend_diff, trend_significant, and the empty
# breakdown. A suppressed cell carries no figure (the stored row has none).
_HEAT_FIELDS = (
    "department_id", "domain_code", "suppressed", "risk_score", "band", "trend_diff",
    "trend_significant", "breakdown_attribute", "breakdown_value",
)  # fmt: skip
HeatCell = Any  # the named row Django makes for `_HEAT_FIELDS`


@dataclass
class Heatmap:
    """Departments (rows, tree order, the organisation first) by domains (columns)."""

    domains: list[str]
    rows: list[tuple[Department | None, list[HeatCell | None]]] = field(default_factory=list)
    # The priority cell (worst band of any domain, average risk score) per department.
    overall: dict[int | None, HeatCell] = field(default_factory=dict)


def heatmap(
    *,
    access: Access,
    campaign: Campaign,
    keep: Callable[[list[Department]], Collection[int]] | None = None,
) -> Heatmap:
    """The departments-by-domains matrix of the current run, suppressed cells included.

    `keep`, given the departments with cells (tree order), names those whose rows are wanted
    (the organisation's row always comes): a heatmap with its subtrees closed reads the cells
    of the rows it shows only."""
    base = _cells(access, campaign).filter(breakdown_attribute="").exclude(domain_code=RESPONDENTS)
    listed = list(
        Department.objects.filter(pk__in=base.values("department_id"))
        .only("id", "name", "path", "depth", "parent_id", "organization_id")
        .order_by("path")
    )
    departments: dict[int | None, Department | None] = {None: None}
    departments.update((d.pk, d) for d in listed)
    if keep is not None:
        base = base.filter(Q(department__isnull=True) | Q(department_id__in=list(keep(listed))))
    domains = [d.code for d in campaign.instrument.domains.order_by("position")]
    by_department: dict[int | None, dict[str, HeatCell]] = {}
    overall: dict[int | None, HeatCell] = {}
    for cell in base.values_list(*_HEAT_FIELDS, named=True).iterator(chunk_size=5000):
        if cell.domain_code == OVERALL:
            overall[cell.department_id] = cell
        else:
            by_department.setdefault(cell.department_id, {})[cell.domain_code] = cell
    order = sorted(by_department, key=lambda pk: "" if pk is None else departments[pk].path)
    result = Heatmap(domains=domains, overall=overall)
    for pk in order:
        row = by_department[pk]
        result.rows.append((departments[pk], [row.get(code) for code in domains]))
    return result


def top_risks(
    *, access: Access, campaign: Campaign, department: Department | None = None, limit: int = 3
) -> list[DomainResult]:
    """The published domain cells with the highest risk score, overall or for one department.

    Without a department: the organisation's own cells for those who see it whole, else the
    cells of the manager's subtree root.
    """
    cells = (
        _cells(access, campaign)
        .filter(breakdown_attribute="", suppressed=False)
        .exclude(domain_code__in=[OVERALL, RESPONDENTS])
    )
    if department is not None:
        access.require_covers(department)
        cells = cells.filter(department=department)
    elif access.whole_organization:
        cells = cells.filter(department__isnull=True)
    else:
        cells = cells.filter(department__path=access.subtree_path)
    return list(cells.order_by("-risk_score", "domain_code")[:limit])


def departments_by_priority(*, access: Access, campaign: Campaign) -> list[DomainResult]:
    """Published per-department priority rows, the most urgent first: the worst band of any
    domain, then the average risk score."""
    cells = _cells(access, campaign).filter(
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


# --- Participation -----------------------------------------------------------------------


@dataclass(frozen=True)
class ParticipationRow:
    """Invited and answered counts for a department including everything below it.

    `shown` is False when fewer than k people were invited: then `invited` and `completed` are
    None, so no page can display them. `completed` is also None where the answered count may
    not be shown: while open, outside the groups disclosed so far (results.scoring.disclosure:
    they only ever grow, and never let 1..k-1 people who answered be worked out, however often
    someone looks); after close, wherever the published respondent count of the results is
    suppressed (`participation`), and everywhere in `campaign_participation`.
    """

    department: Department | None  # None: the whole organisation
    depth: int  # in the campaign's frozen tree
    shown: bool
    invited: int | None
    completed: int | None

    @property
    def rate(self) -> float | None:
        if not self.shown or not self.invited or self.completed is None:
            return None
        return self.completed / self.invited


def _disclosed_before(campaign: Campaign, tree: FrozenTree) -> np.ndarray:
    """The groups of the frozen tree whose answered count was shown while the campaign was
    open (the root last)."""
    index = {pk: i for i, pk in enumerate(tree.ids)}
    shown = np.zeros(len(tree.ids) + 1, dtype=bool)
    for department_id in ParticipationDisclosure.objects.filter(campaign=campaign).values_list(
        "department_id", flat=True
    ):
        node = len(tree.ids) if department_id is None else index.get(department_id)
        if node is not None:
            shown[node] = True
    return shown


def _disclosed_now(counts: ParticipationCounts, campaign: Campaign, before: np.ndarray):
    return participation_disclosed(
        parent=counts.tree.parent,
        invited=counts.invited,
        answered=counts.completed,
        k=campaign.min_group_size,
        shown=before,
    )


def _disclose(counts: ParticipationCounts, campaign: Campaign) -> np.ndarray:
    """The groups whose answered count may be shown now, recording those shown for the first
    time: once shown, a group stays shown for the rest of the campaign. The record is written
    under the campaign's row lock, so two pages loaded at once cannot each add a group that is
    safe only without the other's; a campaign that closed meanwhile records nothing more."""
    before = _disclosed_before(campaign, counts.tree)
    now = _disclosed_now(counts, campaign, before)
    if not (now & ~before).any():
        return now
    with transaction.atomic():
        if (
            not Campaign.objects.select_for_update()
            .filter(pk=campaign.pk, status=CampaignStatus.OPEN)
            .exists()
        ):
            return before
        before = _disclosed_before(campaign, counts.tree)
        now = _disclosed_now(counts, campaign, before)
        root = len(counts.tree.ids)
        ParticipationDisclosure.objects.bulk_create(
            [
                ParticipationDisclosure(
                    campaign=campaign,
                    department_id=None if node == root else counts.tree.ids[node],
                )
                for node in np.flatnonzero(now & ~before).tolist()
            ]
        )
    return now


def widest(rows: list[ParticipationRow]) -> ParticipationRow | None:
    """The row of the widest group among those the access sees: the whole organisation, or a
    manager's subtree root."""
    return min(rows, key=lambda row: row.depth, default=None)


def answered_counts_shown_while_open(
    *, campaign: Campaign, tree: FrozenTree | None = None
) -> list[int | None]:
    """The groups (department ids, None for the whole campaign) whose answered count was or
    could have been shown while the campaign was open: those recorded, and those a page loaded
    at the last moment would have added. The scoring must choose its cells so that they cannot
    be set against these; the record no longer changes once the campaign is closed, so every
    run of the campaign gets the same list."""
    counts = campaign_participation_counts(campaign=campaign, tree=tree)
    shown = _disclosed_now(counts, campaign, _disclosed_before(campaign, counts.tree))
    root = len(counts.tree.ids)
    return [
        None if node == root else counts.tree.ids[node] for node in np.flatnonzero(shown).tolist()
    ]


def campaign_participation(*, campaign: Campaign) -> list[ParticipationRow]:
    """Participation per department, rolled up over the campaign's frozen tree, and for the
    whole campaign (the first row). Counts follow the department snapshot taken at launch.

    Invited counts are shown for groups of at least k invited (HR knows its directory). While
    the campaign is open, answered counts are shown for the groups disclosed so far (see
    `_disclose`); after close, not here at all (see `participation`, which shows the
    published respondent counts).
    """
    counts = campaign_participation_counts(campaign=campaign)
    k = campaign.min_group_size
    tree = counts.tree
    size = len(tree.ids) + 1
    closed = campaign.status == CampaignStatus.CLOSED
    invited_shown = counts.invited >= k
    if campaign.status == CampaignStatus.OPEN:
        answered_shown = _disclose(counts, campaign)
    else:
        answered_shown = np.zeros(size, dtype=bool)

    def row(node: int) -> ParticipationRow:
        shown = bool(invited_shown[node])
        return ParticipationRow(
            department=None if node == size - 1 else tree.departments[tree.ids[node]],
            depth=-1 if node == size - 1 else tree.depth[node],
            shown=shown,
            invited=int(counts.invited[node]) if shown else None,
            completed=(
                int(counts.completed[node])
                if shown and not closed and answered_shown[node]
                else None
            ),
        )

    # Departments nobody was invited in are left out.
    return [row(size - 1)] + [row(node) for node in range(size - 1) if counts.invited[node]]


def participation(*, access: Access, campaign: Campaign) -> list[ParticipationRow]:
    """Invited and answered counts limited to what the access may see.

    While a campaign is open they follow campaign_participation's rules. After close, a
    group's answered count is its published respondent count from the current run (the same
    suppression as every result), and a group whose count is suppressed shows no count at all;
    until a run exists, no answered count is shown.
    """
    campaign_require_visible(access=access, campaign=campaign)
    access.require(Permission.VIEW_PARTICIPATION)
    rows = [
        row for row in campaign_participation(campaign=campaign) if access.covers(row.department)
    ]
    if campaign.status != CampaignStatus.CLOSED:
        return rows
    run = current_run(campaign=campaign)
    counts = (
        {}
        if run is None
        else dict(
            DomainResult.objects.visible_to(access)
            .filter(run=run, domain_code=RESPONDENTS, breakdown_attribute="", suppressed=False)
            .values_list("department_id", "n")
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
