"""What is asked and answered: instruments, campaigns, invitations and anonymous responses."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Department, Employee, TenantModel, TenantQuerySet


class Direction(models.TextChoices):
    HIGHER_IS_BETTER = "higher_is_better", "Higher is better"
    HIGHER_IS_WORSE = "higher_is_worse", "Higher is worse"


class Instrument(models.Model):
    """One immutable version of a questionnaire, loaded from a definition file.

    The validated definition is kept whole in `definition`; domains and items are also stored as
    rows so pages and queries need not parse it. A version used by a campaign never changes: a
    changed questionnaire is a new version.
    """

    code = models.SlugField(max_length=80)
    version = models.PositiveIntegerField()
    title = models.JSONField(help_text="Title per language code.")
    languages = models.JSONField(default=list)
    normed = models.BooleanField(
        default=False, help_text="Whether its bands come from a normative sample."
    )
    definition = models.JSONField()
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the canonical definition.")
    loaded_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["code", "version"]
        constraints = [
            models.UniqueConstraint(fields=["code", "version"], name="instrument_code_version"),
            models.CheckConstraint(condition=Q(version__gte=1), name="instrument_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.code} v{self.version}"

    def title_in(self, language: str) -> str:
        return self.title.get(language) or next(iter(self.title.values()), self.code)


class InstrumentDomain(models.Model):
    """A scored area of an instrument (e.g. demands, exhaustion)."""

    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="domains")
    code = models.SlugField(max_length=80)
    position = models.PositiveSmallIntegerField()
    group = models.CharField(max_length=40, blank=True)
    title = models.JSONField()
    direction = models.CharField(max_length=20, choices=Direction.choices)
    min_answered = models.PositiveSmallIntegerField()
    high_risk_cutoff = models.FloatField()
    band_cutoffs = models.JSONField(null=True, blank=True, help_text="Absolute cut-offs [a, b, c].")
    benchmark = models.JSONField(null=True, blank=True, help_text="Percentiles p20, p50, p80.")

    class Meta:
        ordering = ["instrument", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["instrument", "code"], name="domain_code_per_instrument"
            ),
            models.UniqueConstraint(
                fields=["instrument", "position"], name="domain_position_per_instrument"
            ),
            models.CheckConstraint(
                condition=Q(direction__in=Direction.values), name="domain_direction_valid"
            ),
            models.CheckConstraint(
                condition=Q(min_answered__gte=1), name="domain_min_answered_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.instrument} · {self.code}"


class InstrumentItem(models.Model):
    """One question. `position` is its index in a response's compact answers."""

    instrument = models.ForeignKey(Instrument, on_delete=models.CASCADE, related_name="items")
    domain = models.ForeignKey(InstrumentDomain, on_delete=models.CASCADE, related_name="items")
    code = models.CharField(max_length=40)
    position = models.PositiveSmallIntegerField()
    text = models.JSONField(help_text="Item text per language code.")
    scale = models.JSONField(help_text="The item's scale: min, max, labels, value map, skip.")
    reverse = models.BooleanField(default=False)

    class Meta:
        ordering = ["instrument", "position"]
        constraints = [
            models.UniqueConstraint(fields=["instrument", "code"], name="item_code_per_instrument"),
            models.UniqueConstraint(
                fields=["instrument", "position"], name="item_position_per_instrument"
            ),
        ]

    def __str__(self) -> str:
        return self.code


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


MIN_GROUP_SIZE_FLOOR = 3
DEFAULT_MIN_GROUP_SIZE = 5


class CampaignQuerySet(TenantQuerySet):
    def visible_to(self, access) -> CampaignQuerySet:
        """Every campaign of the organisation; for a manager, the campaigns that asked people
        of their subtree (a target department inside it, or above it)."""
        rows = super().visible_to(access)
        if not access.is_member or access.whole_organization:
            return rows
        reaches = Q(target_departments__in=access.ancestor_or_self_ids()) | Q(
            target_departments__path__startswith=access.subtree_path
        )
        return rows.filter(pk__in=self.model.objects.filter(reaches).values("pk"))


