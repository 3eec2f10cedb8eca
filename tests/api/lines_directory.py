"""The directory lines of the API access table (see tests/api/table.py)."""

from __future__ import annotations

from tests.api.table import Line

LINES: list[Line] = []


def targets(world) -> dict:
    """The objects this area's lines name ("@name"), made in the test's world."""
    return {}
