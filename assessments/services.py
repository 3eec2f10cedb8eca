"""Writes for instruments, campaigns, invitations and responses."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import get_connection
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from accounts.models import Department, Employee, Organization
from assessments.answers import AnswerError, encode_answers, parse_answers
from assessments.emails import build_survey_email
from assessments.instruments.loader import definition_checksum
from assessments.models import (
    MIN_GROUP_SIZE_FLOOR,
    Campaign,
    CampaignDepartment,
    CampaignStatus,
    DeliveryStatus,
    Instrument,
    InstrumentDomain,
    InstrumentItem,
    Invitation,
    InvitationToken,
    Response,
)
from assessments.selectors import instrument_spec

logger = logging.getLogger(__name__)


class InstrumentInUseError(ValidationError):
    """Raised when a definition would change an instrument version that a campaign uses."""


class IllegalTransitionError(ValidationError):
    """Raised when a campaign is asked to move to a status it cannot reach from where it is."""


class CampaignFrozenError(ValidationError):
    """Raised when a launched campaign's frozen settings are changed."""


@dataclass(frozen=True)
class InstrumentLoadResult:
    instrument: Instrument
    outcome: str  # "created", "updated" or "unchanged"


@transaction.atomic
def instrument_load(*, definition: dict) -> InstrumentLoadResult:
    """Store a validated definition as an instrument version; safe to repeat.

    An unchanged definition is left alone. A changed one replaces the stored version only while
    no campaign uses it; otherwise the author must publish a new version.
    """
    code, version = definition["code"], definition["version"]
    checksum = definition_checksum(definition)
    existing = Instrument.objects.select_for_update().filter(code=code, version=version).first()
    if existing is not None:
        if existing.checksum == checksum:
            return InstrumentLoadResult(existing, "unchanged")
        campaigns = list(existing.campaigns.values_list("name", flat=True)[:3])
        if campaigns:
            names = ", ".join(f"'{name}'" for name in campaigns)
            raise InstrumentInUseError(
                f"Instrument {code} v{version} is used by campaign(s) {names} and cannot change. "
                f"Publish the changed definition as version {version + 1} instead."
            )
        existing.domains.all().delete()
        instrument = existing
        outcome = "updated"
    else:
        instrument = Instrument(code=code, version=version)
        outcome = "created"

    instrument.title = definition["title"]
    instrument.languages = definition["languages"]
    instrument.normed = definition["norms"]["normed"]
    instrument.definition = definition
    instrument.checksum = checksum
    instrument.loaded_at = timezone.now()
    instrument.save()

    scales = {scale["code"]: scale for scale in definition["scales"]}
    items_by_code = {item["code"]: item for item in definition["items"]}
    position = 0
    for domain_position, domain in enumerate(definition["domains"]):
        bands = domain["bands"]
        domain_row = InstrumentDomain.objects.create(
            instrument=instrument,
            code=domain["code"],
            position=domain_position,
            group=domain["group"],
            title=domain["title"],
            direction=domain["direction"],
            min_answered=domain["min_answered"],
            high_risk_cutoff=domain["high_risk"],
            band_cutoffs=bands["absolute"],
            benchmark=bands["benchmark"],
        )
        rows = []
        for item_code in domain["items"]:
            item = items_by_code[item_code]
            rows.append(
                InstrumentItem(
                    instrument=instrument,
                    domain=domain_row,
                    code=item_code,
                    position=position,
                    text=item["text"],
                    scale=scales[item["scale"]],
                    reverse=item["reverse"],
                )
            )
            position += 1
        InstrumentItem.objects.bulk_create(rows)
    return InstrumentLoadResult(instrument, outcome)


@transaction.atomic
def campaign_create(
    *,
    organization: Organization,
    name: str,
    instrument: Instrument,
    target_departments: list[Department],
    languages: list[str] | None = None,
    opens_at: dt.datetime | None = None,
    closes_at: dt.datetime | None = None,
    min_group_size: int = 5,
    reminder_days: list[int] | None = None,
    attributes_used: list[str] | None = None,
    previous_campaign: Campaign | None = None,
) -> Campaign:
    """Create a draft campaign after checking what can be checked before launch."""
    languages = languages or list(instrument.languages)
    errors = campaign_settings_errors(
        organization=organization,
        instrument=instrument,
        target_departments=target_departments,
        languages=languages,
        opens_at=opens_at,
        closes_at=closes_at,
        min_group_size=min_group_size,
        reminder_days=reminder_days or [],
        attributes_used=attributes_used or [],
        previous_campaign=previous_campaign,
    )
    if not name.strip():
        errors["name"] = "A campaign needs a name."
    if errors:
        raise ValidationError(errors)
    campaign = Campaign.objects.create(
        organization=organization,
        name=name.strip(),
        instrument=instrument,
        languages=languages,
        opens_at=opens_at,
        closes_at=closes_at,
        min_group_size=min_group_size,
        reminder_days=sorted(set(reminder_days or [])),
        attributes_used=attributes_used or [],
        previous_campaign=previous_campaign,
    )
    campaign.target_departments.set(target_departments)
    return campaign


