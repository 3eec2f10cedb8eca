"""Directory sync runs: many rows at once (JSON, or a CSV or XLSX file), full or delta, dry run;
checked in bulk by the HR app's import service and applied by a Celery task (accounts.sync)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import path, reverse
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, parsers, serializers, status
from rest_framework.response import Response

from accounts import sync
from accounts.directory import MAX_ROWS, RowError, directory_rows_from_file
from accounts.models import ApiKey, SyncRun
from accounts.permissions import Permission
from api.access import HasPermission, acting, api_access, organization_of
from api.pagination import Cursor
from api.problems import problems
from api.views.directory import row_error_path

MODES = ("full", "delta")


class RowProblemSerializer(serializers.Serializer):
    path = serializers.CharField(
        help_text="Where: `employees[12].email` for JSON (index from 0), `file[14].email` for a "
        "file (its row number as a spreadsheet shows it; `file` alone: the file as a whole)."
    )
    kind = serializers.CharField(help_text="`department` or `employee`; empty for the file.")
    index = serializers.IntegerField(
        allow_null=True, help_text="The row's index in its JSON list (null for files)."
    )
    row = serializers.IntegerField(
        allow_null=True, help_text="The file row (null for JSON; 0: the file as a whole)."
    )
    field = serializers.CharField()
    value = serializers.CharField()
    detail = serializers.CharField()


class SyncRunSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    requested_by = serializers.CharField(source="requested_by_label")
    decided_by = serializers.EmailField(source="decided_by.email", allow_null=True, default=None)

    class Meta:
        model = SyncRun
        fields = [
            "id", "url", "mode", "dry_run", "status", "summary", "reasons", "failure",
            "requested_by", "decided_by", "created_at", "started_at", "finished_at",
            "decided_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_url(self, run) -> str:
        return reverse("api:sync_run", kwargs={"pk": run.pk})


class SyncRunDetailSerializer(SyncRunSerializer):
    changes = serializers.DictField(
        help_text="Per kind of change (departments_created, departments_renamed, "
        "departments_moved, employees_created, employees_updated, employees_moved, "
        "employees_deactivated, employees_reactivated, email_changes), the rows it concerns."
    )
    errors = RowProblemSerializer(many=True, source="row_problems")

    class Meta(SyncRunSerializer.Meta):
        fields = [*SyncRunSerializer.Meta.fields, "changes", "errors"]
        read_only_fields = fields


class SyncRunRequest(serializers.Serializer):
    """The body of a sync run: JSON, or multipart/form-data with `file` instead of the lists."""

    mode = serializers.ChoiceField(
        choices=MODES,
        help_text="`full`: the rows are the whole staff (active employees left out are "
        "deactivated); `delta`: only the rows sent change.",
    )
    dry_run = serializers.BooleanField(
        default=False, help_text="Check and report what would change; apply nothing."
    )
    departments = serializers.ListField(
        child=serializers.DictField(), required=False,
        help_text="Objects with external_id, name, parent_external_id.",
    )  # fmt: skip
    employees = serializers.ListField(
        child=serializers.DictField(), required=False,
        help_text="Objects with external_id, email, department_external_id, language, active, "
        "attributes.",
    )  # fmt: skip
    file = serializers.FileField(
        required=False,
        help_text="Instead of the lists: the HR app's import file (CSV UTF-8 or XLSX, one "
        "`kind` column telling departments and employees apart).",
    )


def row_problems(run: SyncRun) -> list[dict]:
    """The run's bad rows, each placed in the request it came from."""
    from_file = run.summary.get("format") in ("csv", "xlsx")
    found = []
    for stored in run.errors:
        error = RowError(**stored)
        if from_file:
            where = f"file[{error.row}]" if error.row else "file"
            index, row = None, error.row
        else:
            where = f"{error.kind}s[{error.row - 1}]" if error.kind and error.row else ""
            index, row = (error.row - 1 if error.row else None), None
        found.append(
            {
                "path": row_error_path(error, where),
                "kind": error.kind,
                "index": index,
                "row": row,
                "field": error.column,
                "value": error.value,
                "detail": error.message,
            }
        )
    return found


def _rows(request) -> dict:
    """The run's rows and options from a JSON or multipart body; shape errors at once."""
    data = request.data
    if not hasattr(data, "get"):
        raise exceptions.ValidationError(["The body must be a JSON object."])
    errors: dict[str, list[str]] = {}
    mode = data.get("mode")
    if mode not in MODES:
        errors["mode"] = [f"'{mode}' is not a mode; use 'full' or 'delta'."]
    raw_dry_run = data.get("dry_run", False)
    dry_run = {True: True, False: False, "true": True, "false": False, "1": True, "0": False}
    if isinstance(raw_dry_run, str):
        raw_dry_run = raw_dry_run.lower()
    if raw_dry_run not in dry_run:
        errors["dry_run"] = [f"'{raw_dry_run}' is not true or false."]
    upload = request.FILES.get("file")
    rows = {"departments": [], "employees": [], "source_rows": None, "file_errors": []}
    if upload is not None:
        if "departments" in data or "employees" in data:
            errors["file"] = ["Send either a file or the departments and employees lists."]
        parsed = directory_rows_from_file(data=upload.read(), filename=upload.name or "")
        rows.update(
            departments=parsed.departments,
            employees=parsed.employees,
            source_rows=parsed.source_rows,
            file_errors=parsed.errors,
            format=parsed.format or "csv",
        )
    else:
        for kind in ("departments", "employees"):
            value = data.get(kind, [])
            if not isinstance(value, list):
                errors[kind] = ["Expected a list of objects."]
            else:
                rows[kind] = value
        if not rows["departments"] and not rows["employees"] and mode == "full":
            errors["employees"] = [
                "A full sync needs the whole staff: an empty list would deactivate everyone."
            ]
        rows["format"] = "json"
    total = len(rows["departments"]) + len(rows["employees"])
    if total > MAX_ROWS:
        errors["employees"] = [f"{total:,} rows; at most {MAX_ROWS:,} are accepted per run."]
    if errors:
        raise exceptions.ValidationError(errors)
    return {**rows, "mode": mode, "dry_run": dry_run[raw_dry_run]}