class Campaign(TenantModel):
    """One survey round across some departments, from draft to closed.

    Status only moves forward (see `assessments.services.campaign_transition`); a closed
    campaign never reopens. `min_group_size` is k of the anonymity rules and is frozen at launch.
    """

    objects = CampaignQuerySet.as_manager()

    name = models.CharField(max_length=200)
    instrument = models.ForeignKey(Instrument, on_delete=models.PROTECT, related_name="campaigns")
    target_departments = models.ManyToManyField(Department, related_name="campaigns")
    languages = models.JSONField(default=list)
    opens_at = models.DateTimeField(null=True, blank=True)
    closes_at = models.DateTimeField(null=True, blank=True)
    reminder_days = models.JSONField(
        default=list, blank=True, help_text="Days after opening on which reminders go out."
    )
    min_group_size = models.PositiveSmallIntegerField(default=DEFAULT_MIN_GROUP_SIZE)
    attributes_used = models.JSONField(
        default=list,
        blank=True,
        help_text="Coarse employee attributes copied onto responses for breakdowns.",
    )
    # Reminder rounds started so far (scheduled and "remind now"); an invitation whose
    # reminders_sent is below this is owed one reminder.
    reminder_round = models.PositiveSmallIntegerField(default=0, editable=False)
    scheduled_reminders_started = models.PositiveSmallIntegerField(default=0, editable=False)
    previous_campaign = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="follow_ups"
    )
    status = models.CharField(
        max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    launched_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When delivery tasks were last sent for it: the sweep leaves recently queued ones alone.
    delivery_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_group_size__gte=MIN_GROUP_SIZE_FLOOR),
                name="campaign_min_group_size_at_least_3",
            ),
            models.CheckConstraint(
                condition=Q(status__in=CampaignStatus.values), name="campaign_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(opens_at__isnull=True)
                | Q(closes_at__isnull=True)
                | Q(closes_at__gt=F("opens_at")),
                name="campaign_closes_after_opening",
            ),
            models.CheckConstraint(
                condition=Q(status=CampaignStatus.DRAFT) | Q(launched_at__isnull=False),
                name="campaign_launched_has_launch_time",
            ),
            models.CheckConstraint(
                condition=~Q(status=CampaignStatus.CLOSED) | Q(closed_at__isnull=False),
                name="campaign_closed_has_close_time",
            ),
            models.CheckConstraint(
                condition=~Q(previous_campaign=F("id")), name="campaign_not_its_own_previous"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Invitation(TenantModel):
    """Who was asked, and whether they answered: never what they answered.

    The department is a snapshot taken at launch. Completion is recorded as a date only and
    nothing here changes at the moment of submission except `completed_on`, so the time of an
    answer cannot be matched to a Response. The links people receive are InvitationTokens.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="invitations")
    employee = models.ForeignKey(Employee, on_delete=models.PROTECT, related_name="invitations")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    language = models.CharField(max_length=8, default="en")
    delivery_status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    delivery_error = models.CharField(max_length=300, blank=True)
    reminders_sent = models.PositiveSmallIntegerField(default=0)
    completed_on = models.DateField(null=True, blank=True)
    # The coarse attributes the campaign uses, as the directory had them at launch: a response
    # carries these, so later HRIS changes never move an answer between breakdown groups.
    # NULL for invitations made before launch snapshots existed (then the employee's are used).
    attributes = models.JSONField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["campaign", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "employee"], name="invitation_one_per_employee"
            ),
            models.CheckConstraint(
                condition=Q(delivery_status__in=DeliveryStatus.values),
                name="invitation_delivery_status_valid",
            ),
        ]
        indexes = [
            # Participation counts (invited and answered per department) read this index
            # alone, not the invitations themselves.
            models.Index(
                fields=["campaign", "department", "completed_on"],
                name="invitation_participation",
            ),
            # Failed deliveries are few: counted and listed without reading the rest.
            models.Index(
                fields=["campaign"],
                condition=Q(delivery_status=DeliveryStatus.FAILED),
                name="invitation_failed_delivery",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation {self.pk} to {self.campaign}"

    @property
    def completed(self) -> bool:
        return self.completed_on is not None


class CampaignDepartment(models.Model):
    """A department's place in the tree as it was when its campaign launched.

    Together with the invitations' departments and attribute snapshots this is the campaign's
    frozen population: participation rolls up over it while the campaign is open, and every
    scoring run — the first, a retry or one asked for years later — rolls up over it, so moving
    a team afterwards can never make two figures of one campaign differ by that team.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="frozen_tree")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    parent = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "department"], name="frozen_department_once_per_campaign"
            ),
            models.CheckConstraint(
                condition=~Q(parent=F("department")), name="frozen_department_not_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.department_id} under {self.parent_id} in {self.campaign_id}"


class ParticipationDisclosure(models.Model):
    """A group whose answered count has been shown while its campaign was open.

    What was shown cannot be taken back, so the groups shown only ever grow (see
    results/scoring/disclosure.py); the scoring treats them as known. Rows are only ever added,
    and only while the campaign is open. `department` is empty for the whole campaign.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="disclosures")
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "department"], name="disclosure_once_per_campaign"
            ),
            models.UniqueConstraint(
                fields=["campaign"],
                condition=Q(department__isnull=True),
                name="disclosure_of_the_whole_once_per_campaign",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.department_id or 'all'} shown in {self.campaign_id}"


class InvitationToken(models.Model):
    """One personal survey link, stored only as the SHA-256 of its 256-bit random token.

    Every email (the invitation and each reminder) carries a fresh token, because the plain
    token is never stored and so cannot be sent twice; every token of an invitation stays valid.
    """

    invitation = models.ForeignKey(Invitation, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    issued_on = models.DateField()

    def __str__(self) -> str:
        return f"Token for invitation {self.invitation_id}"


class Response(TenantModel):
    """One anonymous set of answers.

    Nothing here links to an invitation or an employee: a random UUID key, the department
    snapshot and the coarse attributes the campaign uses. `answers` holds one byte per
    instrument item in item order (the scale position, 1..n; 0 = not answered), so a million
    responses load straight into an int8 matrix.

    There is deliberately no date, not even a day: the invitation records the day it was
    completed, and a day shared by both rows would pair a response with the only person of its
    department who answered that day.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="responses")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    answers = models.BinaryField()
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        # The key is random, so listings in key order reveal nothing about insertion order.
        ordering = ["id"]
        indexes = [models.Index(fields=["campaign", "department"])]

    def __str__(self) -> str:
        return "Anonymous response"
