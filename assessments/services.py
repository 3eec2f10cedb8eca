"""Writes for instruments and campaigns."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Department, Organization
from assessments.instruments.loader import definition_checksum
from assessments.models import (
    MIN_GROUP_SIZE_FLOOR,
    Campaign,
    CampaignStatus,
    Instrument,
    InstrumentDomain,
    InstrumentItem,
)


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
    errors = _campaign_settings_errors(
        organization=organization,
        instrument=instrument,
        target_departments=target_departments,
        languages=languages,
        opens_at=opens_at,
        closes_at=closes_at,
        min_group_size=min_group_size,
        reminder_days=reminder_days or [],
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


def _campaign_settings_errors(
    *,
    organization: Organization,
    instrument: Instrument,
    target_departments: list[Department],
    languages: list[str],
    opens_at: dt.datetime | None,
    closes_at: dt.datetime | None,
    min_group_size: int,
    reminder_days: list[int],
    previous_campaign: Campaign | None,
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if min_group_size < MIN_GROUP_SIZE_FLOOR:
        errors["min_group_size"] = (
            f"The minimum group size must be at least {MIN_GROUP_SIZE_FLOOR}, got {min_group_size}."
        )
    unsupported = [lang for lang in languages if lang not in instrument.languages]
    if unsupported:
        errors["languages"] = (
            f"{instrument} has no text in {', '.join(unsupported)}; "
            f"it supports {', '.join(instrument.languages)}."
        )
    foreign = [d.name for d in target_departments if d.organization_id != organization.pk]
    if foreign:
        errors["target_departments"] = (
            f"Not departments of this organisation: {', '.join(foreign)}."
        )
    if opens_at and closes_at and closes_at <= opens_at:
        errors["closes_at"] = "The closing time must be after the opening time."
    bad_days = [day for day in reminder_days if not isinstance(day, int) or day < 1]
    if bad_days:
        errors["reminder_days"] = (
            f"Reminder days are whole days after opening (1 or more): {bad_days}."
        )
    if previous_campaign is not None and previous_campaign.organization_id != organization.pk:
        errors["previous_campaign"] = "The previous campaign belongs to another organisation."
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
    """Move a campaign to status `to`, or raise IllegalTransitionError saying why not."""
    now = now or timezone.now()
    if to not in CampaignStatus.values:
        raise IllegalTransitionError(
            {"status": f"Unknown status '{to}'; choose one of {', '.join(CampaignStatus.values)}."}
        )
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
    return locked


# Settings fixed once a campaign is launched: changing them would change who is counted or how.
FROZEN_AFTER_LAUNCH = ("min_group_size", "instrument", "attributes_used", "languages")


@transaction.atomic
def campaign_update(*, campaign: Campaign, **changes) -> Campaign:
    """Change a campaign's settings; k, the instrument and the breakdowns freeze at launch."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    allowed = {"name", "opens_at", "closes_at", "reminder_days", *FROZEN_AFTER_LAUNCH}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValidationError({unknown[0]: f"'{unknown[0]}' cannot be changed here."})
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
    if locked.status == CampaignStatus.CLOSED:
        raise CampaignFrozenError({"status": f"Campaign '{locked.name}' is closed."})
    merged = {name: changes.get(name, getattr(locked, name)) for name in allowed}
    errors = _campaign_settings_errors(
        organization=locked.organization,
        instrument=merged["instrument"],
        target_departments=[],
        languages=merged["languages"],
        opens_at=merged["opens_at"],
        closes_at=merged["closes_at"],
        min_group_size=merged["min_group_size"],
        reminder_days=merged["reminder_days"],
        previous_campaign=None,
    )
    if errors:
        raise ValidationError(errors)
    for name, value in changes.items():
        setattr(locked, name, value)
    locked.save(update_fields=list(changes))
    return locked


@dataclass(frozen=True)
class ScheduleResult:
    opened: int
    closed: int


def campaigns_advance_schedule(*, now: dt.datetime | None = None) -> ScheduleResult:
    """Open scheduled campaigns whose time has come and close open ones past their end."""
    now = now or timezone.now()
    opened = closed = 0
    due_to_open = Campaign.objects.filter(status=CampaignStatus.SCHEDULED, opens_at__lte=now)
    for campaign in due_to_open.only("pk"):
        opened += _transition_if_still_due(campaign, CampaignStatus.OPEN, now)
    due_to_close = Campaign.objects.filter(status=CampaignStatus.OPEN, closes_at__lte=now)
    for campaign in due_to_close.only("pk"):
        closed += _transition_if_still_due(campaign, CampaignStatus.CLOSED, now)
    return ScheduleResult(opened=opened, closed=closed)


def _transition_if_still_due(campaign: Campaign, to: str, now: dt.datetime) -> int:
    # Two sweeps may overlap (a slow beat, a manual run): the one that loses the race skips.
    try:
        campaign_transition(campaign=campaign, to=to, now=now)
    except IllegalTransitionError:
        return 0
    return 1
