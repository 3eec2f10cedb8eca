"""Admin for result runs, reports and actions."""

from django.contrib import admin

from assessments.admin import ReadOnlyAdminMixin
from reports.models import Action, DomainResult, Report, ResultRun


class DomainResultInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = DomainResult
    fields = [
        "department",
        "domain_code",
        "breakdown_attribute",
        "breakdown_value",
        "suppressed",
        "n",
        "mean",
        "sd",
        "share_high_risk",
        "risk_score",
        "band",
    ]
    readonly_fields = fields


@admin.register(ResultRun)
class ResultRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "campaign",
        "status",
        "is_current",
        "response_count",
        "duration_ms",
        "created_at",
    ]
    list_filter = ["status", "is_current"]
    list_select_related = ["campaign"]
    inlines = [DomainResultInline]


@admin.register(Report)
class ReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "campaign", "department", "language", "status", "created_at"]
    list_filter = ["status", "language"]
    list_select_related = ["campaign", "department"]


@admin.register(Action)
class ActionAdmin(admin.ModelAdmin):
    list_display = ["title", "campaign", "department", "domain_code", "owner", "due_date", "status"]
    list_filter = ["organization", "status"]
    search_fields = ["title", "owner"]
    list_select_related = ["campaign", "department"]
