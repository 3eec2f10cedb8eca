"""Directory import at size: `python -m bench.directory`.

One run: a fresh database (`migrate`), one organisation, then two full imports through
`accounts.directory`, each timed step by step (read the file, plan, apply) with its query count:

- first: BENCH_DEPARTMENTS departments (default 1,000, a tree seven wide) and BENCH_EMPLOYEES
  employees (default 100,000) into an empty directory;
- second: the same file with 10% of the employees moved, 4% with a new email address and
  attribute, 10% left out (deactivated) and 1% new.

The CSV is also written as an XLSX workbook (BENCH_XLSX=0 to skip) to time reading that.

Environment (all optional):
    BENCH_EMPLOYEES=100000  BENCH_DEPARTMENTS=1000  BENCH_XLSX=1
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/plimsoll_bench_directory
        (dropped and recreated; its name must contain "bench")
    BENCH_KEEP=1  keep the database afterwards

Exits 1 when an import fails or writes the wrong rows, 2 when the bench cannot run, 0 otherwise;
a missed speed target only prints a warning.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
import time
import traceback

import environ

from bench.scoring import database_settings
from bench.submit import BenchError, database_reset, env_int, manage, say

TARGET_SECONDS = 60.0  # plan + apply of the first import at the default size


def rows(employees: int, departments: int, *, second: bool) -> list[list[str]]:
    from accounts.directory import directory_columns

    columns = directory_columns()
    table = [columns]

    def line(**values: str) -> list[str]:
        return [values.get(column, "") for column in columns]

    table.append(line(kind="department", external_id="D0", name="Top"))
    for i in range(1, departments):
        table.append(
            line(
                kind="department",
                external_id=f"D{i}",
                name=f"Department {i}",
                parent_external_id=f"D{(i - 1) // 7}",
            )
        )
    for i in range(employees):
        if second and i % 10 == 9:
            continue
        department = (i + 1) % departments if second and i % 10 == 1 else i % departments
        changed = second and i % 25 == 2
        table.append(
            line(
                kind="employee",
                external_id=f"P{i:07d}",
                email=f"p{i:07d}{'.new' if changed else ''}@example.test",
                department_external_id=f"D{department}",
                language="de" if i % 3 else "en",
                active="true",
                site=f"site {9 if changed else i % 4}",
                tenure_band="2-5y",
            )
        )
    if second:
        for i in range(employees // 100):
            table.append(
                line(
                    kind="employee",
                    external_id=f"N{i:07d}",
                    email=f"n{i:07d}@example.test",
                    department_external_id="D1",
                )
            )
    return table


def csv_data(table: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(table)
    return out.getvalue().encode()


def xlsx_data(table: list[list[str]]) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    for row in table:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def run_import(organization, data: bytes, filename: str) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.directory import (
        directory_import_apply,
        directory_import_plan,
        directory_rows_from_file,
    )

    started = time.perf_counter()
    parsed = directory_rows_from_file(data=data, filename=filename)
    read = time.perf_counter()
    with CaptureQueriesContext(connection) as planning:
        plan = directory_import_plan(
            organization=organization,
            departments=parsed.departments,
            employees=parsed.employees,
            mode="full",
            source_rows=parsed.source_rows,
            file_errors=parsed.errors,
        )
    planned = time.perf_counter()
    if plan.errors:
        raise AssertionError(f"the bench file has errors: {plan.error_messages()[:3]}")
    with CaptureQueriesContext(connection) as applying:
        result = directory_import_apply(organization=organization, plan=plan)
    return {
        "read": read - started,
        "plan": planned - read,
        "apply": time.perf_counter() - planned,
        "plan_queries": len(planning),
        "apply_queries": len(applying),
        "result": result,
    }


def report(label: str, figures: dict) -> None:
    result = figures["result"]
    say(
        f"{label:<7} read {figures['read']:.2f} s, plan {figures['plan']:.2f} s "
        f"({figures['plan_queries']} queries), apply {figures['apply']:.2f} s "
        f"({figures['apply_queries']} queries): {result.departments_created} departments "
        f"created, {result.employees_created} employees created, {result.employees_updated} "
        f"updated, {result.employees_deactivated} deactivated"
    )


def main() -> int:
    database_url = database_settings("plimsoll_bench_directory")
    employees = env_int("BENCH_EMPLOYEES", 100_000)
    departments = env_int("BENCH_DEPARTMENTS", 1_000)
    keep = os.environ.get("BENCH_KEEP", "") not in ("", "0")
    try:
        started = time.monotonic()
        database_reset(database_url, create=True)
        manage("migrate", "--noinput")
        name = environ.Env.db_url_config(database_url)["NAME"]
        say(f"bench-directory: database {name} migrated in {time.monotonic() - started:.1f} s")
        import django

        django.setup()
        from accounts.models import Employee, Organization

        organization = Organization.objects.create(name="Bench", slug="bench")
        first = rows(employees, departments, second=False)
        data = csv_data(first)
        say(
            f"bench-directory: {employees:,} employees in {departments:,} departments, "
            f"CSV {len(data) / 1024 / 1024:.1f} MB"
        )
        if os.environ.get("BENCH_XLSX", "1") != "0":
            from accounts.directory import directory_rows_from_file

            workbook = xlsx_data(first)
            began = time.perf_counter()
            parsed = directory_rows_from_file(data=workbook, filename="bench.xlsx")
            say(
                f"xlsx    read {time.perf_counter() - began:.2f} s "
                f"({len(workbook) / 1024 / 1024:.1f} MB, {len(parsed.employees):,} employees, "
                f"{len(parsed.errors)} errors)"
            )
        figures = run_import(organization, data, "bench.csv")
        report("first", figures)
        changed = csv_data(rows(employees, departments, second=True))
        second = run_import(organization, changed, "bench.csv")
        report("second", second)

        stored = Employee.objects.for_organization(organization)
        expected = (employees + employees // 100, employees // 10)
        found = (stored.count(), stored.filter(is_active=False).count())
        if found != expected:
            say(f"bench-directory: FAILED: (employees, inactive) {found}, expected {expected}")
            return 1
        if figures["plan"] + figures["apply"] > TARGET_SECONDS:
            say(f"bench-directory: WARNING: the first import took over {TARGET_SECONDS:.0f} s")
        return 0
    except BenchError as error:
        say(f"bench-directory: cannot run: {error}")
        return 2
    except Exception:  # noqa: BLE001 - a failed import is a failed bench, with its traceback
        traceback.print_exc()
        return 1
    finally:
        if not keep:
            # DROP DATABASE ... WITH (FORCE) ends this process's own connection too.
            with contextlib.suppress(BenchError):
                database_reset(database_url, create=False)


if __name__ == "__main__":
    sys.exit(main())
