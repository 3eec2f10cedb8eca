"""The directory, keyed by the HRIS's `external_id`: reads, upserts (PUT) and deactivation
(DELETE), through the directory import service (accounts.sync), which checks a row exactly as
the HR app's import does."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import path
from django.utils.dateparse import parse_datetime
from django.utils.timezone import is_naive, make_aware
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response

from accounts import sync
from accounts.directory import RowError
from accounts.permissions import Permission
from accounts.selectors import directory_departments, directory_employees
from api.access import HasPermission, acting, api_access, organization_of
from api.pagination import Cursor
from api.problems import problems
from api.serializers import DepartmentSerializer, EmployeeSerializer

ACTIVE = OpenApiParameter(
    "active", OpenApiTypes.BOOL, description="Only active (`true`) or deactivated (`false`) rows."
)
DEPARTMENT = OpenApiParameter(
    "department",
    OpenApiTypes.STR,
    description="The HRIS id of a department: its employees and those of every department below.",
)


UPDATED_SINCE = OpenApiParameter(
    "updated_since",
    OpenApiTypes.DATETIME,
    description="Only rows changed at or after this time (ISO 8601; UTC when no offset).",
)


def _updated_since(request):
    raw = request.query_params.get("updated_since")
    if not raw:
        return None
    moment = parse_datetime(raw.replace(" ", "+"))
    if moment is None:
        raise exceptions.ValidationError(
            {"updated_since": [f"'{raw}' is not a date and time such as 2026-11-30T08:00:00Z."]}
        )
    # In UTC: the database takes offsets of at most ±15:59, ISO 8601 allows more.
    return make_aware(moment, dt.UTC) if is_naive(moment) else moment.astimezone(dt.UTC)


def row_error_path(error: RowError, prefix: str = "") -> str:
    """Where a row error sits in the request: the field (attributes nested), after `prefix`."""
    column = error.column
    if error.kind == "employee" and column in settings.EMPLOYEE_ATTRIBUTES:
        column = f"attributes.{column}"
    if not prefix:
        return column
    return f"{prefix}.{column}" if column else prefix


def _invalid(problem: sync.RowsInvalid) -> exceptions.ValidationError:
    errors: dict[str, list[str]] = {}
    for error in problem.row_errors:
        errors.setdefault(row_error_path(error), []).append(error.message)
    return exceptions.ValidationError(errors)


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise exceptions.ValidationError(["The body must be a JSON object."])
    return request.data


def _flag(request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise exceptions.ValidationError({name: [f"'{raw}' is not true or false."]})


class DirectoryView:
    permission_classes = [HasPermission]
    required_permission = {
        "GET": Permission.VIEW_DIRECTORY,
        "*": Permission.MANAGE_DIRECTORY,
    }
    pagination_class = Cursor


class DirectoryRow(DirectoryView, generics.GenericAPIView):
    """One department or employee by HRIS id: read, upsert (`upsert` in each), deactivate."""

    lookup_field = "external_id"

    def get(self, request, external_id: str):
        return Response(self.get_serializer(self.get_object()).data)

    def upsert(self, request, external_id: str) -> sync.Upsert:
        raise NotImplementedError

    def put(self, request, external_id: str):
        try:
            done = self.upsert(request, external_id)
        except sync.RowsInvalid as problem:
            raise _invalid(problem) from problem
        code = status.HTTP_201_CREATED if done.created else status.HTTP_200_OK
        return self.answer(done.row, code)

    def answer(self, row, code: int = status.HTTP_200_OK) -> Response:
        """The row as it is now, read the way GET reads it."""
        return Response(self.get_serializer(self.get_queryset().get(pk=row.pk)).data, status=code)


class DepartmentWrite(serializers.Serializer):
    """A department as an upsert sends it (the HRIS id is in the path)."""

    name = serializers.CharField(max_length=200)
    parent_external_id = serializers.CharField(
        allow_null=True, required=False,
        help_text="The parent's HRIS id; null or left out: the top of the tree.",
    )  # fmt: skip


class EmployeeWrite(serializers.Serializer):
    """An employee as an upsert sends it (the HRIS id is in the path). A field left out keeps
    its value; a new employee needs `email` and `department_external_id`."""

    email = serializers.EmailField()
    department_external_id = serializers.CharField(required=False)
    language = serializers.CharField(required=False, help_text="One of the survey languages.")
    active = serializers.BooleanField(required=False, default=True)
    attributes = serializers.DictField(
        child=serializers.CharField(allow_blank=True), required=False,
        help_text="Coarse HRIS attributes by name (an empty value clears one).",
    )  # fmt: skip


@extend_schema(
    tags=["directory"],
    parameters=[ACTIVE, UPDATED_SINCE],
    responses={200: DepartmentSerializer(many=True), **problems(400)},
    examples=[
        OpenApiExample(
            "A department",
            response_only=True,
            value={
                "external_id": "D-120",
                "name": "Warehouse North",
                "parent_external_id": "D-100",
                "active": True,
                "depth": 1,
                "created_at": "2026-01-05T09:00:00Z",
                "updated_at": "2026-11-30T08:00:00Z",
            },
        )
    ],
)
class DepartmentList(DirectoryView, generics.ListAPIView):
    """The organisation's departments (scope `directory:read`)."""

    serializer_class = DepartmentSerializer

    def get_queryset(self):
        return directory_departments(
            access=api_access(self.request),
            active=_flag(self.request, "active"),
            updated_since=_updated_since(self.request),
        )


