"""What HR gets out: scored result runs, PDF reports and action plans."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Department, TenantModel
from assessments.models import Campaign


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ResultRun(TenantModel):
    """One complete, immutable scoring of a closed campaign.

    A run becomes current only when all its rows are written; at most one run per campaign is
    current, and a failed run leaves the previous current one in place.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="result_runs")
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING)
    is_current = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    response_count = models.PositiveIntegerField(null=True, blank=True)
    # When a task for this run was last sent: the sweep leaves recently queued runs alone.
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Every breakdown attribute of the run with all its categories. Only published breakdown
    # cells are stored as rows; pages and exports show the others from here as hidden.
    breakdowns = models.JSONField(default=dict, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign"],
                condition=Q(is_current=True),
                name="one_current_run_per_campaign",
            ),
            models.CheckConstraint(
                condition=Q(is_current=False) | Q(status=RunStatus.DONE),
                name="only_done_runs_are_current",
            ),
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values), name="result_run_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.campaign} ({self.status})"


class Band(models.TextChoices):
    URGENT = "urgent", "Urgent action"
    IMPROVE = "improve", "Improvement needed"
    GOOD = "good", "Good, room to improve"
    WELL = "well", "Doing well"


# Every figure a result row may carry; a suppressed row carries none of them.
RESULT_FIGURES = (
    "n",
    "mean",
    "sd",
    "share_high_risk",
    "risk_score",
    "band",
    "trend_diff",
    "trend_ci_low",
    "trend_ci_high",
    "trend_significant",
    "band_counts",
)


def _all_figures_null() -> Q:
    return Q(**{f"{name}__isnull": True for name in RESULT_FIGURES})


class DomainResult(models.Model):
    """One cell of a run: a department (or the whole organisation) by a domain, maybe a breakdown.

    `department` empty means the whole organisation. `breakdown_attribute`/`breakdown_value`
    empty means all respondents of the group. Department cells are stored suppressed or not;
    a breakdown cell only when it is published (its run lists every category). A suppressed
    cell is stored without any figure, so no page, export or API can leak what it never
    receives; the database enforces that.
    """

    run = models.ForeignKey(ResultRun, on_delete=models.CASCADE, related_name="rows")
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    domain_code = models.SlugField(max_length=80)
    breakdown_attribute = models.CharField(max_length=60, blank=True, default="")
    breakdown_value = models.CharField(max_length=100, blank=True, default="")
    suppressed = models.BooleanField()
    n = models.PositiveIntegerField(null=True, blank=True)
    mean = models.FloatField(null=True, blank=True)
    sd = models.FloatField(null=True, blank=True)
    share_high_risk = models.FloatField(null=True, blank=True)
    risk_score = models.FloatField(null=True, blank=True)
    # NULL like every other figure of a suppressed cell, so "no figure" is one test everywhere.
    band = models.CharField(  # noqa: DJ001
        max_length=16, choices=Band.choices, null=True, blank=True
    )
    trend_diff = models.FloatField(null=True, blank=True)
    trend_ci_low = models.FloatField(null=True, blank=True)
    trend_ci_high = models.FloatField(null=True, blank=True)
    trend_significant = models.BooleanField(null=True, blank=True)
    # Respondents per band ({"urgent": n, ...}) for department cells; none for breakdowns.
    band_counts = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "run",
                    "department",
                    "domain_code",
                    "breakdown_attribute",
                    "breakdown_value",
                ],
                name="result_cell_unique",
            ),
            models.UniqueConstraint(
                fields=["run", "domain_code", "breakdown_attribute", "breakdown_value"],
                condition=Q(department__isnull=True),
                name="result_org_cell_unique",
            ),
            models.CheckConstraint(
                condition=(Q(suppressed=True) & _all_figures_null())
                | Q(suppressed=False, n__isnull=False, mean__isnull=False)
                # A respondent-count row carries its n alone.
                | Q(suppressed=False, n__isnull=False, domain_code="respondents"),
                name="suppressed_cell_has_no_figures",
            ),
            # Below the smallest k any campaign may use, a cell can never be published.
            models.CheckConstraint(
                condition=Q(suppressed=True) | Q(n__gte=3), name="published_cell_has_at_least_3"
            ),
            models.CheckConstraint(
                condition=Q(band__isnull=True) | Q(band__in=Band.values),
                name="result_band_valid",
            ),
        ]

    def __str__(self) -> str:
        where = self.department_id or "organisation"
        return f"{where} · {self.domain_code}"


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Report(TenantModel):
    """A PDF for a campaign: the organisation report, or one department's pack."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="reports")
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for the organisation report.",
    )
    language = models.CharField(max_length=8, default="en")
    result_run = models.ForeignKey(ResultRun, on_delete=models.PROTECT, related_name="reports")
    # A digest of everything that goes into the file (see reports.services.report_inputs):
    # a finished file is reused only for the same inputs.
    inputs = models.CharField(max_length=64, blank=True, default="", editable=False)
    # When a task for this report was last sent: the sweep leaves recently queued ones alone.
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    status = models.CharField(
        max_length=16, choices=ReportStatus.choices, default=ReportStatus.QUEUED
    )
    error = models.TextField(blank=True)
    file = models.FileField(upload_to="reports/%Y/%m/", blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ReportStatus.values), name="report_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Report {self.pk} ({self.status})"


class ActionStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class Action(TenantModel):
    """Something agreed to reduce a risk in one department and domain, with an owner and a date."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="actions")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="actions")
    domain_code = models.SlugField(max_length=80)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.CharField(max_length=200, help_text="The person or role who carries it out.")
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=ActionStatus.choices, default=ActionStatus.PLANNED
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ActionStatus.values), name="action_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title
