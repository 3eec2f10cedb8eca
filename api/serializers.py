"""What the API answers: plain fields, no logic (services and selectors decide)."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import Department, Employee


class DepartmentSerializer(serializers.ModelSerializer):
    parent_external_id = serializers.CharField(
        source="parent.external_id", allow_null=True, read_only=True,
        help_text="The parent's HRIS id (null at the top, or for a parent without one).",
    )  # fmt: skip
    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = Department
        fields = ["external_id", "name", "parent_external_id", "active", "depth", "created_at"]
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
            "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class CampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    instrument = serializers.CharField(source="instrument.code")
    instrument_version = serializers.IntegerField(source="instrument.version")
    languages = serializers.ListField(child=serializers.CharField())
    opens_at = serializers.DateTimeField(allow_null=True)
    closes_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    min_group_size = serializers.IntegerField(help_text="k: no group smaller is ever shown.")
    previous_campaign = serializers.IntegerField(source="previous_campaign_id", allow_null=True)


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


class ReportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.SerializerMethodField(help_text="`organisation` or `department`.")
    department_external_id = serializers.CharField(
        source="department.external_id", allow_null=True, default=None
    )
    department = serializers.CharField(source="department.name", allow_null=True, default=None)
    language = serializers.CharField()
    status = serializers.CharField(help_text="queued, running, done or failed.")
    error = serializers.CharField(allow_blank=True, help_text="Why it failed, if it did.")
    created_at = serializers.DateTimeField()

    def get_kind(self, report) -> str:
        return "department" if report.department_id else "organisation"