@extend_schema_view(
    get=extend_schema(
        summary="One department by its HRIS id (scope `directory:read`)",
        responses={200: DepartmentSerializer, **problems(404)},
    ),
    put=extend_schema(
        summary="Create or update a department (scope `directory:write`)",
        description=(
            "An idempotent upsert keyed by the HRIS id: the name and the parent (another HRIS "
            "id, in the directory already; null: the top of the tree). Moving a department "
            "moves its subtree; a move that would make a cycle, an unknown or deactivated "
            "parent are refused with the field named. Answers 201 when it was created."
        ),
        request=DepartmentWrite,
        responses={200: DepartmentSerializer, 201: DepartmentSerializer, **problems(400)},
        examples=[
            OpenApiExample(
                "Warehouse North under Operations",
                request_only=True,
                value={"name": "Warehouse North", "parent_external_id": "D-100"},
            )
        ],
    ),
    delete=extend_schema(
        summary="Deactivate a department (scope `directory:write`)",
        description=(
            "Never deletes: past campaigns refer to it. Refused (400) while active employees "
            "or active departments are in it. Deactivating twice changes nothing."
        ),
        responses={200: DepartmentSerializer, **problems(400, 404)},
    ),
)
class DepartmentDetail(DirectoryRow):
    """A department, named by its HRIS id."""

    serializer_class = DepartmentSerializer

    def get_queryset(self):
        return directory_departments(access=api_access(self.request))

    def upsert(self, request, external_id: str) -> sync.Upsert:
        body = _body(request)
        return sync.department_upsert(
            organization=organization_of(request),
            external_id=external_id,
            name=body.get("name"),
            parent_external_id=body.get("parent_external_id"),
            **acting(request),
        )

    def delete(self, request, external_id: str):
        department = self.get_object()
        try:
            sync.department_retire(department=department, **acting(request))
        except DjangoValidationError as problem:
            raise exceptions.ValidationError(problem.message_dict) from problem
        return self.answer(department)


@extend_schema(
    tags=["directory"],
    parameters=[ACTIVE, DEPARTMENT, UPDATED_SINCE],
    responses={200: EmployeeSerializer(many=True), **problems(400)},
)
class EmployeeList(DirectoryView, generics.ListAPIView):
    """The organisation's employees (scope `directory:read`)."""

    serializer_class = EmployeeSerializer

    def get_queryset(self):
        access = api_access(self.request)
        department = None
        if external_id := self.request.query_params.get("department"):
            department = (
                directory_departments(access=access).filter(external_id=external_id).first()
            )
            if department is None:
                raise exceptions.ValidationError(
                    {"department": [f"No department with HRIS id '{external_id}'."]}
                )
        return directory_employees(
            access=access,
            department=department,
            active=_flag(self.request, "active"),
            updated_since=_updated_since(self.request),
        )


@extend_schema_view(
    get=extend_schema(
        summary="One employee by their HRIS id (scope `directory:read`)",
        responses={200: EmployeeSerializer, **problems(404)},
    ),
    put=extend_schema(
        summary="Create or update an employee (scope `directory:write`)",
        description=(
            "An idempotent upsert keyed by the HRIS id, checked like a row of the HR app's "
            "import: a valid address no other active employee has, a known and active "
            "department, a survey language, coarse attributes. Fields left out keep their "
            "value. Answers 201 when the employee was created."
        ),
        request=EmployeeWrite,
        responses={200: EmployeeSerializer, 201: EmployeeSerializer, **problems(400)},
        examples=[
            OpenApiExample(
                "A new starter",
                request_only=True,
                value={
                    "email": "sam.lee@example.com",
                    "department_external_id": "D-120",
                    "language": "de",
                    "active": True,
                    "attributes": {"site": "north", "tenure_band": "<1y"},
                },
            )
        ],
    ),
    delete=extend_schema(
        summary="Deactivate an employee (scope `directory:write`)",
        description=(
            "Never deletes: past campaigns counted them. Launched campaigns keep their "
            "snapshot. Deactivating twice changes nothing."
        ),
        responses={200: EmployeeSerializer, **problems(404)},
    ),
)
class EmployeeDetail(DirectoryRow):
    """An employee, named by their HRIS id."""

    serializer_class = EmployeeSerializer

    def get_queryset(self):
        return directory_employees(access=api_access(self.request))

    def upsert(self, request, external_id: str) -> sync.Upsert:
        return sync.employee_upsert(
            organization=organization_of(request),
            external_id=external_id,
            fields=_body(request),
            **acting(request),
        )

    def delete(self, request, external_id: str):
        employee = sync.employee_deactivate(employee=self.get_object(), **acting(request))
        return self.answer(employee)


urlpatterns = [
    path("directory/departments", DepartmentList.as_view(), name="departments"),
    path(
        "directory/departments/<str:external_id>",
        DepartmentDetail.as_view(),
        name="department",
    ),
    path("directory/employees", EmployeeList.as_view(), name="employees"),
    path(
        "directory/employees/<str:external_id>",
        EmployeeDetail.as_view(),
        name="employee",
    ),
]
