"""What HR gets out of results: PDF reports and action plans."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from accounts.models import Department, TenantModel
from assessments.models import Campaign
from results.models import ResultRun


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

    scope_lookup = "department"  # the organisation report (no department): whole scopes only

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
    PLANNED = "planned", gettext_lazy("Planned")
    IN_PROGRESS = "in_progress", gettext_lazy("In progress")
    DONE = "done", gettext_lazy("Done")
    CANCELLED = "cancelled", gettext_lazy("Cancelled")


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

    scope_lookup = "department"

    class Meta:
        ordering = ["due_date", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=ActionStatus.values), name="action_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title