def campaign_settings_errors(
    *,
    organization: Organization,
    instrument: Instrument,
    target_departments: list[Department],
    languages: list[str],
    opens_at: dt.datetime | None,
    closes_at: dt.datetime | None,
    min_group_size: int,
    reminder_days: list,
    attributes_used: list,
    previous_campaign: Campaign | None,
    campaign: Campaign | None = None,
) -> dict[str, str]:
    """Problems with a campaign's settings, by field (empty when all is well).

    Shared by the services and by forms, so every way in checks the same rules.
    """
    errors: dict[str, str] = {}
    if min_group_size is None or min_group_size < MIN_GROUP_SIZE_FLOOR:
        errors["min_group_size"] = (
            f"The minimum group size must be at least {MIN_GROUP_SIZE_FLOOR}, got {min_group_size}."
        )
    if not isinstance(languages, list) or not languages:
        errors["languages"] = f"Choose at least one of {', '.join(instrument.languages)}."
    elif unsupported := [lang for lang in languages if lang not in instrument.languages]:
        errors["languages"] = (
            f"{instrument} has no text in {', '.join(map(str, unsupported))}; "
            f"it supports {', '.join(instrument.languages)}."
        )
    foreign = [d.name for d in target_departments if d.organization_id != organization.pk]
    if foreign:
        errors["target_departments"] = (
            f"Not departments of this organisation: {', '.join(foreign)}."
        )
    if opens_at and closes_at and closes_at <= opens_at:
        errors["closes_at"] = "The closing time must be after the opening time."
    if not isinstance(reminder_days, list) or any(
        isinstance(day, bool) or not isinstance(day, int) or day < 1 for day in reminder_days
    ):
        errors["reminder_days"] = (
            "Reminder days are a list of whole days after opening (1 or more), "
            f"got {reminder_days!r}."
        )
    allowed = settings.EMPLOYEE_ATTRIBUTES
    if not isinstance(attributes_used, list) or any(a not in allowed for a in attributes_used):
        errors["attributes_used"] = (
            f"Breakdowns may use only these coarse attributes: {', '.join(allowed)}; "
            f"got {attributes_used!r}."
        )
    if previous_campaign is not None:
        if previous_campaign.organization_id != organization.pk:
            errors["previous_campaign"] = "The previous campaign belongs to another organisation."
        elif campaign is not None and previous_campaign.pk == campaign.pk:
            errors["previous_campaign"] = "A campaign cannot follow itself."
    return errors


# Status only moves forward. A scheduled campaign has been launched (its invitations exist), so it
# cannot fall back to draft; a closed campaign never reopens.
ALLOWED_TRANSITIONS: dict[str, tuple[str, ...]] = {
    CampaignStatus.DRAFT: (CampaignStatus.SCHEDULED, CampaignStatus.OPEN),
    CampaignStatus.SCHEDULED: (CampaignStatus.OPEN,),
    CampaignStatus.OPEN: (CampaignStatus.CLOSED,),
    CampaignStatus.CLOSED: (),
}


@transaction.atomic
def campaign_transition(*, campaign: Campaign, to: str, now: dt.datetime | None = None) -> Campaign:
    """Move a campaign to status `to`, or raise IllegalTransitionError saying why not.

    To close, interfaces call `results.services.campaign_close`, which calls this and asks for
    the scoring run in the same transaction.
    """
    now = now or timezone.now()
    if to not in CampaignStatus.values:
        raise IllegalTransitionError(
            {"status": f"Unknown status '{to}'; choose one of {', '.join(CampaignStatus.values)}."}
        )
    if to == CampaignStatus.CLOSED:
        _campaign_close_lock(campaign.pk, exclusive=True)
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    current = locked.status
    if to not in ALLOWED_TRANSITIONS[current]:
        if current == CampaignStatus.CLOSED:
            reason = "a closed campaign never reopens; run a follow-up campaign instead"
        else:
            allowed = ", ".join(ALLOWED_TRANSITIONS[current])
            reason = f"from {current} it can only move to {allowed}"
        raise IllegalTransitionError(
            {"status": f"Campaign '{locked.name}' cannot move from {current} to {to}: {reason}."}
        )
    if to == CampaignStatus.SCHEDULED and (locked.opens_at is None or locked.closes_at is None):
        raise IllegalTransitionError(
            {
                "opens_at": (
                    f"Campaign '{locked.name}' needs opening and closing times to be scheduled."
                )
            }
        )
    locked.status = to
    fields = ["status"]
    if to in (CampaignStatus.SCHEDULED, CampaignStatus.OPEN) and locked.launched_at is None:
        locked.launched_at = now
        fields.append("launched_at")
    if to == CampaignStatus.OPEN and locked.opens_at is None:
        locked.opens_at = now
        fields.append("opens_at")
    if to == CampaignStatus.CLOSED:
        locked.closed_at = now
        fields.append("closed_at")
    locked.save(update_fields=fields)
    if to == CampaignStatus.OPEN:
        _enqueue_on_commit("send_invitations", locked.pk)
    return locked


