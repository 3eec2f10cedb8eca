"""The directory's write lines and sync runs in the API access table (see tests/api/table.py)."""

from __future__ import annotations

from accounts.models import ApiScope, SyncRun
from accounts.services import department_create
from tests.api.table import READ_DIRECTORY, Line

WRITE = (ApiScope.DIRECTORY_WRITE,)

LINES: list[Line] = [
    Line(
        "department",
        WRITE,
        {"external_id": "D-NEW"},
        method="put",
        body={"name": "Returns", "parent_external_id": None},
    ),
    Line("department", WRITE, {"external_id": "D-EMPTY"}, method="delete", detail=True),
    Line(
        "employee",
        WRITE,
        {"external_id": "E-NEW"},
        method="put",
        body={"email": "e.new@harbourside.test", "department_external_id": "D-OPS"},
    ),
    Line("employee", WRITE, {"external_id": "E-1"}, method="delete", detail=True),
    Line("sync_runs", READ_DIRECTORY),
    Line(
        "sync_runs",
        WRITE,
        method="post",
        body={
            "mode": "delta",
            "dry_run": True,
            "departments": [{"external_id": "D-RET", "name": "Returns"}],
        },
    ),
    Line("sync_run", READ_DIRECTORY, {"pk": "@run"}, detail=True),
]


def targets(world) -> dict:
    """An empty department to deactivate and a finished sync run to read."""
    organization = world["organization"]
    empty = department_create(organization=organization, name="Archive")
    empty.external_id = "D-EMPTY"
    empty.save(update_fields=["external_id"])
    run = SyncRun.objects.create(
        organization=organization,
        mode="delta",
        status="planned",
        summary={"format": "json"},
        requested_by_label="API key test",
    )
    return {"run": run}
