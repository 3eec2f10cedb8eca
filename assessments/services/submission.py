"""Answering: who may still answer, and storing a response that nothing links to its
invitation."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from assessments.answers import AnswerError, encode_answers, parse_answers
from assessments.models import (
    Campaign,
    CampaignStatus,
    Invitation,
    Response,
)
from assessments.selectors import instrument_spec

logger = logging.getLogger(__name__)


# --- Answering ----------------------------------------------------------------------------

CLOSED_REASON_TEXT = {"not_open_yet": "not open yet", "closed": "closed"}


def campaign_closed_reason(*, campaign: Campaign, now: dt.datetime) -> str | None:
    """Why a campaign does not accept answers right now ("not_open_yet", "closed"), or None."""
    return _closed_reason(campaign.status, campaign.opens_at, campaign.closes_at, now)


def _closed_reason(
    status: str, opens_at: dt.datetime | None, closes_at: dt.datetime | None, now: dt.datetime
) -> str | None:
    if status == CampaignStatus.CLOSED:
        return "closed"
    if closes_at is not None and now >= closes_at:
        return "closed"  # past its end: refused at once, before the beat task closes it
    if status != CampaignStatus.OPEN:
        return "not_open_yet"
    if opens_at is not None and now < opens_at:
        return "not_open_yet"
    return None


class InvitationCompletedError(Exception):
    """The invitation has already been used to answer."""


class CampaignNotOpenError(Exception):
    """The campaign does not accept answers now; `reason` is "not_open_yet" or "closed"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AnswersInvalidError(Exception):
    """Some answers were missing or invalid; `errors` names each question."""

    def __init__(self, errors: list[AnswerError]) -> None:
        super().__init__(f"{len(errors)} answer(s) need attention")
        self.errors = errors


@dataclass(frozen=True)
class SubmissionContext:
    """What storing a response needs to know about its invitation.

    Read from the database by `submission_context`, or carried in the survey's signed cookie,
    so that the busiest moment of a campaign costs the database two statements per answer.
    """

    invitation_id: int
    campaign_id: int
    organization_id: int
    department_id: int
    instrument_id: int
    attributes: dict  # the employee's coarse attributes that the campaign uses


def submission_context(*, invitation: Invitation) -> SubmissionContext:
    """The context of an invitation loaded with its campaign and employee."""
    campaign, employee = invitation.campaign, invitation.employee
    return SubmissionContext(
        invitation_id=invitation.pk,
        campaign_id=campaign.pk,
        organization_id=invitation.organization_id,
        department_id=invitation.department_id,
        instrument_id=campaign.instrument_id,
        attributes=(
            dict(invitation.attributes)
            if invitation.attributes is not None
            else {
                name: employee.attributes[name]
                for name in campaign.attributes_used
                if name in employee.attributes
            }
        ),
    )


def response_submit(
    *,
    invitation_id: int,
    answers: Mapping[str, Any],
    now: dt.datetime | None = None,
    context: SubmissionContext | None = None,
) -> uuid.UUID:
    """Store one anonymous response and mark the invitation completed, or change nothing.

    The invitation is claimed by one conditional UPDATE (not completed, campaign open now) in
    the transaction that stores the response: of two submissions with the same link, the
    second waits on the first's row lock, then finds nothing to claim. Only two rows are
    written: the Response (department snapshot, packed answers, the coarse attributes the
    campaign uses; no date or time) and the invitation's completion date. Returns the new
    response's id.
    """
    now = now or timezone.now()
    if context is None:
        invitation = (
            Invitation.objects.select_related("campaign", "employee").filter(pk=invitation_id)
        ).first()
        if invitation is None:
            raise Invitation.DoesNotExist(f"no invitation {invitation_id}")
        context = submission_context(invitation=invitation)
    elif context.invitation_id != invitation_id:
        raise ValueError("the submission context belongs to another invitation")
    spec = instrument_spec(context.instrument_id)
    values, errors = parse_answers(spec.items, answers)
    if errors:
        # Answering a completed or closed survey says so, not "fix question 3".
        _raise_if_not_answerable(invitation_id, now)
        raise AnswersInvalidError(errors)
    response_id = uuid.uuid4()
    with transaction.atomic():
        campaign_close_lock(context.campaign_id, exclusive=False)
        if not _claim(invitation_id, context.campaign_id, now):
            _raise_if_not_answerable(invitation_id, now)
            raise InvitationCompletedError()  # claimed and released meanwhile: treat as done
        _insert_response(
            response_id=response_id,
            organization_id=context.organization_id,
            campaign_id=context.campaign_id,
            department_id=context.department_id,
            answers=encode_answers(values, spec.scales),
            attributes=context.attributes,
        )
    return response_id


