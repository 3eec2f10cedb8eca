"""Scoring runs: one complete, immutable set of result cells per run of a closed campaign."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import Department, TenantModel, TenantQuerySet
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
        # The table kept its name when runs moved here from `reports`: no data moved.
        db_table = "reports_resultrun"
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

    objects = TenantQuerySet.as_manager()
    organization_lookup = "run__organization_id"
    scope_lookup = "department"  # the organisation's own cells (no department): whole scopes

    class Meta:
        db_table = "reports_domainresult"  # kept from before the move, like the run's
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
