"""Admin for instruments, campaigns and invitations.

Responses are deliberately not registered: nobody may list individual answers.
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from assessments.models import Campaign, CampaignStatus, Instrument, InstrumentDomain, Invitation
from assessments.services import campaign_launch, campaign_remind_now, campaign_transition


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


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
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
    readonly_fields = ["status", "launched_at", "closed_at", "created_at"]
    filter_horizontal = ["target_departments"]
    actions = ["launch", "remind_now", "close_now"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status != CampaignStatus.DRAFT:
            # Frozen at launch: k, the instrument and the breakdowns.
            fields += [
                "min_group_size",
                "instrument",
                "attributes_used",
                "languages",
                "target_departments",
            ]
        return fields

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

    @admin.action(description="Close the selected campaigns now")
    def close_now(self, request, queryset):
        def close(*, campaign):
            return campaign_transition(campaign=campaign, to=CampaignStatus.CLOSED)

        self._each(request, queryset, close, "Campaign '{campaign}' is closed.")


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "campaign", "department", "language", "delivery_status", "completed_on"]
    list_filter = ["campaign", "delivery_status"]
    list_select_related = ["campaign", "department"]
    exclude = ["token_hash"]