@extend_schema_view(
    get=extend_schema(
        tags=["directory"],
        summary="The organisation's sync runs, newest first (scope `directory:read`)",
        responses={200: SyncRunSerializer(many=True), **problems()},
    ),
    post=extend_schema(
        tags=["directory"],
        summary="Send a directory sync run (scope `directory:write`)",
        description=(
            "Departments and employees keyed by their HRIS ids, as JSON lists (up to "
            f"{MAX_ROWS:,} rows) or the HR app's import file (multipart, field `file`); bodies "
            "up to DIRECTORY_SYNC_MAX_BYTES (64 MB by default), 413 beyond. Answers 202 with "
            "the run; a worker checks every row with the HR app's import rules and then: with "
            "any bad row, `failed` with every error and nothing applied; on a dry run, "
            "`planned` with the diff; when a full sync would deactivate more than 20% of "
            "active employees or change more than 5% of addresses, `awaiting_approval` until an "
            "admin approves it in the HR app; otherwise `applied`. Runs of one organisation are "
            "applied one after the other; a delta never deactivates anyone by leaving them out. "
            "Launched campaigns keep their snapshot of the directory."
        ),
        request={"application/json": SyncRunRequest, "multipart/form-data": SyncRunRequest},
        responses={
            202: OpenApiResponse(SyncRunSerializer, description="Accepted: poll `url`."),
            **problems(400, 413),
        },
        examples=[
            OpenApiExample(
                "A delta: one new department and one mover",
                request_only=True,
                media_type="application/json",
                value={
                    "mode": "delta",
                    "dry_run": False,
                    "departments": [
                        {"external_id": "D-130", "name": "Returns", "parent_external_id": "D-100"}
                    ],
                    "employees": [
                        {
                            "external_id": "E-1042",
                            "email": "ana.ruiz@example.com",
                            "department_external_id": "D-130",
                            "active": True,
                            "attributes": {"site": "north"},
                        }
                    ],
                },
            )
        ],
    ),
)
class SyncRuns(generics.ListAPIView):
    permission_classes = [HasPermission]
    required_permission = {"GET": Permission.VIEW_DIRECTORY, "*": Permission.MANAGE_DIRECTORY}
    pagination_class = Cursor
    serializer_class = SyncRunSerializer
    parser_classes = [parsers.JSONParser, parsers.MultiPartParser]
    # This endpoint alone takes large bodies (api.middleware).
    max_body_setting = "DIRECTORY_SYNC_MAX_BYTES"

    def get_queryset(self):
        access = api_access(self.request)
        access.require(Permission.VIEW_DIRECTORY)
        return SyncRun.objects.visible_to(access).select_related("decided_by")

    def post(self, request):
        rows = _rows(request)
        try:
            run = sync.sync_run_request(
                organization=organization_of(request),
                mode=rows["mode"],
                dry_run=rows["dry_run"],
                departments=rows["departments"],
                employees=rows["employees"],
                source_rows=rows["source_rows"],
                file_errors=rows["file_errors"],
                data_format=rows["format"],
                api_key=request.auth if isinstance(request.auth, ApiKey) else None,
                requested_by_label=acting(request)["actor_label"],
            )
        except DjangoValidationError as problem:
            raise exceptions.ValidationError(problem.message_dict) from problem
        body = SyncRunSerializer(run).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


@extend_schema(
    tags=["directory"],
    summary="One sync run: its status, what it changed (or would), every bad row",
    responses={200: SyncRunDetailSerializer, **problems(404)},
)
class SyncRunDetail(generics.RetrieveAPIView):
    permission_classes = [HasPermission]
    required_permission = Permission.VIEW_DIRECTORY
    serializer_class = SyncRunDetailSerializer

    def get_queryset(self):
        access = api_access(self.request)
        access.require(Permission.VIEW_DIRECTORY)
        return SyncRun.objects.visible_to(access).select_related("decided_by")

    def get_object(self):
        run = super().get_object()
        run.row_problems = row_problems(run)
        return run


urlpatterns = [
    path("directory/sync-runs", SyncRuns.as_view(), name="sync_runs"),
    path("directory/sync-runs/<int:pk>", SyncRunDetail.as_view(), name="sync_run"),
]
