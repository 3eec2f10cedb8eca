"""A small scored campaign for the PDF report tests, built through the real services.

Employees are invited by `campaign_launch`, answer through `response_submit`, the campaign is
closed with `campaign_transition` and scored by `result_run_execute`. With k = 5 the tree is:

    Quayside Operations   5 answer directly (6 invited)        shown (13 in all)
      Lighthouse Crew     6 answer (8 invited)                 shown
      Foghorn Unit        2 answer (6 invited)                 hidden: fewer than k
    Compass Sales         nobody directly                      shown (9 in all)
      Tiller Group        3 answer (5 invited)                 hidden: fewer than k
      Rudder Desk         6 answer (7 invited)                 hidden: differencing (9 - 6 = 3)
    Beacon Finance        7 answer (9 invited)                 shown
    Buoy Depot            2 answer (6 invited)                 hidden: fewer than k
    Keel Works            3 answer (5 invited)                 hidden: fewer than k

At the top the hidden Buoy Depot and Keel Works leave 2 + 3 = 5 = k people uncovered, so the
organisation's other departments stay shown. 34 responses in all. Foghorn Unit and Buoy Depot
have at least k invited but fewer than k answers, so a report that printed their participation
counts would give their n away.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.utils import timezone

from accounts.models import Department, Employee
from accounts.services import department_create
from assessments.models import Campaign, Instrument, Invitation
from assessments.selectors import campaign_answer_matrix, campaign_frozen_tree
from assessments.services import (
    campaign_create,
    campaign_launch,
    response_submit,
)
from reports.models import Action, ActionStatus
from reports.services import action_create
from results.models import DomainResult, ResultRun
from results.scoring import RESPONDENTS, InstrumentModel, score_campaign
from results.selectors import current_run
from results.services import campaign_close, result_run_execute
from tests.factories import OrganizationFactory

K = 5

# key: (name, parent key, invited, answering, base answer value)
TREE = {
    "quayside": ("Quayside Operations", None, 6, 5, 4),
    "lighthouse": ("Lighthouse Crew", "quayside", 8, 6, 5),
    "foghorn": ("Foghorn Unit", "quayside", 6, 2, 1),
    "compass": ("Compass Sales", None, 0, 0, 3),
    "tiller": ("Tiller Group", "compass", 5, 3, 1),
    "rudder": ("Rudder Desk", "compass", 7, 6, 2),
    "beacon": ("Beacon Finance", None, 9, 7, 2),
    "buoy": ("Buoy Depot", None, 6, 2, 5),
    "keel": ("Keel Works", None, 5, 3, 4),
}
PUBLISHED = ("quayside", "lighthouse", "compass", "beacon")
SUPPRESSED = ("foghorn", "tiller", "rudder", "buoy", "keel")
SUPPRESSED_BY_DIFFERENCING = "rudder"
RESPONSES = sum(spec[3] for spec in TREE.values())
INVITED = sum(spec[2] for spec in TREE.values())

OVERDUE_ACTION = "Hire seasonal dock hands"
PLANNED_ACTION = "Weekly quay huddle"
OUTSIDE_ACTION = "Rotate ledger closing duty"


@dataclass
class ScoredCampaign:
    organization: object
    campaign: Campaign
    run: ResultRun
    departments: dict[str, Department]
    actions: dict[str, Action] = field(default_factory=dict)

    def cells(self) -> dict[tuple[str | None, str], DomainResult]:
        """Stored department-level cells by (department key or None, domain code)."""
        keys = {d.pk: key for key, d in self.departments.items()}
        return {
            (keys.get(c.department_id), c.domain_code): c
            for c in DomainResult.objects.filter(run=self.run, breakdown_attribute="").exclude(
                domain_code=RESPONDENTS
            )
        }


def _build_departments(organization) -> dict[str, Department]:
    departments: dict[str, Department] = {}
    for key, (title, parent, *_rest) in TREE.items():
        departments[key] = department_create(
            organization=organization,
            name=title,
            parent=departments[parent] if parent else None,
        )
    Employee.objects.bulk_create(
        Employee(
            organization=organization,
            department=departments[key],
            external_id=f"{key}-{index}",
            email=f"{key}.{index}@harbourside.test",
            language="en" if index % 2 else "de",
        )
        for key, (_title, _parent, invited, _answering, _base) in TREE.items()
        for index in range(invited)
    )
    return departments


def _answers(key: str, respondent: int, base: int, codes: list[str]) -> dict[str, int]:
    """A deterministic spread around `base`, so means are not round numbers."""
    rng = random.Random(f"{key}-{respondent}")
    return {code: min(5, max(1, base + rng.choice((-1, 0, 0, 1)))) for code in codes}


def build_scored_campaign(
    instrument: Instrument,
    *,
    organization=None,
    name: str = "Spring pulse 2031",
    follow_up_of: ScoredCampaign | None = None,
    shift: int = 0,
    shifts: dict[str, int] | None = None,
) -> ScoredCampaign:
    """Build the organisation (or reuse that of `follow_up_of`), run one campaign through
    launch, answers and close, and score it. A follow-up answers `shift` points higher, and
    the departments named in `shifts` (by key) that many more."""
    if follow_up_of is not None:
        organization = follow_up_of.organization
        departments = follow_up_of.departments
    else:
        organization = organization or OrganizationFactory(name="Harbourside Shipping")
        departments = _build_departments(organization)
    now = timezone.now()
    campaign = campaign_create(
        organization=organization,
        name=name,
        instrument=instrument,
        target_departments=[d for d in departments.values() if d.parent_id is None],
        languages=["en", "de"],
        opens_at=now - dt.timedelta(days=14),
        closes_at=now + dt.timedelta(days=7),
        min_group_size=K,
        previous_campaign=follow_up_of.campaign if follow_up_of else None,
    )
    campaign = campaign_launch(campaign=campaign, now=now - dt.timedelta(days=14))
    items = list(instrument.items.order_by("position").values_list("code", flat=True))
    for key, (_title, _parent, _invited, answering, base) in TREE.items():
        invitations = Invitation.objects.filter(
            campaign=campaign, department=departments[key]
        ).order_by("pk")[:answering]
        for respondent, invitation in enumerate(invitations):
            moved = base + shift + (shifts or {}).get(key, 0)
            answers = _answers(key, respondent, min(5, max(1, moved)), items)
            response_submit(invitation_id=invitation.pk, answers=answers)
    campaign_close(campaign=campaign)
    pending = ResultRun.objects.get(campaign=campaign)
    run = result_run_execute(run_id=pending.pk)
    assert current_run(campaign=campaign) == run, run.error
    campaign.refresh_from_db()
    scored = ScoredCampaign(
        organization=organization, campaign=campaign, run=run, departments=departments
    )
    if follow_up_of is not None:
        return scored
    today = timezone.localdate()
    scored.actions = {
        "overdue": action_create(
            campaign=campaign,
            department=departments["lighthouse"],
            domain_code="demands",
            title=OVERDUE_ACTION,
            owner="Head of quay operations",
            due_date=today - dt.timedelta(days=10),
            status=ActionStatus.IN_PROGRESS,
        ),
        "planned": action_create(
            campaign=campaign,
            department=departments["quayside"],
            domain_code="role",
            title=PLANNED_ACTION,
            owner="Shift lead",
            due_date=today + dt.timedelta(days=30),
        ),
        "outside": action_create(
            campaign=campaign,
            department=departments["beacon"],
            domain_code="demands",
            title=OUTSIDE_ACTION,
            owner="Finance lead",
            due_date=today - dt.timedelta(days=3),
        ),
    }
    return scored


def shadow_figures(scored: ScoredCampaign) -> pd.DataFrame:
    """What the engine would publish with no minimum group size at all: the figures that the
    suppressed departments must never give away. Indexed by (department id, domain code)."""
    campaign = scored.campaign
    matrix = campaign_answer_matrix(campaign=campaign)
    departments = campaign_frozen_tree(campaign=campaign).frame()
    frame = score_campaign(
        answers=matrix.answers,
        response_departments=matrix.departments,
        departments=departments,
        model=InstrumentModel.from_definition(campaign.instrument.definition),
        k=1,
    )
    frame = frame[
        (frame["breakdown_attribute"] == "")
        & frame["department_id"].notna()
        & (frame["domain_code"] != RESPONDENTS)
    ]
    assert not frame["suppressed"].any()
    frame = frame.assign(department_id=frame["department_id"].astype(np.int64))
    return frame.set_index(["department_id", "domain_code"])


# --- Rendered once per test session ---------------------------------------------------------


@dataclass(frozen=True)
class RenderedCampaign:
    """Plain values and rendered reports of one scored campaign; no database rows, so tests
    in any module can read them after the rows were rolled back."""

    organization_name: str
    campaign_name: str
    k: int
    response_count: int
    names: dict[str, str]  # department key -> name
    cells: dict[tuple[str | None, str], dict]  # (key or None, domain) -> stored figures
    shadow: dict[tuple[str, str], dict]  # (suppressed key, domain) -> hidden figures
    domains: list[dict]  # code, en, de titles, in instrument order
    organisation_report: object  # RenderedReport, English
    quayside_pack: object  # RenderedReport of Quayside Operations, German
    refusals: dict[str, str]  # suppressed key -> error of render_report(department=...)


FIGURE_FIELDS = ("suppressed", "n", "mean", "risk_score", "share_high_risk", "band", "band_counts")

_rendered: list[RenderedCampaign] = []


def rendered_campaign(django_db_blocker) -> RenderedCampaign:
    """Build, score and render the campaign once, inside a transaction that is rolled back."""
    if _rendered:
        return _rendered[0]
    import io

    from django.core.management import call_command
    from django.db import transaction

    from assessments.selectors import instrument_spec
    from reports.rendering import ReportUnavailableError, render_report

    with django_db_blocker.unblock(), transaction.atomic():
        call_command("load_instruments", stdout=io.StringIO())
        instrument = Instrument.objects.get(code="plimsoll-core", version=1)
        scored = build_scored_campaign(instrument)
        cells = {
            key: {name: getattr(cell, name) for name in FIGURE_FIELDS}
            for key, cell in scored.cells().items()
        }
        keys = {d.pk: key for key, d in scored.departments.items()}
        shadow = {
            (keys[department_id], code): {
                "n": int(row["n"]),
                "mean": float(row["mean"]),
                "risk_score": float(row["risk_score"]),
            }
            for (department_id, code), row in shadow_figures(scored).iterrows()
            if keys[department_id] in SUPPRESSED
        }
        refusals = {}
        for key in SUPPRESSED:
            try:
                render_report(
                    campaign=scored.campaign, language="en", department=scored.departments[key]
                )
            except ReportUnavailableError as error:
                refusals[key] = str(error)
        result = RenderedCampaign(
            organization_name=scored.organization.name,
            campaign_name=scored.campaign.name,
            k=scored.campaign.min_group_size,
            response_count=scored.run.response_count,
            names={key: d.name for key, d in scored.departments.items()},
            cells=cells,
            shadow=shadow,
            domains=[
                {
                    "code": d.code,
                    "en": d.title["en"],
                    "de": d.title["de"],
                    "cutoffs": list(d.band_cutoffs or ()),
                }
                for d in instrument.domains.order_by("position")
            ],
            organisation_report=render_report(campaign=scored.campaign, language="en"),
            quayside_pack=render_report(
                campaign=scored.campaign, language="de", department=scored.departments["quayside"]
            ),
            refusals=refusals,
        )
        transaction.set_rollback(True)
    instrument_spec.cache_clear()  # its ids are gone with the rollback
    _rendered.append(result)
    return result
