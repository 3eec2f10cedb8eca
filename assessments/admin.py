"""Admin for instruments, campaigns and invitations.

Responses are deliberately not registered: nobody may list individual answers.
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from assessments.models import Campaign, CampaignStatus, Instrument, InstrumentDomain, Invitation
from assessments.services import campaign_transition


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
    actions = ["open_now", "close_now"]

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

    def _transition(self, request, queryset, to):
        for campaign in queryset:
            try:
                campaign_transition(campaign=campaign, to=to)
            except ValidationError as exc:
                self.message_user(request, "; ".join(exc.messages), messages.ERROR)
            else:
                self.message_user(request, f"Campaign '{campaign}' is now {to}.", messages.SUCCESS)

    @admin.action(description="Open the selected campaigns now")
    def open_now(self, request, queryset):
        self._transition(request, queryset, CampaignStatus.OPEN)

    @admin.action(description="Close the selected campaigns now")
    def close_now(self, request, queryset):
        self._transition(request, queryset, CampaignStatus.CLOSED)


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "campaign", "department", "language", "delivery_status", "completed_on"]
    list_filter = ["campaign", "delivery_status"]
    list_select_related = ["campaign", "department"]
    exclude = ["token_hash"]
