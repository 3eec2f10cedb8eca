"""Admin for result runs, reports and actions."""

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from accounts.admin import same_organization_errors
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
    list_display = ["id", "campaign", "department", "language", "status", "created_at", "pdf"]

    @admin.display(description="PDF")
    def pdf(self, obj: Report) -> str:
        if obj.status != "done" or not obj.file:
            return obj.error.splitlines()[0] if obj.error else "—"
        return format_html('<a href="{}">Download</a>', reverse("reports:download", args=[obj.pk]))

    list_filter = ["status", "language"]
    list_select_related = ["campaign", "department"]


class ActionForm(forms.ModelForm):
    class Meta:
        model = Action
        fields = [
            "organization",
            "campaign",
            "department",
            "domain_code",
            "title",
            "description",
            "owner",
            "due_date",
            "status",
        ]

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        for field, message in same_organization_errors(
            cleaned, organization, ("campaign", "department")
        ).items():
            self.add_error(field, message)
        return cleaned


@admin.register(Action)
class ActionAdmin(admin.ModelAdmin):
    form = ActionForm
    list_display = ["title", "campaign", "department", "domain_code", "owner", "due_date", "status"]
    list_filter = ["organization", "status"]
    search_fields = ["title", "owner"]
    list_select_related = ["campaign", "department"]
