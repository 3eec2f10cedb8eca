"""The effectiveness check of action plans: did the domain improve where an action was taken?

For each action, the follow-up campaign is the latest closed campaign on the same questionnaire
whose `previous_campaign` is the action's campaign and that has results. Its published cell for
the action's department and domain carries the scoring's Welch comparison with the action's
campaign (results.scoring.engine.welch: change in mean, 95% interval, significant or not).
A cell hidden on either side gives no figure at all, only "not available".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from accounts.permissions import Access, Permission
from assessments.models import Campaign, CampaignStatus, Direction, InstrumentDomain
from reports.models import Action
from results.models import DomainResult, ResultRun


class Verdict:
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    WORSE = "worse"
    NO_FOLLOW_UP = "no_follow_up"
    NOT_AVAILABLE = "not_available"


@dataclass(frozen=True)
class Effectiveness:
    """Before → after for one action. `before` and `after` are published cells only (None
    where the cell is hidden or missing), so a hidden group never reaches a page or a PDF."""

    verdict: str
    follow_up: Campaign | None = None
    before: DomainResult | None = None
    after: DomainResult | None = None

    @property
    def label(self) -> str:
        return {
            Verdict.IMPROVED: _("improved significantly"),
            Verdict.UNCHANGED: _("no significant change"),
            Verdict.WORSE: _("worse significantly"),
            Verdict.NO_FOLLOW_UP: _("no follow-up yet"),
            Verdict.NOT_AVAILABLE: _("not available (fewer than k, or hidden)"),
        }[self.verdict]

    @property
    def has_figures(self) -> bool:
        return self.before is not None and self.after is not None


def _verdict(after: DomainResult, direction: str) -> str:
    if not after.trend_significant:
        return Verdict.UNCHANGED
    lower_is_better = direction != Direction.HIGHER_IS_BETTER
    return Verdict.IMPROVED if (after.trend_diff < 0) == lower_is_better else Verdict.WORSE


def follow_ups(
    *,
    organization_id: int,
    campaign_ids: Iterable[int],
    visible: QuerySet[Campaign] | None = None,
) -> dict[int, list[Campaign]]:
    """The follow-ups of each campaign that has some, the latest first: closed campaigns on the
    same questionnaire that name it as their previous campaign and have current results (only
    those in `visible`, if given)."""
    found: dict[int, list[Campaign]] = {}
    rows = (
        Campaign.objects.for_organization(organization_id)
        .filter(
            previous_campaign_id__in=set(campaign_ids),
            status=CampaignStatus.CLOSED,
            result_runs__is_current=True,
        )
        .select_related("previous_campaign")
        .order_by("-closed_at", "-pk")
    )
    if visible is not None:
        rows = rows.filter(pk__in=visible.values("pk"))
    for campaign in rows:
        if campaign.instrument_id == campaign.previous_campaign.instrument_id:
            found.setdefault(campaign.previous_campaign_id, []).append(campaign)
    return found


def actions_effectiveness(
    *, access: Access, actions: Iterable[Action], follow_up: Campaign | None = None
) -> dict[int, Effectiveness]:
    """Before → after of each action (by action id), within what the access may see.

    An action's follow-up is the latest follow-up of its campaign that the access may see and
    that has a result for the action's department and domain (a later one that asked other
    departments does not hide it); `follow_up` names one instead (a follow-up's own report).
    A fixed number of queries whatever the number of actions: the follow-ups, their runs, the
    cells of both sides and the domains' directions, each read once.
    """
    actions = list(actions)
    if not actions:
        return {}
    if not access.can(Permission.VIEW_RESULTS):
        return {action.pk: Effectiveness(Verdict.NOT_AVAILABLE) for action in actions}
    if follow_up is not None:
        later = {follow_up.previous_campaign_id: [follow_up]}
    else:
        later = follow_ups(
            organization_id=access.organization_id,
            campaign_ids={action.campaign_id for action in actions},
            visible=Campaign.objects.visible_to(access),
        )
    campaign_ids = {action.campaign_id for action in actions} | {
        c.pk for candidates in later.values() for c in candidates
    }
    runs = dict(
        ResultRun.objects.for_organization(access.organization_id)
        .filter(campaign_id__in=campaign_ids, is_current=True)
        .values_list("campaign_id", "pk")
    )
    # The access's own scope: a manager reads the cells of their subtree only.
    cells = {
        (cell.run_id, cell.department_id, cell.domain_code): cell
        for cell in DomainResult.objects.visible_to(access).filter(
            run_id__in=runs.values(),
            breakdown_attribute="",
            department_id__in={action.department_id for action in actions},
            domain_code__in={action.domain_code for action in actions},
        )
    }
    directions = {
        (instrument_id, code): direction
        for instrument_id, code, direction in InstrumentDomain.objects.filter(
            instrument_id__in={c.instrument_id for cs in later.values() for c in cs},
            code__in={action.domain_code for action in actions},
        ).values_list("instrument_id", "code", "direction")
    }
    found: dict[int, Effectiveness] = {}
    for action in actions:
        key = (action.department_id, action.domain_code)
        chosen = next(
            (c for c in later.get(action.campaign_id, []) if (runs.get(c.pk), *key) in cells),
            None,
        )
        if chosen is None:
            found[action.pk] = Effectiveness(Verdict.NO_FOLLOW_UP)
            continue
        before = cells.get((runs.get(action.campaign_id), *key))
        after = cells.get((runs.get(chosen.pk), *key))
        if (
            before is None
            or after is None
            or before.suppressed
            or after.suppressed
            or after.trend_diff is None
        ):
            found[action.pk] = Effectiveness(Verdict.NOT_AVAILABLE, follow_up=chosen)
            continue
        direction = directions.get((chosen.instrument_id, action.domain_code), "")
        verdict = _verdict(after, direction)
        found[action.pk] = Effectiveness(verdict, follow_up=chosen, before=before, after=after)
    return found