# Namespace of the PostgreSQL advisory lock that orders submissions and the close of a campaign.
_CLOSE_LOCK = 0x504C


def campaign_close_lock(campaign_id: int, *, exclusive: bool) -> None:
    """Submissions hold this lock shared, the close exclusively, until they commit.

    Submissions never wait for each other; the close waits for those in flight, and those that
    come after it wait for it and then find the campaign closed (their claim runs as a new
    statement, so it reads the committed close). So the responses of a closed campaign are
    exactly those committed while it was open. PostgreSQL queues a new shared request behind a
    waiting exclusive one, so a steady stream of answers cannot hold the close off. SQLite
    runs one writing transaction at a time, which orders them already.
    """
    if connection.vendor != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [_CLOSE_LOCK, campaign_id])


def _claim(invitation_id: int, campaign_id: int, now: dt.datetime) -> bool:
    """Mark the invitation completed if it is not yet and its campaign accepts answers now.

    Plain SQL on the hot path. The conditions sit on the invitation row itself, so PostgreSQL
    re-checks them after waiting for a concurrent claim of the same row.
    """
    q = connection.ops.quote_name
    invitation = Invitation._meta
    campaign = Campaign._meta
    column = {f.name: q(f.column) for f in (*invitation.concrete_fields, *campaign.concrete_fields)}
    sql = (
        f"UPDATE {q(invitation.db_table)} SET {column['completed_on']} = %s "
        f"WHERE {q(invitation.pk.column)} = %s AND {column['completed_on']} IS NULL "
        f"AND {q(invitation.get_field('campaign').column)} IN ("
        f"SELECT {q(campaign.pk.column)} FROM {q(campaign.db_table)} "
        f"WHERE {q(campaign.pk.column)} = %s AND {column['status']} = %s "
        f"AND ({column['opens_at']} IS NULL OR {column['opens_at']} <= %s) "
        f"AND ({column['closes_at']} IS NULL OR {column['closes_at']} > %s))"
    )
    moment = connection.ops.adapt_datetimefield_value(now)
    params = [
        connection.ops.adapt_datefield_value(timezone.localdate(now)),
        invitation_id,
        campaign_id,
        CampaignStatus.OPEN.value,
        moment,
        moment,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def _raise_if_not_answerable(invitation_id: int, now: dt.datetime) -> None:
    """Raise the reason this invitation cannot answer now, if there is one."""
    invitation = Invitation.objects.select_related("campaign").get(pk=invitation_id)
    if invitation.completed_on is not None:
        raise InvitationCompletedError()
    if reason := campaign_closed_reason(campaign=invitation.campaign, now=now):
        raise CampaignNotOpenError(reason)


def _insert_response(**values: Any) -> None:
    """INSERT one Response without building a model instance (the submission's hot path)."""
    fields = {
        "id": values["response_id"],
        "organization_id": values["organization_id"],
        "campaign_id": values["campaign_id"],
        "department_id": values["department_id"],
        "answers": values["answers"],
        "attributes": values["attributes"],
    }
    meta = Response._meta
    columns, params = [], []
    for name, value in fields.items():
        model_field = meta.get_field(name.removesuffix("_id") if name != "id" else name)
        columns.append(connection.ops.quote_name(model_field.column))
        params.append(model_field.get_db_prep_save(value, connection))
    placeholders = ", ".join(["%s"] * len(params))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(meta.db_table)} "
            f"({', '.join(columns)}) VALUES ({placeholders})",
            params,
        )
