"""Admin for result runs, reports and actions."""

from pathlib import Path

from django import forms
from django.contrib import admin
from django.http import FileResponse, Http404
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.html import format_html

from accounts.models import AuditAction
from accounts.services import audit_record
from backoffice.admin.campaigns import ReadOnlyAdminMixin
from reports.models import Action, Report
from reports.services import ACTION_EDITABLE, action_create, action_errors, action_update
from results.models import DomainResult, ResultRun
from results.selectors import published_respondents, visible_runs


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
    """Scoring runs: the current one of each campaign, and runs waiting, running or failed.

    A finished run that is no longer current is withdrawn everywhere, here too: its figures
    could otherwise be set against the current ones. The respondent count is the published
    one (suppressed below k), never the raw number of responses.
    """

    list_display = ["id", "campaign", "status", "is_current", "respondents", "created_at"]
    list_filter = ["status", "is_current"]
    list_select_related = ["campaign"]
    fields = ["campaign", "status", "is_current", "respondents", "attempts", "error", "created_at"]
    readonly_fields = fields
    inlines = [DomainResultInline]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(visible_runs())

    @admin.display(description="Respondents")
    def respondents(self, obj: ResultRun) -> str:
        if not obj.is_current:
            return "—"
        count = published_respondents(run=obj)
        return (
            str(count)
            if count is not None
            else f"hidden (below k = {obj.campaign.min_group_size}, or protecting a smaller group)"
        )


@admin.register(Report)
class ReportAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Reports of current runs only: one made from an older run is withdrawn."""

    list_display = ["id", "campaign", "department", "language", "status", "created_at", "pdf"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(result_run__is_current=True)

    @admin.display(description="PDF")
    def pdf(self, obj: Report) -> str:
        if obj.status != "done" or not obj.file:
            return obj.error.splitlines()[0] if obj.error else "—"
        url = reverse("admin:reports_report_download", args=[obj.pk])
        return format_html('<a href="{}">Download</a>', url)

    def get_urls(self):
        download = path(
            "<int:pk>/download/",
            self.admin_site.admin_view(self.download),
            name="reports_report_download",
        )
        return [download, *super().get_urls()]

    def download(self, request, pk: int) -> FileResponse:
        """The admin site's own download: a superuser's reach ends at the admin site, so the
        HR app's download does not serve them."""
        report = self.get_queryset(request).filter(pk=pk, status="done").exclude(file="").first()
        if report is None:
            raise Http404("No such report, or it is not ready yet.")
        audit_record(
            organization=report.organization_id,
            actor=request.user,
            action=AuditAction.REPORT_DOWNLOADED,
            subject=f"report {report.pk}: {Path(report.file.name).name} (admin site)",
        )
        response = FileResponse(
            report.file.open("rb"),
            as_attachment=True,
            filename=Path(report.file.name).name,
            content_type="application/pdf",
        )
        add_never_cache_headers(response)
        return response

    list_filter = ["status", "language"]
    list_select_related = ["campaign", "department"]


class ActionForm(forms.ModelForm):
    """Checks an action with the services' own rules, each error next to its field."""

    class Meta:
        model = Action
        fields = [
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
        campaign = cleaned.get("campaign") or getattr(self.instance, "campaign", None)
        department = cleaned.get("department") or getattr(self.instance, "department", None)
        if campaign is None or department is None:
            return cleaned  # the missing field already carries its own error
        errors = action_errors(
            campaign=campaign,
            department=department,
            domain_code=cleaned.get("domain_code") or "",
            title=cleaned.get("title") or "",
            owner=cleaned.get("owner") or "",
            status=cleaned.get("status") or "",
        )
        for field, message in errors.items():
            self.add_error(field if field in self.fields else None, message)
        return cleaned


@admin.register(Action)
class ActionAdmin(admin.ModelAdmin):
    """Action plans; written by reports.services (action_create, action_update), like the HR
    app writes them, so the admin cannot store a domain the instrument lacks."""

    form = ActionForm
    list_display = ["title", "campaign", "department", "domain_code", "owner", "due_date", "status"]
    list_filter = ["organization", "status"]
    search_fields = ["title", "owner"]
    list_select_related = ["campaign", "department"]

    def get_readonly_fields(self, request, obj=None):
        # An action stays with the campaign and department it was agreed for.
        return ["campaign", "department"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            created = action_create(
                campaign=data["campaign"],
                department=data["department"],
                **{name: data[name] for name in ACTION_EDITABLE},
            )
            obj.pk, obj.organization_id = created.pk, created.organization_id
            obj._state.adding = False
            return
        changed = {name: data[name] for name in form.changed_data if name in ACTION_EDITABLE}
        if changed:
            action_update(action=obj, **changed)
