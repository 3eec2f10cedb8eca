"""Admin for instruments, campaigns and invitations.

Responses are deliberately not registered: nobody may list individual answers.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from assessments.models import Campaign, CampaignStatus, Instrument, InstrumentDomain, Invitation
from assessments.services import (
    EDITABLE_WHILE_RUNNING,
    FROZEN_AFTER_LAUNCH,
    campaign_create,
    campaign_launch,
    campaign_remind_now,
    campaign_settings_errors,
    campaign_update,
    invitations_retry_failed,
)
from reports.services import report_request, report_request_packs
from results.selectors import campaign_participation
from results.services import campaign_close


class ReadOnlyAdminMixin:
    """Rows that only services write: visible, never edited or deleted by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class DomainInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = InstrumentDomain
    fields = [
        "position",
        "code",
        "direction",
        "min_answered",
        "high_risk_cutoff",
        "band_cutoffs",
        "benchmark",
    ]
    readonly_fields = fields


@admin.register(Instrument)
class InstrumentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["code", "version", "normed", "loaded_at"]
    readonly_fields = ["code", "version", "title", "languages", "normed", "checksum", "loaded_at"]
    exclude = ["definition"]
    inlines = [DomainInline]


class CampaignForm(forms.ModelForm):
    """Checks a campaign with the same rules as the services, field by field."""

    class Meta:
        model = Campaign
        fields = [
            "organization",
            "name",
            "instrument",
            "target_departments",
            "languages",
            "opens_at",
            "closes_at",
            "reminder_days",
            "min_group_size",
            "attributes_used",
            "previous_campaign",
        ]

    def clean(self):
        cleaned = super().clean()
        instance = self.instance
        organization = cleaned.get("organization") or getattr(instance, "organization", None)
        instrument = cleaned.get("instrument") or getattr(instance, "instrument", None)
        if organization is None or instrument is None:
            return cleaned  # the missing field already carries its own error

        def value(name, default=None):
            if name in cleaned:
                return cleaned[name]
            return getattr(instance, name, default) if instance.pk else default

        targets = cleaned.get("target_departments")
        errors = campaign_settings_errors(
            organization=organization,
            instrument=instrument,
            target_departments=list(targets) if targets is not None else [],
            languages=value("languages", []),
            opens_at=value("opens_at"),
            closes_at=value("closes_at"),
            min_group_size=value("min_group_size", 5),
            reminder_days=value("reminder_days", []),
            attributes_used=value("attributes_used", []),
            previous_campaign=value("previous_campaign"),
            campaign=instance if instance.pk else None,
        )
        for field, message in errors.items():
            self.add_error(field if field in self.fields else None, message)
        return cleaned


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = [
        "name",
        "organization",
        "instrument",
        "status",
        "opens_at",
        "closes_at",
        "min_group_size",
    ]
    list_filter = ["organization", "status"]
    search_fields = ["name"]
    list_select_related = ["organization", "instrument"]
    readonly_fields = ["status", "launched_at", "closed_at", "created_at", "participation"]
    filter_horizontal = ["target_departments"]
    actions = [
        "launch",
        "remind_now",
        "retry_failed_deliveries",
        "close_now",
        "request_reports",
        "request_packs",
    ]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("organization")  # a campaign never moves between organisations
            if obj.status != CampaignStatus.DRAFT:
                fields += FROZEN_AFTER_LAUNCH
            if obj.status == CampaignStatus.CLOSED:
                fields += EDITABLE_WHILE_RUNNING
        return fields

    @admin.display(description="Participation (groups with at least k invited)")
    def participation(self, obj: Campaign) -> str:
        if obj is None or obj.pk is None or obj.status == CampaignStatus.DRAFT:
            return "Shown once the campaign is launched."
        rows = campaign_participation(campaign=obj)
        answered_note = (
            "published with the results"
            if obj.status == CampaignStatus.CLOSED
            else "hidden (protects a smaller group)"
        )
        body = format_html_join(
            "",
            "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    "\u2003" * (row.depth + 1),
                    row.department.name if row.department else "Whole campaign",
                    row.invited if row.shown else f"fewer than {obj.min_group_size}",
                    row.completed if row.completed is not None else answered_note,
                    f"{row.rate:.0%}" if row.rate is not None else "",
                )
                for row in rows
            ),
        )
        return format_html(
            "<table><thead><tr><th>Department</th><th>Invited</th><th>Answered</th>"
            "<th>Rate</th></tr></thead><tbody>{}</tbody></table>",
            body,
        )

    def save_model(self, request, obj, form, change):
        # Writes go through the services, which check the same rules again under a lock.
        data = form.cleaned_data
        if not change:
            created = campaign_create(
                organization=data["organization"],
                name=data["name"],
                instrument=data["instrument"],
                target_departments=list(data["target_departments"]),
                languages=data["languages"],
                opens_at=data["opens_at"],
                closes_at=data["closes_at"],
                min_group_size=data["min_group_size"],
                reminder_days=data["reminder_days"],
                attributes_used=data["attributes_used"],
                previous_campaign=data["previous_campaign"],
            )
            # The admin goes on with `obj` (messages, redirect): give it the stored row's state.
            obj.__dict__.update({k: v for k, v in created.__dict__.items() if k != "_state"})
            obj._state.adding = False
            return
        changed = {name: data[name] for name in form.changed_data if name in data}
        if not changed:
            return
        if "target_departments" in changed:
            changed["target_departments"] = list(changed["target_departments"])
        campaign_update(campaign=obj, **changed)

    def save_related(self, request, form, formsets, change):
        # Target departments were saved by the service.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def _each(self, request, queryset, service, done: str):
        for campaign in queryset:
            try:
                campaign = service(campaign=campaign)
            except ValidationError as exc:
                self.message_user(request, f"{campaign}: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, done.format(campaign=campaign), messages.SUCCESS)

    @admin.action(description="Launch: invite and open (or schedule) the selected campaigns")
    def launch(self, request, queryset):
        self._each(
            request, queryset, campaign_launch, "Campaign '{campaign}' is {campaign.status}."
        )

    @admin.action(description="Remind now: email everyone who has not answered yet")
    def remind_now(self, request, queryset):
        self._each(
            request, queryset, campaign_remind_now, "Reminders for '{campaign}' are going out."
        )

    @admin.action(description="Retry failed deliveries (after fixing the cause)")
    def retry_failed_deliveries(self, request, queryset):
        def retry(*, campaign):
            invitations_retry_failed(campaign=campaign)
            return campaign

        self._each(
            request, queryset, retry, "Failed invitations of '{campaign}' are being sent again."
        )

    @admin.action(description="Close the selected campaigns now")
    def close_now(self, request, queryset):
        self._each(
            request, queryset, campaign_close, "Campaign '{campaign}' is closed; scoring started."
        )

    @admin.action(description="PDF: request the organisation report in each campaign language")
    def request_reports(self, request, queryset):
        def request_all(*, campaign):
            for language in campaign.languages:
                report_request(campaign=campaign, language=language, requested_by=request.user)
            return campaign

        self._each(
            request,
            queryset,
            request_all,
            "Reports for '{campaign}' are being rendered: see Reports for the files.",
        )

    @admin.action(description="PDF: request a pack for every department with published results")
    def request_packs(self, request, queryset):
        def request_all(*, campaign):
            report_request_packs(campaign=campaign, requested_by=request.user)
            return campaign

        self._each(
            request,
            queryset,
            request_all,
            "Department packs for '{campaign}' are being rendered: see Reports for the files.",
        )


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Who was invited and whether the email went out: never who answered.

    Nothing that changes when someone answers is shown per person (completion date, reminders
    sent, dates of reminder links): with any small group worked out elsewhere, such a list
    would name who answered. Participation is shown as counts on the campaign.
    """

    list_display = ["id", "campaign", "employee", "department", "language", "delivery_status"]
    list_filter = ["campaign", "delivery_status"]
    list_select_related = ["campaign", "department", "employee"]
    fields = ["campaign", "employee", "department", "language", "delivery_status", "delivery_error"]
    readonly_fields = fields