# Settings fixed once a campaign is launched: changing them would change who is counted or how.
FROZEN_AFTER_LAUNCH = (
    "min_group_size",
    "instrument",
    "attributes_used",
    "languages",
    "target_departments",
    "previous_campaign",
)
EDITABLE_WHILE_RUNNING = ("name", "opens_at", "closes_at", "reminder_days")


@transaction.atomic
def campaign_update(*, campaign: Campaign, **changes) -> Campaign:
    """Change a campaign's settings; who is asked, k and the breakdowns freeze at launch."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    unknown = sorted(set(changes) - {*EDITABLE_WHILE_RUNNING, *FROZEN_AFTER_LAUNCH})
    if unknown:
        raise ValidationError({unknown[0]: f"'{unknown[0]}' cannot be changed here."})
    if locked.status == CampaignStatus.CLOSED:
        raise CampaignFrozenError({"status": f"Campaign '{locked.name}' is closed."})
    if locked.status != CampaignStatus.DRAFT:
        frozen = [name for name in FROZEN_AFTER_LAUNCH if name in changes]
        if frozen:
            raise CampaignFrozenError(
                {
                    frozen[0]: (
                        f"Campaign '{locked.name}' was launched; {frozen[0]} is frozen at launch."
                    )
                }
            )
    targets = changes.pop("target_departments", None)
    merged = {
        name: changes.get(name, getattr(locked, name))
        for name in (*EDITABLE_WHILE_RUNNING, *FROZEN_AFTER_LAUNCH)
        if name != "target_departments"
    }
    if "name" in changes and not str(changes["name"]).strip():
        raise ValidationError({"name": "A campaign needs a name."})
    errors = campaign_settings_errors(
        organization=locked.organization,
        target_departments=list(targets or []),
        campaign=locked,
        **{k: v for k, v in merged.items() if k != "name"},
    )
    if errors:
        raise ValidationError(errors)
    for name, value in changes.items():
        setattr(locked, name, value)
    if changes:
        locked.save(update_fields=list(changes))
    if targets is not None:
        locked.target_departments.set(targets)
    return locked


def campaigns_open_due(*, now: dt.datetime | None = None) -> int:
    """Open the scheduled campaigns whose time has come; the number opened.

    Closing on schedule is `results.services.campaigns_advance_schedule`: a close starts the
    scoring, which lives in the layer above.
    """
    now = now or timezone.now()
    opened = 0
    due = Campaign.objects.filter(status=CampaignStatus.SCHEDULED, opens_at__lte=now)
    for campaign in due.only("pk"):
        # Two sweeps may overlap (a slow beat, a manual run): the one that loses the race skips.
        try:
            campaign_transition(campaign=campaign, to=CampaignStatus.OPEN, now=now)
        except IllegalTransitionError:
            continue
        opened += 1
    return opened


def _enqueue_on_commit(task_name: str, *args: Any) -> None:
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
        _enqueue_on_commit(task_name, campaign_id)


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
    count = Invitation.objects.filter(
        campaign=locked, delivery_status=DeliveryStatus.FAILED
    ).update(delivery_status=DeliveryStatus.PENDING, delivery_error="")
    if count:
        _enqueue_on_commit("send_invitations", locked.pk)
    return count


# --- Launch -------------------------------------------------------------------------------


@transaction.atomic
def campaign_launch(*, campaign: Campaign, now: dt.datetime | None = None) -> Campaign:
    """Check a draft campaign, invite everyone in its target departments and open or schedule it.

    Each targeted active employee gets one invitation with their department as it is now; later
    moves in the HRIS do not change where their answers count. Opening sends the invitations.
    """
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != CampaignStatus.DRAFT:
        raise IllegalTransitionError(
            {
                "status": (
                    f"Campaign '{campaign.name}' was already launched (it is {campaign.status})."
                )
            }
        )
    targets = list(campaign.target_departments.all())
    employees = _targeted_employees(campaign.organization_id, targets)
    errors = _launch_errors(campaign, targets, employees, now)
    if errors:
        raise ValidationError(errors)

    languages = campaign.languages or list(campaign.instrument.languages)
    used = list(campaign.attributes_used)
    Invitation.objects.bulk_create(
        [
            Invitation(
                organization_id=campaign.organization_id,
                campaign=campaign,
                employee_id=employee_id,
                department_id=department_id,
                language=language if language in languages else languages[0],
                attributes={name: attributes[name] for name in used if name in attributes},
            )
            for employee_id, department_id, language, attributes in employees.values_list(
                "pk", "department_id", "language", "attributes"
            )
        ],
        batch_size=1000,
    )
    campaign_population_freeze(campaign=campaign)
    opens_now = campaign.opens_at is None or campaign.opens_at <= now
    to = CampaignStatus.OPEN if opens_now else CampaignStatus.SCHEDULED
    return campaign_transition(campaign=campaign, to=to, now=now)


@transaction.atomic
def campaign_population_freeze(*, campaign: Campaign) -> int:
    """Record the department tree of a campaign as it is now (its frozen population).

    Every department of the target subtrees and of the invitations, with all their ancestors,
    keeps its current parent. Safe to call twice: a campaign frozen once stays as it was.
    Returns the number of departments recorded.
    """
    if CampaignDepartment.objects.filter(campaign=campaign).exists():
        return 0
    tree = {
        pk: (parent_id, path)
        for pk, parent_id, path in Department.objects.for_organization(
            campaign.organization_id
        ).values_list("pk", "parent_id", "path")
    }
    targets = [tree[pk][1] for pk in campaign.target_departments.values_list("pk", flat=True)]
    chosen = {pk for pk, (_, path) in tree.items() if path.startswith(tuple(targets))}
    for model in (Invitation, Response):
        chosen |= set(
            model.objects.filter(campaign=campaign)
            .values_list("department_id", flat=True)
            .order_by()
            .distinct()
        )
    for pk in list(chosen):
        chosen.update(int(part) for part in tree[pk][1].strip("/").split("/") if part)
    CampaignDepartment.objects.bulk_create(
        [
            CampaignDepartment(campaign=campaign, department_id=pk, parent_id=tree[pk][0])
            for pk in sorted(chosen)
        ],
        batch_size=1000,
    )
    return len(chosen)


def _targeted_employees(organization_id: int, targets: list[Department]) -> QuerySet[Employee]:
    if not targets:
        return Employee.objects.none()
    in_subtrees = reduce(or_, (Q(department__path__startswith=d.path) for d in targets))
    return Employee.objects.for_organization(organization_id).filter(in_subtrees, is_active=True)


def _launch_errors(
    campaign: Campaign, targets: list[Department], employees: QuerySet, now: dt.datetime
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not campaign.instrument.items.exists():
        errors["instrument"] = f"Instrument {campaign.instrument} has no questions."
    if not targets:
        errors["target_departments"] = "Choose at least one target department."
    elif not employees.exists():
        names = ", ".join(d.name for d in targets)
        errors["target_departments"] = f"No active employees in {names} or below."
    if campaign.closes_at is None:
        errors["closes_at"] = "Set when the campaign closes."
    elif campaign.closes_at <= now:
        errors["closes_at"] = "The closing time has already passed."
    elif campaign.opens_at is not None and campaign.closes_at <= campaign.opens_at:
        errors["closes_at"] = "The closing time must be after the opening time."
    if campaign.min_group_size < MIN_GROUP_SIZE_FLOOR:
        errors["min_group_size"] = (
            f"The minimum group size must be at least {MIN_GROUP_SIZE_FLOOR}, "
            f"got {campaign.min_group_size}."
        )
    unsupported = [x for x in campaign.languages if x not in campaign.instrument.languages]
    if unsupported:
        errors["languages"] = f"{campaign.instrument} has no text in {', '.join(unsupported)}."
    return errors


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
        owed=lambda campaign: Q(delivery_status=DeliveryStatus.PENDING),
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
            {"status": f"Campaign '{campaign.name}' is {_REASON_TEXT[reason]}: no reminders."}
        )
    campaign.reminder_round = F("reminder_round") + 1
    campaign.save(update_fields=["reminder_round"])
    campaign.refresh_from_db()
    _enqueue_on_commit("send_reminders", campaign.pk)
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
            _enqueue_on_commit("send_reminders", locked.pk)
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


# --- Answering ----------------------------------------------------------------------------

_REASON_TEXT = {"not_open_yet": "not open yet", "closed": "closed"}


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
        _campaign_close_lock(context.campaign_id, exclusive=False)
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


def _campaign_close_lock(campaign_id: int, *, exclusive: bool) -> None:
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
