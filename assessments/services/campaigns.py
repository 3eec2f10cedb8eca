"""Campaigns from draft to closed: creation, settings, status, launch and the population
frozen at launch. Closing is `results.services.campaign_close`, which starts the scoring."""

from __future__ import annotations

import datetime as dt
import logging
from functools import reduce
from operator import or_

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Department, Employee, EventType, Organization
from accounts.services import event_record
from assessments.models import (
    MIN_GROUP_SIZE_FLOOR,
    Campaign,
    CampaignDepartment,
    CampaignStatus,
    Instrument,
    Invitation,
    Response,
)
from assessments.services import delivery
from assessments.services.errors import CampaignFrozenError, IllegalTransitionError
from assessments.services.submission import campaign_close_lock

logger = logging.getLogger(__name__)


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
    inactive = [d.name for d in target_departments if not d.is_active]
    if foreign:
        errors["target_departments"] = (
            f"Not departments of this organisation: {', '.join(foreign)}."
        )
    elif inactive and campaign is None:
        errors["target_departments"] = f"Deactivated departments: {', '.join(inactive)}."
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
        campaign_close_lock(campaign.pk, exclusive=True)
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
    launched = to in (CampaignStatus.SCHEDULED, CampaignStatus.OPEN) and locked.launched_at is None
    if launched:
        locked.launched_at = now
        fields.append("launched_at")
    if to == CampaignStatus.OPEN and locked.opens_at is None:
        locked.opens_at = now
        fields.append("opens_at")
    if to == CampaignStatus.CLOSED:
        locked.closed_at = now
        fields.append("closed_at")
    locked.save(update_fields=fields)
    if launched or to == CampaignStatus.CLOSED:
        # For webhooks, in this transaction: the event exists exactly when the change does.
        event_record(
            organization=locked.organization_id,
            type=EventType.CAMPAIGN_LAUNCHED if launched else EventType.CAMPAIGN_CLOSED,
            data={"campaign": {"id": locked.pk, "name": locked.name}},
        )
    if to == CampaignStatus.OPEN:
        delivery.enqueue_after_commit("send_invitations", locked.pk)
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
