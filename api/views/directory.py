"""Directory reads, keyed by the HRIS's `external_id`."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import exceptions, generics

from accounts.permissions import Permission
from accounts.selectors import directory_departments, directory_employees
from api.access import HasPermission, api_access
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
    required_permission = Permission.VIEW_DIRECTORY
    pagination_class = Cursor


@extend_schema(
    tags=["directory"],
    parameters=[ACTIVE],
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
            },
        )
    ],
)
class DepartmentList(DirectoryView, generics.ListAPIView):
    """The organisation's departments (scope `directory:read`)."""

    serializer_class = DepartmentSerializer

    def get_queryset(self):
        return directory_departments(
            access=api_access(self.request), active=_flag(self.request, "active")
        )


@extend_schema(tags=["directory"], responses={200: DepartmentSerializer, **problems(404)})
class DepartmentDetail(DirectoryView, generics.RetrieveAPIView):
    """One department by its HRIS id (scope `directory:read`)."""

    serializer_class = DepartmentSerializer
    lookup_field = "external_id"

    def get_queryset(self):
        return directory_departments(access=api_access(self.request))


@extend_schema(
    tags=["directory"],
    parameters=[ACTIVE, DEPARTMENT],
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
            access=access, department=department, active=_flag(self.request, "active")
        )


@extend_schema(tags=["directory"], responses={200: EmployeeSerializer, **problems(404)})
class EmployeeDetail(DirectoryView, generics.RetrieveAPIView):
    """One employee by their HRIS id (scope `directory:read`)."""

    serializer_class = EmployeeSerializer
    lookup_field = "external_id"

    def get_queryset(self):
        return directory_employees(access=api_access(self.request))


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
