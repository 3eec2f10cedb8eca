"""Invitations and reminders by email: tokens, batches, retries and the beat's sweep.

Work is enqueued only after commit; a broker outage delays delivery, never loses it."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import get_connection
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from assessments.emails import build_survey_email
from assessments.models import (
    Campaign,
    CampaignStatus,
    DeliveryStatus,
    Invitation,
    InvitationToken,
)
from assessments.services.errors import IllegalTransitionError
from assessments.services.submission import CLOSED_REASON_TEXT, campaign_closed_reason

logger = logging.getLogger(__name__)


def enqueue_after_commit(task_name: str, *args: Any) -> None:
    """Send a task once the surrounding transaction has committed, never before.

    If the broker is down the row that describes the work is already committed, and the beat
    sweep sends the task later: work is delayed, never lost.
    """
    from assessments import tasks  # tasks import this module

    task = getattr(tasks, task_name)

    def send() -> None:
        try:
            task.delay(*args)
        except Exception:  # noqa: BLE001 - a broker outage must not fail the committed work
            logger.warning("Could not enqueue %s%r; the periodic sweep will retry", task_name, args)
            return
        if task_name in DELIVERY_TASKS:
            Campaign.objects.filter(pk=args[0]).update(delivery_queued_at=timezone.now())

    transaction.on_commit(send)


def campaign_delivery_queue(*, campaign_id: int) -> None:
    """Send the delivery tasks of one campaign now (the sweep's way; outside a transaction)."""
    for task_name in DELIVERY_TASKS:
        enqueue_after_commit(task_name, campaign_id)


# Tasks that deliver email for one campaign (their only argument); the sweep resends them.
DELIVERY_TASKS = ("send_invitations", "send_reminders")
# A campaign whose delivery was queued this recently is left to that task by the sweep.
DELIVERY_REQUEUE_AFTER = dt.timedelta(minutes=10)


@transaction.atomic
def invitations_retry_failed(*, campaign: Campaign) -> int:
    """Send again every invitation of an open campaign whose email was refused.

    HR calls this once the cause is fixed (a mail server, an address in the HRIS). Returns how
    many invitations were put back in line.
    """
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.status != CampaignStatus.OPEN:
        raise IllegalTransitionError(
            {"status": f"Campaign '{locked.name}' is {locked.status}: only an open campaign sends."}
        )
    # Someone who answered has nothing to be sent (a failed invitation never reached them, so
    # this guards against data repaired by hand).
    count = Invitation.objects.filter(
        campaign=locked, delivery_status=DeliveryStatus.FAILED, completed_on__isnull=True
    ).update(delivery_status=DeliveryStatus.PENDING, delivery_error="")
    if count:
        enqueue_after_commit("send_invitations", locked.pk)
    return count


# --- Tokens and delivery --------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def invitation_token_issue(*, invitation: Invitation, today: dt.date | None = None) -> str:
    """Create a fresh 256-bit personal token for `invitation`; only its hash is stored."""
    token = secrets.token_urlsafe(32)
    InvitationToken.objects.create(
        invitation=invitation,
        token_hash=token_hash(token),
        issued_on=today or timezone.localdate(),
    )
    return token


@dataclass(frozen=True)
class DeliveryResult:
    sent: int
    failed: int


def invitations_send_pending(*, campaign_id: int) -> DeliveryResult:
    """Email every invitation of an open campaign that has not been sent yet.

    Safe to repeat and to run twice at once: each invitation is locked, re-checked and marked
    in the transaction that sends it, so a retried batch skips what went out. A refused
    address marks that invitation failed and the batch goes on.
    """
    return _deliver(
        campaign_id=campaign_id,
        kind="invitation",
        owed=lambda campaign: Q(delivery_status=DeliveryStatus.PENDING, completed_on__isnull=True),
        mark=lambda campaign: {"delivery_status": DeliveryStatus.SENT, "delivery_error": ""},
    )


def reminders_send_owed(*, campaign_id: int) -> DeliveryResult:
    """Send one reminder to each invitation that is owed one and has not been completed."""
    return _deliver(
        campaign_id=campaign_id,
        kind="reminder",
        owed=lambda campaign: Q(
            delivery_status=DeliveryStatus.SENT,
            completed_on__isnull=True,
            reminders_sent__lt=campaign.reminder_round,
        ),
        mark=lambda campaign: {"reminders_sent": campaign.reminder_round},
    )


def _deliver(
    *,
    campaign_id: int,
    kind: str,
    owed: Callable[[Campaign], Q],
    mark: Callable[[Campaign], dict],
) -> DeliveryResult:
    sent = failed = 0
    last_pk = 0
    while True:
        # Re-read the campaign every batch: a campaign that closed stops getting email at once.
        campaign = Campaign.objects.select_related("organization").get(pk=campaign_id)
        if campaign_closed_reason(campaign=campaign, now=timezone.now()):
            break
        batch = list(
            Invitation.objects.filter(owed(campaign), campaign_id=campaign_id, pk__gt=last_pk)
            .order_by("pk")
            .values_list("pk", flat=True)[: settings.EMAIL_BATCH_SIZE]
        )
        if not batch:
            break
        last_pk = batch[-1]
        with get_connection() as connection:
            for pk in batch:
                outcome = _deliver_one(pk, campaign, kind, owed, mark, connection)
                sent += outcome == "sent"
                failed += outcome == "failed"
    return DeliveryResult(sent=sent, failed=failed)


@transaction.atomic
def _deliver_one(pk, campaign, kind, owed, mark, connection) -> str:
    invitation = (
        Invitation.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("employee")
        .filter(owed(campaign), pk=pk)
        .first()
    )
    if invitation is None:  # done meanwhile by another worker, or completed
        return "skipped"
    try:
        with transaction.atomic():  # the token exists only if its email went out
            token = invitation_token_issue(invitation=invitation)
            message = build_survey_email(
                kind=kind,
                invitation=invitation,
                campaign=campaign,
                organization_name=campaign.organization.name,
                token=token,
            )
            connection.send_messages([message])
    except SoftTimeLimitExceeded:
        # The batch ran out of time, not this address: leave the invitation as it was (the
        # token was rolled back with it) and stop; the sweep sends the rest.
        raise
    except Exception as exc:  # noqa: BLE001 - one bad address must never stop the batch
        if kind == "reminder":
            # Reminders go only to people who have not answered: a per-person record of a
            # failed reminder (or a count of them) would tell who did not answer. The round
            # is given up for this address, quietly; nothing about it is kept.
            Invitation.objects.filter(pk=pk).update(**mark(campaign))
        else:
            error = f"{type(exc).__name__}: {exc}"[:300]
            Invitation.objects.filter(pk=pk).update(
                delivery_status=DeliveryStatus.FAILED, delivery_error=error
            )
        logger.warning("Delivery of %s for invitation %s failed: %s", kind, pk, type(exc).__name__)
        return "failed"
    Invitation.objects.filter(pk=pk).update(**mark(campaign))
    return "sent"


@transaction.atomic
def campaign_remind_now(*, campaign: Campaign) -> Campaign:
    """HR's "remind now": everyone invited who has not answered gets one more reminder."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if reason := campaign_closed_reason(campaign=campaign, now=timezone.now()):
        raise IllegalTransitionError(
            {"status": f"Campaign '{campaign.name}' is {CLOSED_REASON_TEXT[reason]}: no reminders."}
        )
    campaign.reminder_round = F("reminder_round") + 1
    campaign.save(update_fields=["reminder_round"])
    campaign.refresh_from_db()
    enqueue_after_commit("send_reminders", campaign.pk)
    return campaign


def reminders_schedule_due(*, now: dt.datetime | None = None) -> int:
    """Start the scheduled reminder rounds whose day has come; returns how many started."""
    now = now or timezone.now()
    started = 0
    for campaign in Campaign.objects.filter(status=CampaignStatus.OPEN, closes_at__gt=now):
        if not campaign.opens_at or not campaign.reminder_days:
            continue
        due = sum(
            1 for day in campaign.reminder_days if campaign.opens_at + dt.timedelta(days=day) <= now
        )
        with transaction.atomic():
            locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
            new_rounds = due - locked.scheduled_reminders_started
            if new_rounds <= 0:
                continue
            # Rounds that fell due together (a beat outage) become one reminder, not several.
            locked.scheduled_reminders_started = due
            locked.reminder_round += 1
            locked.save(update_fields=["scheduled_reminders_started", "reminder_round"])
            enqueue_after_commit("send_reminders", locked.pk)
            started += 1
    return started


def campaigns_needing_delivery() -> list[int]:
    """Open campaigns with invitations not yet sent or reminders owed (for the beat sweep),
    except those whose delivery was queued recently."""
    now = timezone.now()
    open_campaigns = Campaign.objects.filter(status=CampaignStatus.OPEN, closes_at__gt=now).exclude(
        delivery_queued_at__gte=now - DELIVERY_REQUEUE_AFTER
    )
    pending = Invitation.objects.filter(
        campaign__in=open_campaigns, delivery_status=DeliveryStatus.PENDING
    ).values_list("campaign_id", flat=True)
    owed = Invitation.objects.filter(
        campaign__in=open_campaigns,
        delivery_status=DeliveryStatus.SENT,
        completed_on__isnull=True,
        reminders_sent__lt=F("campaign__reminder_round"),
    ).values_list("campaign_id", flat=True)
    return sorted(set(pending.distinct()) | set(owed.distinct()))
