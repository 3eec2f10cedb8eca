"""Writes for results: closing a campaign into its scoring, and the scoring runs themselves.

Closing lives here, above `assessments`, because a close must start the scoring at once: the
campaign's status changes in `assessments.services.campaign_transition`, and this layer adds
the run in the same transaction. Every interface (pages, API, admin, commands, beat) closes
through `campaign_close`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import EventType
from accounts.services import event_record
from assessments.models import Campaign, CampaignStatus
from assessments.selectors import campaign_answer_matrix, campaign_frozen_tree, campaign_is_frozen
from assessments.services import (
    IllegalTransitionError,
    campaign_population_freeze,
    campaign_transition,
    campaigns_open_due,
)
from results.models import DomainResult, ResultRun, RunStatus
from results.scoring import InstrumentModel, ScoringInputError, score_campaign
from results.selectors import answered_counts_shown_while_open

logger = logging.getLogger(__name__)

# A run still pending (or running) this long after its last start was lost on the way: the
# broker was down, or the worker died without the message coming back.
STALE_PENDING = dt.timedelta(minutes=2)


class ScoringRefusedError(ValidationError):
    """Scoring was asked for a campaign that cannot be scored (yet)."""


def _enqueue(run_id: int) -> None:
    transaction.on_commit(lambda: _send_run(run_id))


def _send_run(run_id: int) -> None:
    from results.tasks import score_run as task  # tasks import this module

    try:
        task.delay(run_id)
    except Exception:  # noqa: BLE001 - the sweep re-enqueues a run left pending
        logger.warning("Could not enqueue scoring run %s; the sweep will retry", run_id)
        return
    ResultRun.objects.filter(pk=run_id).update(queued_at=timezone.now())


@transaction.atomic
def result_run_request(*, campaign: Campaign) -> ResultRun:
    """Ask for a scoring run of a closed campaign; the work happens in a Celery task.

    The run is a PENDING row first and is enqueued only after commit, so a broker outage
    delays scoring and never loses it. A run already waiting is reused, not doubled.
    """
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != CampaignStatus.CLOSED:
        raise ScoringRefusedError(
            {
                "status": (
                    f"Campaign '{campaign.name}' is {campaign.status}: results are computed "
                    "only after it closes, so answers given later cannot be told apart."
                )
            }
        )
    if not campaign_is_frozen(campaign=campaign):
        _refuse_rescoring_over_todays_tree(campaign)
    waiting = (
        ResultRun.objects.for_organization(campaign.organization_id)
        .filter(campaign=campaign, status__in=[RunStatus.PENDING, RunStatus.RUNNING])
        .first()
    )
    if waiting is not None:
        return waiting
    run = ResultRun.objects.create(organization_id=campaign.organization_id, campaign=campaign)
    _enqueue(run.pk)
    return run


def result_run_execute(*, run_id: int) -> ResultRun:
    """Score the run's campaign and store a complete set of cells; safe to run twice.

    A finished run is left alone. The rows and the switch to "current" are written in one
    transaction, so readers see the previous current run until this one is complete. A failure
    is recorded on the run and leaves the previous current run in place.
    """
    with transaction.atomic():
        run = (
            ResultRun.objects.select_for_update(of=("self",))
            .select_related("campaign")
            .get(pk=run_id)
        )
        if run.status in (RunStatus.DONE, RunStatus.FAILED):
            return run
        if run.attempts >= settings.SCORING_MAX_ATTEMPTS:
            # Each attempt was lost (the worker died, or ran out of time or memory): stop
            # instead of retrying for ever.
            run.status = RunStatus.FAILED
            run.error = (
                f"Scoring was started {run.attempts} times without finishing (the worker "
                "stopped each time); request a new run once the cause is fixed."
            )
            run.finished_at = timezone.now()
            run.save(update_fields=["status", "error", "finished_at"])
            logger.error("Scoring run %s failed after %s attempts", run_id, run.attempts)
            return run
        run.status = RunStatus.RUNNING
        run.attempts += 1
        run.started_at = timezone.now()
        run.error = ""
        run.save(update_fields=["status", "attempts", "started_at", "error"])
    started = time.monotonic()
    try:
        frame, response_count = _compute(run.campaign)
        with transaction.atomic():
            locked = ResultRun.objects.select_for_update().get(pk=run_id)
            if locked.status == RunStatus.DONE:  # a redelivered copy finished first
                return locked
            _store(locked, frame)
            locked.breakdowns = _breakdown_categories(frame)
            ResultRun.objects.filter(campaign_id=locked.campaign_id, is_current=True).update(
                is_current=False
            )
            locked.status = RunStatus.DONE
            locked.is_current = True
            locked.response_count = response_count
            locked.duration_ms = int((time.monotonic() - started) * 1000)
            locked.finished_at = timezone.now()
            locked.save()
            # For webhooks, in this transaction: published exactly when the run became current.
            campaign = run.campaign
            event_record(
                organization=locked.organization_id,
                type=EventType.RESULTS_PUBLISHED,
                data={"campaign": {"id": campaign.pk, "name": campaign.name}},
            )
            return locked
    except Exception as exc:
        ResultRun.objects.filter(pk=run_id).exclude(status=RunStatus.DONE).update(
            status=RunStatus.FAILED,
            error=scoring_failure_reason(exc)[:2000],
            finished_at=timezone.now(),
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        logger.exception("Scoring run %s failed", run_id)
        return ResultRun.objects.get(pk=run_id)


def scoring_failure_reason(exc: Exception) -> str:
    """What HR is told when a run fails: a sentence, never a traceback (that goes to the log)."""
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, ScoringInputError):
        return f"The stored answers could not be scored: {exc}."
    return (
        f"Scoring stopped on an unexpected error ({type(exc).__name__}: {exc}). The previous "
        "results, if any, stay in place; the details are in the worker's log."
    )


def _compute(campaign: Campaign) -> tuple[pd.DataFrame, int]:
    _ensure_frozen(campaign)
    model = InstrumentModel.from_definition(campaign.instrument.definition)
    matrix = campaign_answer_matrix(campaign=campaign, attributes=campaign.attributes_used)
    if settings.SCORING_TEST_DELAY_SECONDS:
        # Test hook: lets an integration test kill a worker while a run is in progress.
        time.sleep(settings.SCORING_TEST_DELAY_SECONDS)
    tree = campaign_frozen_tree(campaign=campaign)
    departments = tree.frame()
    frame = score_campaign(
        answers=matrix.answers,
        response_departments=matrix.departments,
        departments=departments,
        model=model,
        k=campaign.min_group_size,
        attributes=matrix.attributes,
        previous=_previous_results(campaign),
        known_counts=answered_counts_shown_while_open(campaign=campaign, tree=tree),
    )
    return frame, len(matrix.answers)


def _ensure_frozen(campaign: Campaign) -> None:
    """A campaign is scored over its frozen population only.

    One launched before populations were frozen gets its picture at its first scoring (no
    earlier result exists to subtract from); one that already has results is refused, because
    rolling its answers up over today's tree could differ from its earlier figures by a team
    that moved since.
    """
    if campaign_is_frozen(campaign=campaign):
        return
    _refuse_rescoring_over_todays_tree(campaign)
    campaign_population_freeze(campaign=campaign)


def _refuse_rescoring_over_todays_tree(campaign: Campaign) -> None:
    """For a campaign without a frozen population: refuse if it already has results."""
    if ResultRun.objects.filter(campaign=campaign, status=RunStatus.DONE).exists():
        raise ScoringRefusedError(
            {
                "campaign": (
                    f"Campaign '{campaign.name}' was scored before department trees were frozen "
                    "at launch. Its results stay as they are; it cannot be scored again, because "
                    "today's tree could differ from the one it was scored over."
                )
            }
        )


def _previous_results(campaign: Campaign) -> pd.DataFrame | None:
    """Published department cells of the previous closed campaign on the same instrument."""
    previous = campaign.previous_campaign
    if previous is None or previous.instrument_id != campaign.instrument_id:
        previous = (
            Campaign.objects.for_organization(campaign.organization_id)
            .filter(
                instrument_id=campaign.instrument_id,
                status=CampaignStatus.CLOSED,
                closed_at__lt=campaign.closed_at,
            )
            .exclude(pk=campaign.pk)
            .order_by("-closed_at")
            .first()
        )
    if previous is None or previous.status != CampaignStatus.CLOSED:
        return None
    rows = DomainResult.objects.filter(
        run__campaign=previous,
        run__is_current=True,
        suppressed=False,
        breakdown_attribute="",
        department__isnull=False,
    ).values_list("department_id", "domain_code", "n", "mean", "sd")
    return pd.DataFrame(list(rows), columns=["department_id", "domain_code", "n", "mean", "sd"])


FIGURES = (
    "n", "mean", "sd", "share_high_risk", "risk_score", "band",
    "trend_diff", "trend_ci_low", "trend_ci_high", "trend_significant", "band_counts",
)  # fmt: skip


STORED_COLUMNS = (
    "department_id", "domain_code", "breakdown_attribute", "breakdown_value", "suppressed",
    *FIGURES,
)  # fmt: skip


def _cell_rows(frame: pd.DataFrame, *, json_as_text: bool):
    """The frame's cells as tuples in STORED_COLUMNS order, with None for every missing value.

    A suppressed cell gets None for every figure here too, whatever the frame held.
    """
    figures = {STORED_COLUMNS.index(name) for name in FIGURES}
    suppressed_at = STORED_COLUMNS.index("suppressed")
    text_at = {STORED_COLUMNS.index("breakdown_attribute"), STORED_COLUMNS.index("breakdown_value")}
    counts_at = STORED_COLUMNS.index("band_counts")
    for raw in frame[list(STORED_COLUMNS)].itertuples(index=False, name=None):
        suppressed = bool(raw[suppressed_at])
        row = []
        for index, value in enumerate(raw):
            if index in figures and suppressed:
                value = None
            elif index == counts_at:
                if not isinstance(value, dict):
                    value = None
                elif json_as_text:
                    value = json.dumps(value)
            elif value is pd.NA or (isinstance(value, float) and value != value):
                value = None
            elif isinstance(value, np.generic):
                # numpy scalars (a trend's "significant" flag is a numpy bool) as Python
                # values: not every database driver takes them.
                value = value.item()
            if index in text_at and value is None:
                value = ""
            row.append(value)
        yield tuple(row)


def _breakdown_categories(frame: pd.DataFrame) -> dict[str, list[str]]:
    cells = frame[frame["breakdown_attribute"] != ""]
    return {
        str(attribute): sorted(str(value) for value in values.unique())
        for attribute, values in cells.groupby("breakdown_attribute")["breakdown_value"]
    }


def _store(run: ResultRun, frame: pd.DataFrame) -> None:
    """Write every department cell and every published breakdown cell of the run in one
    statement, whatever their number. A suppressed breakdown cell has nothing to store: its
    attribute and category are on the run."""
    DomainResult.objects.filter(run=run).delete()  # leftovers of an interrupted attempt
    frame = frame[(frame["breakdown_attribute"] == "") | ~frame["suppressed"]]
    if connection.vendor == "postgresql":
        table = DomainResult._meta.db_table
        columns = ", ".join(("run_id", *STORED_COLUMNS))
        connection.ensure_connection()
        raw = connection.connection  # psycopg's own connection: Django has no COPY API
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in _cell_rows(frame, json_as_text=True):  # COPY's text format
                copy.write_row((run.pk, *row))
        return
    DomainResult.objects.bulk_create(
        [
            DomainResult(run=run, **dict(zip(STORED_COLUMNS, row, strict=True)))
            for row in _cell_rows(frame, json_as_text=False)
        ],
        batch_size=500,
    )


def result_runs_sweep(*, now: dt.datetime | None = None) -> list[int]:
    """Re-enqueue runs nobody picked up (broker down at close) or whose worker vanished, and
    ask for a run of every closed campaign that has none (closed by a path that could not
    score it, or before this sweep existed).

    A run whose task was sent recently is left alone, so a slow queue does not fill up with
    copies of the same message.
    """
    now = now or timezone.now()
    unscored = Campaign.objects.filter(status=CampaignStatus.CLOSED, result_runs__isnull=True)
    for campaign in unscored.only("pk", "organization_id"):
        try:
            result_run_request(campaign=campaign)
        except ScoringRefusedError:
            logger.warning("Closed campaign %s cannot be scored; left without a run", campaign.pk)
    stale = ResultRun.objects.filter(
        status=RunStatus.PENDING, created_at__lt=now - STALE_PENDING
    ) | ResultRun.objects.filter(
        status=RunStatus.RUNNING,
        started_at__lt=now - dt.timedelta(seconds=settings.SCORING_RUNNING_STALE_SECONDS),
    )
    recently = Q(queued_at__gte=now - STALE_PENDING)
    run_ids = list(stale.exclude(recently).values_list("pk", flat=True))
    for run_id in run_ids:
        _send_run(run_id)
    return run_ids


# --- Closing ------------------------------------------------------------------------------


@transaction.atomic
def campaign_close(*, campaign: Campaign, now: dt.datetime | None = None) -> Campaign:
    """Close a campaign and ask for its scoring run, in one transaction.

    Answers stop at once (see `campaign_transition`); the run is a PENDING row enqueued after
    commit, so a broker outage delays the scoring and never loses it.
    """
    closed = campaign_transition(campaign=campaign, to=CampaignStatus.CLOSED, now=now)
    result_run_request(campaign=closed)
    return closed


@dataclass(frozen=True)
class ScheduleResult:
    opened: int
    closed: int


def campaigns_advance_schedule(*, now: dt.datetime | None = None) -> ScheduleResult:
    """Open scheduled campaigns whose time has come, close open ones past their end (each
    close starts its scoring)."""
    now = now or timezone.now()
    opened = campaigns_open_due(now=now)
    closed = 0
    due_to_close = Campaign.objects.filter(status=CampaignStatus.OPEN, closes_at__lte=now)
    for campaign in due_to_close.only("pk"):
        # Two sweeps may overlap (a slow beat, a manual run): the one that loses the race skips.
        try:
            campaign_close(campaign=campaign, now=now)
        except IllegalTransitionError:
            continue
        closed += 1
    return ScheduleResult(opened=opened, closed=closed)
