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
