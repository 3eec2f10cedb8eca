"""What the API answers: plain fields, no logic (services and selectors decide)."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from accounts.models import Department, Employee
from reports.models import ActionStatus, ReportStatus


class DepartmentSerializer(serializers.ModelSerializer):
    parent_external_id = serializers.CharField(
        source="parent.external_id", allow_null=True, read_only=True,
        help_text="The parent's HRIS id (null at the top, or for a parent without one).",
    )  # fmt: skip
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = Department
        fields = [
            "external_id", "name", "parent_external_id", "active", "depth", "created_at",
            "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class EmployeeSerializer(serializers.ModelSerializer):
    department_external_id = serializers.CharField(
        source="department.external_id", allow_null=True, read_only=True
    )
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = Employee
        fields = [
            "external_id", "email", "department_external_id", "active", "language", "attributes",
            "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields


class DepartmentRefSerializer(serializers.Serializer):
    external_id = serializers.CharField(allow_null=True, help_text="Its HRIS id, if it has one.")
    name = serializers.CharField()


class CampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField(help_text="draft, scheduled, open or closed.")
    instrument = serializers.CharField(source="instrument.code")
    instrument_version = serializers.IntegerField(source="instrument.version")
    target_departments = DepartmentRefSerializer(
        source="target_departments.all", many=True,
        help_text="Everyone active in these departments and those below them is asked.",
    )  # fmt: skip
    languages = serializers.ListField(child=serializers.CharField())
    opens_at = serializers.DateTimeField(allow_null=True)
    closes_at = serializers.DateTimeField(allow_null=True)
    reminder_days = serializers.ListField(
        child=serializers.IntegerField(), help_text="Days after opening with a reminder."
    )
    min_group_size = serializers.IntegerField(help_text="k: no group smaller is ever shown.")
    attributes_used = serializers.ListField(
        child=serializers.CharField(), help_text="The coarse attributes results are broken down by."
    )
    previous_campaign = serializers.IntegerField(source="previous_campaign_id", allow_null=True)
    launched_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class CampaignWriteSerializer(serializers.Serializer):
    """A draft campaign's settings, as the HR app's campaign form has them; the campaign
    services check them (and PATCH sends only what changed)."""

    name = serializers.CharField(max_length=200)
    instrument = serializers.CharField(
        max_length=80, help_text="The questionnaire's code, e.g. `plimsoll-core`."
    )
    instrument_version = serializers.IntegerField(
        required=False, help_text="Its version; the newest one when left out."
    )
    target_departments = serializers.ListField(
        child=serializers.CharField(max_length=100), allow_empty=False,
        help_text="HRIS ids of active departments: everyone active in them and below is asked.",
    )  # fmt: skip
    languages = serializers.ListField(
        child=serializers.CharField(max_length=8), required=False,
        help_text="Survey languages; every language of the questionnaire when left out.",
    )  # fmt: skip
    opens_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Empty: it opens at launch."
    )
    closes_at = serializers.DateTimeField()
    reminder_days = serializers.ListField(
        child=serializers.IntegerField(), required=False,
        help_text="Whole days after opening on which those who have not answered are reminded.",
    )  # fmt: skip
    min_group_size = serializers.IntegerField(
        required=False, default=5, help_text="k, at least 3: no smaller group is ever shown."
    )
    attributes_used = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False,
        help_text="Coarse employee attributes to break results down by.",
    )  # fmt: skip
    previous_campaign = serializers.IntegerField(
        required=False, allow_null=True,
        help_text="The id of a closed campaign on the same questionnaire this one follows up.",
    )  # fmt: skip


class RetriedSerializer(serializers.Serializer):
    retried = serializers.IntegerField(help_text="Invitations put back in line to be sent.")


class ParticipationSerializer(serializers.Serializer):
    """Invited and answered counts of a department with everything below it (the whole
    campaign where `department_external_id` and `department` are null). A count that may not
    be shown is null: fewer than k invited, or an answered count that could single out a
    small group."""

    department_external_id = serializers.CharField(
        source="department.external_id", allow_null=True, default=None
    )
    department = serializers.CharField(source="department.name", allow_null=True, default=None)
    invited = serializers.IntegerField(allow_null=True)
    answered = serializers.IntegerField(source="completed", allow_null=True)


class CellSerializer(serializers.Serializer):
    """One published or suppressed result cell. A suppressed cell carries no figure at all:
    every figure field is null, `n` included."""

    department_external_id = serializers.CharField(
        source="department.external_id", allow_null=True, default=None
    )
    department = serializers.CharField(source="department.name", allow_null=True, default=None)
    domain = serializers.CharField(source="domain_code")
    breakdown_attribute = serializers.CharField(allow_blank=True)
    breakdown_value = serializers.CharField(allow_blank=True)
    suppressed = serializers.BooleanField()
    n = serializers.IntegerField(allow_null=True)
    mean = serializers.FloatField(allow_null=True)
    sd = serializers.FloatField(allow_null=True)
    risk_score = serializers.FloatField(allow_null=True)
    band = serializers.CharField(allow_null=True)
    share_high_risk = serializers.FloatField(allow_null=True)
    change = serializers.FloatField(source="trend_diff", allow_null=True)
    change_ci_low = serializers.FloatField(source="trend_ci_low", allow_null=True)
    change_ci_high = serializers.FloatField(source="trend_ci_high", allow_null=True)
    change_significant = serializers.BooleanField(source="trend_significant", allow_null=True)

    FIGURES = (
        "n", "mean", "sd", "risk_score", "band", "share_high_risk", "change", "change_ci_low",
        "change_ci_high", "change_significant",
    )  # fmt: skip

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.suppressed:  # stored without figures; never let one through regardless
            data.update(dict.fromkeys(self.FIGURES))
        return data


class HeatCellSerializer(serializers.Serializer):
    """A heatmap cell: band, risk score and change; every figure null when suppressed, and
    the whole cell null where the department has none for that domain."""

    domain = serializers.CharField()
    suppressed = serializers.BooleanField()
    band = serializers.CharField(allow_null=True)
    risk_score = serializers.FloatField(allow_null=True)
    change = serializers.FloatField(allow_null=True)
    change_significant = serializers.BooleanField(allow_null=True)


class HeatRowSerializer(serializers.Serializer):
    department_external_id = serializers.CharField(
        allow_null=True, help_text="Null for the whole organisation (the first row)."
    )
    department = serializers.CharField(allow_null=True)
    depth = serializers.IntegerField(allow_null=True)
    priority = HeatCellSerializer(
        allow_null=True,
        help_text="The department's priority: its worst band of any domain, with the average "
        "risk score.",
    )
    cells = HeatCellSerializer(many=True, allow_null=True, help_text="One per domain, in order.")


class HeatmapSerializer(serializers.Serializer):
    """Departments (tree order, the organisation first) by domains."""

    domains = serializers.ListField(child=serializers.CharField())
    rows = HeatRowSerializer(many=True)


class ReportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    campaign = serializers.IntegerField(source="campaign_id")
    kind = serializers.SerializerMethodField(help_text="`organisation` or `department`.")
    department_external_id = serializers.CharField(
        source="department.external_id", allow_null=True, default=None
    )
    department = serializers.CharField(source="department.name", allow_null=True, default=None)
    language = serializers.CharField()
    status = serializers.CharField(help_text="queued, running, done or failed.")
    error = serializers.CharField(allow_blank=True, help_text="Why it failed, if it did.")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    download_url = serializers.SerializerMethodField(
        help_text="Where to download the PDF once it is done (null until then)."
    )

    def get_kind(self, report) -> str:
        return "department" if report.department_id else "organisation"

    def get_download_url(self, report) -> str | None:
        if report.status != ReportStatus.DONE or not report.file:
            return None
        url = reverse("api:report_download", kwargs={"report": report.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url


class ReportRequestSerializer(serializers.Serializer):
    department = serializers.CharField(
        required=False, allow_null=True, max_length=100,
        help_text="A department's HRIS id for its pack; left out, the organisation report.",
    )  # fmt: skip
    language = serializers.CharField(max_length=8, help_text="e.g. `en` or `de`.")


class ReportPacksRequestSerializer(serializers.Serializer):
    department = serializers.CharField(
        required=False, allow_null=True, max_length=100,
        help_text="Only this department (HRIS id) and those below it; left out, every "
        "department you may see.",
    )  # fmt: skip
    language = serializers.CharField(
        required=False, allow_null=True, max_length=8,
        help_text="One language; left out, each of the campaign's languages.",
    )  # fmt: skip


# Statuses are plain strings here, checked by the services (which name the choices).
STATUS_HELP = f"One of {', '.join(ActionStatus.values)}."


class ActionSerializer(serializers.Serializer):
    """An action agreed for one department and domain of a campaign."""

    id = serializers.IntegerField()
    campaign = serializers.IntegerField(source="campaign_id")
    department_external_id = serializers.CharField(source="department.external_id", allow_null=True)
    department = serializers.CharField(source="department.name")
    domain = serializers.CharField(source="domain_code")
    title = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    owner = serializers.CharField(help_text="The person or role who carries it out.")
    due_date = serializers.DateField(allow_null=True)
    status = serializers.CharField(help_text=STATUS_HELP)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ActionUpdateSerializer(serializers.Serializer):
    """What may change once an action exists (its campaign, department and domain stay)."""

    title = serializers.CharField(max_length=200, allow_blank=True)
    owner = serializers.CharField(
        max_length=200, allow_blank=True, help_text="The person or role who carries it out."
    )
    description = serializers.CharField(allow_blank=True)
    due_date = serializers.DateField(allow_null=True)
    status = serializers.CharField(max_length=16, help_text=STATUS_HELP)


class ActionCreateSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(help_text="A launched campaign's id.")
    department = serializers.CharField(max_length=100, help_text="The department's HRIS id.")
    domain = serializers.CharField(max_length=80, help_text="A domain code of its questionnaire.")
    title = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")
    owner = serializers.CharField(
        max_length=200, allow_blank=True, required=False, default="",
        help_text="The person or role who carries it out.",
    )  # fmt: skip
    description = serializers.CharField(allow_blank=True, required=False, default="")
    due_date = serializers.DateField(allow_null=True, required=False, default=None)
    status = serializers.CharField(
        max_length=16, required=False, default=ActionStatus.PLANNED, help_text=STATUS_HELP
    )
