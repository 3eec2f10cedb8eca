"""Directory import: files read into rows, rows planned against the directory, plans applied
in one transaction; the brake on mass deactivation and email changes; export and template."""

import csv
import io
import json
import math
import time

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import directory
from accounts.directory import (
    ImportPlan,
    ImportResult,
    directory_csv,
    directory_import_apply,
    directory_import_file,
    directory_import_plan,
    directory_rows_from_file,
    directory_template_csv,
)
from accounts.models import Department, Employee
from accounts.services import department_create, department_deactivate
from tests.factories import EmployeeFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

HEADER = [
    "kind",
    "external_id",
    "name",
    "parent_external_id",
    "email",
    "department_external_id",
    "language",
    "active",
    "site",
    "tenure_band",
]


def dep(external_id, name, parent=""):
    return {
        "kind": "department",
        "external_id": external_id,
        "name": name,
        "parent_external_id": parent,
    }


def emp(external_id, email, department="", **extra):
    return {
        "kind": "employee",
        "external_id": external_id,
        "email": email,
        "department_external_id": department,
        **extra,
    }


def csv_bytes(rows, *, header=HEADER, delimiter=",", encoding="utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(column.lower().replace(" ", "_"), "") for column in header])
    return out.getvalue().encode(encoding)


def plan_file(organization, data, *, mode="full", filename="directory.csv") -> ImportPlan:
    return directory_import_file(
        organization=organization, data=data, filename=filename, mode=mode, dry_run=True
    )


def apply_file(organization, data, *, mode="full", confirmed=False) -> ImportResult:
    return directory_import_file(
        organization=organization,
        data=data,
        filename="directory.csv",
        mode=mode,
        dry_run=False,
        confirmed=confirmed,
    )


def snapshot(organization):
    """Everything an import could write for one organisation."""
    departments = Department.objects.for_organization(organization).order_by("pk")
    employees = Employee.objects.for_organization(organization).order_by("pk")
    return (
        list(departments.values_list("pk", "external_id", "name", "parent_id", "path", "depth")),
        list(
            employees.values_list(
                "pk",
                "external_id",
                "email",
                "department_id",
                "is_active",
                "language",
                "attributes",
            )
        ),
    )


def assert_tree_is_consistent(organization):
    """Every path is the parent's path plus the department's own pk; depth follows."""
    departments = {d.pk: d for d in Department.objects.for_organization(organization)}
    for department in departments.values():
        parent = departments.get(department.parent_id)
        assert department.path == f"{parent.path if parent else '/'}{department.pk}/"
        assert department.depth == (parent.depth + 1 if parent else 0)


def department(organization, external_id) -> Department:
    return Department.objects.for_organization(organization).get(external_id=external_id)


def employee(organization, external_id) -> Employee:
    return Employee.objects.for_organization(organization).get(external_id=external_id)


def cells(plan):
    return {(e.row, e.column, e.value) for e in plan.errors}


# --- a good file, then changes -----------------------------------------------------------


def test_a_good_file_creates_the_tree_and_the_people_in_any_row_order(organization):
    data = csv_bytes(
        [
            emp(
                "E1", "ada@example.test", "D-NIGHT", language="DE", site="north", tenure_band="2-5y"
            ),
            dep("D-NIGHT", "Night shift", parent="D-NORTH"),
            emp("E2", "bob@example.test", "D-OPS", active="no"),
            dep("D-NORTH", "North", parent="D-OPS"),
            dep("D-OPS", "Operations"),
            dep("D-SALES", "Sales"),
            emp("E3", "cy@example.test", "D-SALES", active=""),
        ]
    )
    plan = plan_file(organization, data)
    assert plan.errors == []
    assert [c["external_id"] for c in plan.changes["departments_created"]] == [
        "D-NIGHT",
        "D-NORTH",
        "D-OPS",
        "D-SALES",
    ]
    assert plan.changes["departments_created"][0] == {
        "row": 3,
        "external_id": "D-NIGHT",
        "name": "Night shift",
        "parent_external_id": "D-NORTH",
    }
    assert [c["row"] for c in plan.changes["employees_created"]] == [2, 4, 8]
    assert not plan.needs_confirmation

    result = directory_import_apply(organization=organization, plan=plan)

    assert (result.departments_created, result.employees_created) == (4, 3)
    assert_tree_is_consistent(organization)
    night = department(organization, "D-NIGHT")
    assert night.depth == 2
    assert night.parent.parent == department(organization, "D-OPS")
    ada = employee(organization, "E1")
    assert (ada.department, ada.language, ada.is_active) == (night, "de", True)
    assert ada.attributes == {"site": "north", "tenure_band": "2-5y"}
    assert employee(organization, "E2").is_active is False
    cy = employee(organization, "E3")
    assert (cy.is_active, cy.language, cy.attributes) == (True, "en", {})


BASELINE = [
    dep("D-OPS", "Operations"),
    dep("D-NORTH", "North", parent="D-OPS"),
    dep("D-NIGHT", "Night", parent="D-NORTH"),
    dep("D-SALES", "Sales"),
    *[
        emp(
            f"E{i:02d}",
            f"e{i:02d}@example.test",
            "D-NORTH" if i % 2 else "D-SALES",
            site="north",
            tenure_band="0-2y",
        )
        for i in range(1, 20)
    ],
    emp("E20", "e20@example.test", "D-SALES", active="false"),
]


@pytest.fixture
def baseline(organization):
    """4 departments, 19 active employees and 1 inactive one, imported from a file."""
    apply_file(organization, csv_bytes(BASELINE))
    return organization


def changed_rows(rows, changes):
    by_id = {row["external_id"]: row for row in rows}
    for external_id, change in changes.items():
        if change is None:
            by_id.pop(external_id)
        else:
            by_id[external_id] = {**by_id.get(external_id, {}), **change}
    return list(by_id.values())


def test_a_second_file_renames_moves_updates_deactivates_reactivates_and_changes_emails(baseline):
    organization = baseline
    night_before = department(organization, "D-NIGHT")
    rows = changed_rows(
        BASELINE,
        {
            "D-SALES": {"name": "Sales & Marketing"},
            "D-NORTH": {"parent_external_id": "D-SALES"},
            "D-SUPPORT": dep("D-SUPPORT", "Support", parent="D-OPS"),
            "E01": {"email": "e01.new@example.test"},
            "E02": {"department_external_id": "D-SUPPORT"},
            "E03": {"language": "de", "site": "south"},
            "E04": {"active": "no"},
            "E05": None,  # left out of a full file
            "E20": {"active": "yes"},
            "E21": emp("E21", "e21@example.test", "D-NIGHT"),
        },
    )
    plan = plan_file(organization, csv_bytes(rows))

    assert plan.errors == []
    changes = plan.changes
    assert [c["external_id"] for c in changes["departments_created"]] == ["D-SUPPORT"]
    assert changes["departments_renamed"] == [
        {"row": 5, "external_id": "D-SALES", "old_name": "Sales", "new_name": "Sales & Marketing"}
    ]
    assert changes["departments_moved"] == [
        {
            "row": 3,
            "external_id": "D-NORTH",
            "name": "North",
            "old_parent_external_id": "D-OPS",
            "old_parent_name": "Operations",
            "new_parent_external_id": "D-SALES",
            "new_parent_name": "Sales & Marketing",
        }
    ]
    assert {c["external_id"]: c["fields"] for c in changes["employees_updated"]} == {
        "E01": ["email"],
        "E02": ["department"],
        "E03": ["language", "attributes.site"],
        "E04": ["is_active"],
        "E20": ["is_active"],
    }
    assert changes["email_changes"] == [
        {
            "row": 6,
            "external_id": "E01",
            "old_email": "e01@example.test",
            "new_email": "e01.new@example.test",
        }
    ]
    assert [
        (c["external_id"], c["new_department_external_id"]) for c in changes["employees_moved"]
    ] == [("E02", "D-SUPPORT")]
    assert [
        (c["external_id"], c["row"], c["reason"]) for c in changes["employees_deactivated"]
    ] == [
        ("E04", 9, "inactive in the file"),
        ("E05", None, "not in the file"),
    ]
    assert [c["external_id"] for c in changes["employees_reactivated"]] == ["E20"]
    assert [c["external_id"] for c in changes["employees_created"]] == ["E21"]
    # 2 of 19 active deactivated, 1 of 20 emails changed: under both limits.
    assert not plan.needs_confirmation

    result = directory_import_apply(organization=organization, plan=plan)

    assert result.as_dict() == {
        "mode": "full",
        "departments_created": 1,
        "departments_renamed": 1,
        "departments_moved": 1,
        "employees_created": 1,
        "employees_updated": 5,
        "employees_moved": 1,
        "employees_deactivated": 2,
        "employees_reactivated": 1,
        "email_changes": 1,
    }
    assert_tree_is_consistent(organization)
    sales = department(organization, "D-SALES")
    assert sales.name == "Sales & Marketing"
    night = department(organization, "D-NIGHT")
    assert night.pk == night_before.pk
    assert night.ancestor_ids() == [sales.pk, department(organization, "D-NORTH").pk]
    assert employee(organization, "E01").email == "e01.new@example.test"
    assert employee(organization, "E02").department == department(organization, "D-SUPPORT")
    e03 = employee(organization, "E03")
    assert (e03.language, e03.attributes) == ("de", {"site": "south", "tenure_band": "0-2y"})
    assert employee(organization, "E04").is_active is False
    assert employee(organization, "E05").is_active is False  # deactivated, never deleted
    assert employee(organization, "E20").is_active is True
    assert employee(organization, "E21").department == night
    # Applying the same file again changes nothing.
    assert not plan_file(organization, csv_bytes(rows)).has_changes


def test_delta_mode_never_deactivates_by_omission(baseline):
    organization = baseline
    rows = [
        emp("E01", "e01.new@example.test"),  # department left empty: stays where it is
        emp("E04", "e04@example.test", "D-NORTH", active="0"),
        emp("E21", "e21@example.test", "D-SALES"),
    ]
    # Without attribute columns: a column left out leaves the attributes as they are.
    plan = plan_file(organization, csv_bytes(rows, header=HEADER[:8]), mode="delta")

    assert plan.errors == []
    assert [(c["external_id"], c["reason"]) for c in plan.changes["employees_deactivated"]] == [
        ("E04", "inactive in the file")
    ]
    assert [c["external_id"] for c in plan.changes["employees_updated"]] == ["E01", "E04"]
    directory_import_apply(organization=organization, plan=plan)
    active = set(
        Employee.objects.for_organization(organization)
        .filter(is_active=True)
        .values_list("external_id", flat=True)
    )
    assert active == {f"E{i:02d}" for i in range(1, 20) if i != 4} | {"E21"}
    assert employee(organization, "E01").department == department(organization, "D-NORTH")


def test_a_department_swap_within_the_file_is_not_a_cycle(baseline):
    # North sits under Operations; the file puts Operations under North and North on top.
    organization = baseline
    rows = changed_rows(
        BASELINE,
        {"D-OPS": {"parent_external_id": "D-NORTH"}, "D-NORTH": {"parent_external_id": ""}},
    )
    plan = plan_file(organization, csv_bytes(rows))
    assert plan.errors == []
    directory_import_apply(organization=organization, plan=plan)
    assert_tree_is_consistent(organization)
    assert department(organization, "D-OPS").parent == department(organization, "D-NORTH")
    assert department(organization, "D-NIGHT").depth == 1


# --- errors ------------------------------------------------------------------------------


def test_every_bad_row_is_reported_with_its_row_column_and_value_and_nothing_is_written(
    baseline,
):
    organization = baseline
    header = [*HEADER, "salary"]
    rows = [
        dep("D1", "Ops", parent="NOPE"),  # 2: unknown parent
        dep("A", "A", parent="B"),  # 3: a cycle in the file
        dep("B", "B", parent="A"),  # 4
        dep("D2", "X"),  # 5
        dep("D2", "Y"),  # 6: duplicate external id
        emp("E90", "not-an-email", "D-OPS"),  # 7
        emp("E91", "e91@example.test", "D-OPS", language="fr"),  # 8
        emp("E92", "", "D-OPS"),  # 9: empty required field
        dep("D3", ""),  # 10: a department without a name
        emp("E93", "e93@example.test", "D-OPS", active="maybe"),  # 11
        emp("E94", "e94@example.test", "D404"),  # 12: unknown department
        emp("E90", "e90b@example.test", "D-OPS"),  # 13: duplicate of row 7
        emp("E95", "e95@example.test", "D-OPS", site="x" * 61),  # 14
        emp("E96", "same@example.test", "D-OPS"),  # 15
        emp("E97", "SAME@example.test", "D-OPS"),  # 16: the same address, active twice
        emp("E98", "e98@example.test"),  # 17: a new employee without a department
        emp("E99", "e99@example.test", "D-OPS", site="a\nb"),  # 18: not a coarse value
        {**dep("D4", "D4"), "email": "d4@example.test"},  # 19: an employee column
        {"kind": "team", "external_id": "T1"},  # 20
        emp("", "nobody@example.test", "D-OPS"),  # 21
    ]
    before = snapshot(organization)
    plan = plan_file(organization, csv_bytes(rows, header=header))

    assert cells(plan) == {
        (1, "salary", "salary"),
        (2, "parent_external_id", "NOPE"),
        (3, "parent_external_id", "B"),
        (4, "parent_external_id", "A"),
        (6, "external_id", "D2"),
        (7, "email", "not-an-email"),
        (8, "language", "fr"),
        (9, "email", ""),
        (10, "name", ""),
        (11, "active", "maybe"),
        (12, "department_external_id", "D404"),
        (13, "external_id", "E90"),
        (14, "site", "x" * 61),
        (16, "email", "SAME@example.test"),
        (17, "department_external_id", ""),
        (18, "site", "a\nb"),
        (19, "email", "d4@example.test"),
        (20, "kind", "team"),
        (21, "external_id", ""),
    }
    by_row = {e.row: e for e in plan.errors}
    assert "accepted columns are kind, external_id, name" in by_row[1].message
    assert "tenure_band" in by_row[1].message
    assert str(by_row[2]) == (
        "row 2, column parent_external_id: unknown parent 'NOPE': no department has this "
        "external_id in the file or in the directory"
    )
    assert "cycle: 'A' (row 3) → 'B' (row 4) → 'A' (row 3)" in by_row[3].message
    assert "rows 5 and 6" in by_row[6].message
    assert "'not-an-email' is not a valid email address" in by_row[7].message
    assert "use one of en, de" in by_row[8].message
    assert "rows 7 and 13" in by_row[13].message
    assert "at most 60" in by_row[14].message
    assert "active employee 'E96' (row 15)" in by_row[16].message
    assert "line break" in by_row[18].message
    assert "for employee rows" in by_row[19].message
    assert "use 'department' or 'employee'" in by_row[20].message

    with pytest.raises(ValidationError, match="Correct the file"):
        directory_import_apply(organization=organization, plan=plan)
    assert snapshot(organization) == before


def test_an_email_held_by_an_active_employee_outside_a_delta_file_is_refused(baseline):
    plan = plan_file(baseline, csv_bytes([emp("E21", "E03@example.test", "D-OPS")]), mode="delta")
    assert cells(plan) == {(2, "email", "E03@example.test")}
    assert "active employee 'E03' in the directory" in plan.errors[0].message
    # An inactive employee's address may be reused.
    plan = plan_file(baseline, csv_bytes([emp("E21", "e20@example.test", "D-OPS")]), mode="delta")
    assert plan.errors == []


def test_a_cycle_between_the_file_and_the_directory_names_the_row(baseline):
    # North (under Operations) is not in the file; the file puts Operations under North.
    plan = plan_file(baseline, csv_bytes([dep("D-OPS", "Operations", parent="D-NIGHT")]))
    assert cells(plan) == {(2, "parent_external_id", "D-NIGHT")}
    assert plan.errors[0].message.startswith(
        "the parents form a cycle: 'D-OPS' (row 2) → 'Night' (in the directory) → "
        "'North' (in the directory) → 'D-OPS' (row 2)"
    )


def test_a_department_cannot_be_its_own_parent(organization):
    plan = plan_file(organization, csv_bytes([dep("D1", "One", parent="D1")]))
    assert cells(plan) == {(2, "parent_external_id", "D1")}
    assert "cannot be its own parent" in plan.errors[0].message


def test_deactivated_departments_are_not_offered_to_an_import(baseline):
    organization = baseline
    closed = department_create(organization=organization, name="Closed", external_id="D-OLD")
    EmployeeFactory(department=closed, external_id="E-OLD", is_active=False)
    department_deactivate(department=closed)
    rows = [
        dep("D-OLD", "Closed again"),  # 2
        dep("D-NEW", "New", parent="D-OLD"),  # 3
        emp("E21", "e21@example.test", "D-OLD"),  # 4: an active employee
        emp("E-OLD", "old@example.test", "D-OLD", active="no"),  # 5: inactive may stay
        emp("E-OLD2", "old2@example.test", "D-OLD", active="no"),  # 6
    ]
    plan = plan_file(organization, csv_bytes(rows, header=HEADER[:8]), mode="delta")
    assert cells(plan) == {
        (2, "external_id", "D-OLD"),
        (3, "parent_external_id", "D-OLD"),
        (4, "department_external_id", "D-OLD"),
    }
    by_row = {e.row: e for e in plan.errors}
    assert "'D-OLD' (Closed) is deactivated; reactivate it in the HR app first" in str(by_row[2])
    assert "nothing can be placed under it" in by_row[3].message
    assert "an active employee cannot be in it" in by_row[4].message
    # Reactivating an employee who stays in a deactivated department is refused too.
    plan = plan_file(organization, csv_bytes([emp("E-OLD", "old@example.test")]), mode="delta")
    assert cells(plan) == {(2, "department_external_id", "")}


def test_a_file_that_is_not_utf8_is_one_error_naming_the_line_and_byte(organization):
    text = "kind,external_id,name\r\ndepartment,D1,Ops\r\ndepartment,D2,Müller\r\n"
    data = text.encode("cp1252")
    plan = plan_file(organization, data)
    assert len(plan.errors) == 1
    error = plan.errors[0]
    offset = data.index(b"\xfc")
    assert (error.row, error.value) == (3, "0xFC")
    assert f"byte offset {offset} (line 3)" in error.message
    assert "not valid UTF-8" in error.message and "CSV UTF-8" in error.message
    assert plan.departments == [] and plan.employees == []


def test_semicolons_a_bom_and_spreadsheet_headers_are_read(organization):
    header = [
        "Kind",
        "External ID",
        "Name",
        "parent_external_id",
        "email",
        "department_external_id",
        "language",
        "active",
    ]
    data = b"\xef\xbb\xbf" + csv_bytes(
        [dep("D1", "Büro; Nord"), emp("E1", "e1@example.test", "D1", language="de")],
        header=header,
        delimiter=";",
    )
    parsed = directory_rows_from_file(data=data, filename="Export.CSV")
    assert parsed.errors == []
    assert parsed.departments == [
        {"external_id": "D1", "name": "Büro; Nord", "parent_external_id": ""}
    ]
    assert parsed.source_rows == {"department": [2], "employee": [3]}
    apply_file(organization, data)
    assert department(organization, "D1").name == "Büro; Nord"


def test_missing_key_columns_and_unsupported_files_are_clear(organization):
    parsed = directory_rows_from_file(data=b"external_id,name\r\nD1,Ops\r\n", filename="d.csv")
    assert [(e.row, e.column) for e in parsed.errors] == [(1, "kind")]
    assert "the column 'kind' is missing" in parsed.errors[0].message
    parsed = directory_rows_from_file(data=b"", filename="d.csv")
    assert "the file is empty" in parsed.errors[0].message
    parsed = directory_rows_from_file(data=b"%PDF-1.4", filename="d.pdf")
    assert "'.pdf' are not accepted" in parsed.errors[0].message
    parsed = directory_rows_from_file(data=b"PK\x03\x04broken", filename="d.xlsx")
    assert "not a readable Excel workbook" in parsed.errors[0].message


def test_too_many_rows_is_one_clear_error(organization, monkeypatch):
    monkeypatch.setattr(directory, "MAX_ROWS", 3)
    rows = [dep(f"D{i}", f"D{i}") for i in range(4)]
    parsed = directory_rows_from_file(data=csv_bytes(rows), filename="d.csv")
    assert [(e.row, e.column) for e in parsed.errors] == [(5, "")]
    assert "more than 3 rows" in parsed.errors[0].message
    assert parsed.departments == []


def xlsx_bytes(rows) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def test_an_xlsx_formula_is_refused_naming_row_column_and_formula(organization):
    header = ["kind", "external_id", "name", "email", "department_external_id", "active"]
    rows = [header, ["department", "D1", "Ops", None, None, None]]
    rows += [["employee", f"E{i}", None, f"e{i}@example.test", "D1", True] for i in range(3, 7)]
    rows += [["employee", "E7", None, "=A1&B1", "D1", None]]
    data = xlsx_bytes(rows)
    plan = plan_file(organization, data, filename="people.xlsx")

    assert [str(e) for e in plan.errors] == [
        "row 7, column email: formulas are not accepted ('=A1&B1'); paste values"
    ]
    assert (plan.errors[0].row, plan.errors[0].column, plan.errors[0].value) == (
        7,
        "email",
        "=A1&B1",
    )
    with pytest.raises(ValidationError):
        directory_import_apply(organization=organization, plan=plan)
    assert not Department.objects.for_organization(organization).exists()


def test_an_xlsx_file_with_numbers_and_booleans_imports(organization):
    header = [
        "kind",
        "external_id",
        "name",
        "parent_external_id",
        "email",
        "department_external_id",
        "active",
        "site",
    ]
    data = xlsx_bytes(
        [
            header,
            ["department", 100, "Ops", None, None, None, None, None],
            [],  # a blank row is skipped, but counts in the row numbers
            ["employee", 1001, None, None, "e1@example.test", 100, False, 3],
            ["employee", 1002.0, None, None, "e2@example.test", 100, None, None],
        ]
    )
    plan = plan_file(organization, data, filename="people.xlsx")
    assert plan.errors == []
    assert plan.source_rows == {"department": [2], "employee": [4, 5]}
    directory_import_apply(organization=organization, plan=plan)
    first = employee(organization, "1001")
    assert (first.is_active, first.attributes, first.department.external_id) == (
        False,
        {"site": "3"},
        "100",
    )
    assert employee(organization, "1002").is_active is True


def test_rows_given_as_json_are_numbered_by_position(organization):
    plan = directory_import_plan(
        organization=organization,
        departments=[{"external_id": "D1", "name": "Ops"}],
        employees=[
            {
                "external_id": "E1",
                "email": "e1@example.test",
                "department_external_id": "D1",
                "active": True,
                "attributes": {"site": "north", "role_type": None},
            },
            {
                "external_id": "E2",
                "email": "e2@example.test",
                "department_external_id": "D1",
                "active": False,
                "attributes": {"salary": "100k"},
                "phone": ["1"],
            },
        ],
        mode="delta",
    )
    assert {(e.kind, e.row, e.column) for e in plan.errors} == {
        ("employee", 2, "salary"),
        ("employee", 2, "phone"),
    }
    assert [c["row"] for c in plan.changes["employees_created"]] == [1]


# --- the brake ---------------------------------------------------------------------------


def test_a_full_import_deactivating_more_than_a_fifth_needs_confirmation(baseline):
    organization = baseline
    rows = [row for row in BASELINE if row["external_id"] not in {"E01", "E02", "E03", "E04"}]
    plan = plan_file(organization, csv_bytes(rows))  # 4 of 19 active: 21%
    assert plan.errors == []
    assert plan.needs_confirmation
    assert "deactivate 4 of 19 active employees (21%), more than the 20%" in plan.reasons[0]
    before = snapshot(organization)
    with pytest.raises(ValidationError, match="deactivate 4 of 19"):
        directory_import_apply(organization=organization, plan=plan)
    assert snapshot(organization) == before

    result = directory_import_apply(organization=organization, plan=plan, confirmed=True)
    assert result.employees_deactivated == 4
    assert not employee(organization, "E01").is_active


def test_changing_more_than_five_percent_of_emails_needs_confirmation(baseline):
    organization = baseline
    rows = changed_rows(
        BASELINE, {"E01": {"email": "x1@example.test"}, "E02": {"email": "x2@example.test"}}
    )
    plan = plan_file(organization, csv_bytes(rows))  # 2 of 20: 10%
    assert plan.needs_confirmation
    assert len(plan.reasons) == 1
    assert "change the email address of 2 of 20 employees (10%)" in plan.reasons[0]
    with pytest.raises(ValidationError, match="email address of 2 of 20"):
        directory_import_apply(organization=organization, plan=plan)
    assert employee(organization, "E01").email == "e01@example.test"
    directory_import_apply(organization=organization, plan=plan, confirmed=True)
    assert employee(organization, "E01").email == "x1@example.test"


def test_the_limits_come_from_settings(baseline, settings):
    settings.DIRECTORY_DEACTIVATION_LIMIT = 0.5
    rows = [row for row in BASELINE if row["external_id"] not in {"E01", "E02", "E03", "E04"}]
    assert not plan_file(baseline, csv_bytes(rows)).needs_confirmation


# --- export, template, plan storage ------------------------------------------------------


def test_export_then_import_plans_no_change(organization):
    loose = department_create(organization=organization, name="No HRIS id")
    apply_file(
        organization,
        csv_bytes(
            [
                dep("D-OPS", '=Operations, "North"'),
                dep("D-DE", "Zürich Büro", parent="D-OPS"),
                emp(
                    "E1", "Ada@Example.test", "D-DE", language="de", site="north", tenure_band="+5y"
                ),
                emp("E2", "e2@example.test", "D-OPS", active="no"),
            ]
        ),
    )
    under_loose = department_create(
        organization=organization, name="Under it", parent=loose, external_id="D-UNDER"
    )
    EmployeeFactory(department=loose, external_id="E3", attributes={"site": 3, "other": "kept"})
    EmployeeFactory(department=under_loose, external_id="E4")
    closed = department_create(organization=organization, name="Closed", external_id="D-OLD")
    EmployeeFactory(department=closed, external_id="E5", is_active=False)
    department_deactivate(department=closed)
    before = snapshot(organization)

    exported = directory_csv(organization=organization)
    assert exported.splitlines()[0] == ",".join(directory.directory_columns())
    assert "'=Operations" in exported  # a spreadsheet must not run it as a formula
    assert "D-OLD" not in exported  # not offered to imports
    for mode in ("full", "delta"):
        plan = plan_file(organization, exported.encode("utf-8-sig"), mode=mode)
        assert plan.errors == []
        assert not plan.has_changes, plan.changes
        directory_import_apply(organization=organization, plan=plan)
    assert snapshot(organization) == before
    assert department(organization, "D-OPS").name == '=Operations, "North"'


def test_the_template_imports_into_an_empty_organisation(organization):
    template = directory_template_csv()
    lines = template.splitlines()
    assert len(lines) == 3
    assert lines[0].split(",") == directory.directory_columns()
    result = apply_file(organization, template.encode())
    assert (result.departments_created, result.employees_created) == (1, 1)


def test_a_plan_survives_json_between_preview_and_apply(baseline):
    rows = changed_rows(BASELINE, {"E01": {"site": "west"}, "E05": None})
    plan = plan_file(baseline, csv_bytes(rows))
    stored = json.loads(json.dumps(plan.as_dict()))
    restored = ImportPlan.from_dict(stored)
    assert restored.as_dict() == plan.as_dict()
    result = directory_import_apply(organization=baseline, plan=restored)
    assert (result.employees_updated, result.employees_deactivated) == (1, 1)
    assert employee(baseline, "E01").attributes["site"] == "west"
    with pytest.raises(ValidationError, match="upload the file again"):
        ImportPlan.from_dict({"format": 99})


# --- concurrency and tenancy -------------------------------------------------------------


def test_a_plan_made_before_a_concurrent_change_is_refused(baseline):
    rows = changed_rows(BASELINE, {"E01": {"site": "west"}})
    plan = plan_file(baseline, csv_bytes(rows))
    # Someone changes the directory between preview and apply; the file says otherwise.
    Employee.objects.for_organization(baseline).filter(external_id="E02").update(
        attributes={"site": "east", "tenure_band": "0-2y"}
    )
    before = snapshot(baseline)
    with pytest.raises(ValidationError) as caught:
        directory_import_apply(organization=baseline, plan=plan)
    message = caught.value.messages[0]
    assert "changed since the preview" in message
    assert "employees updated: 1 in the preview, 2 now, for example 'E02'" in message
    assert snapshot(baseline) == before


def test_a_new_employee_added_since_a_full_preview_is_not_deactivated_unseen(baseline):
    plan = plan_file(baseline, csv_bytes(BASELINE))
    assert not plan.has_changes
    EmployeeFactory(department=department(baseline, "D-OPS"), external_id="E-NEW")
    with pytest.raises(ValidationError, match="employees deactivated: 0 in the preview, 1 now"):
        directory_import_apply(organization=baseline, plan=plan)
    assert employee(baseline, "E-NEW").is_active


def test_a_change_that_does_not_alter_the_plan_does_not_block_it(baseline):
    file = csv_bytes([emp("E01", "new@example.test")], header=HEADER[:8])
    plan = plan_file(baseline, file, mode="delta")
    # A change the file says nothing about: E02 is not in it, and a delta leaves it alone.
    Employee.objects.for_organization(baseline).filter(external_id="E02").update(language="de")
    directory_import_apply(organization=baseline, plan=plan)
    assert employee(baseline, "E01").email == "new@example.test"


def test_another_organisation_is_never_read_or_touched(organization, other_organization):
    apply_file(other_organization, csv_bytes(BASELINE))
    theirs = snapshot(other_organization)

    plan = plan_file(
        organization,
        csv_bytes([dep("D-OPS", "Our ops"), emp("E01", "e01@example.test", "D-OPS")]),
    )
    # Same external ids, and the same address: all new here, nothing of theirs deactivated.
    assert plan.errors == []
    assert [c["external_id"] for c in plan.changes["departments_created"]] == ["D-OPS"]
    assert [c["external_id"] for c in plan.changes["employees_created"]] == ["E01"]
    assert plan.changes["employees_deactivated"] == []
    directory_import_apply(organization=organization, plan=plan)
    assert snapshot(other_organization) == theirs
    assert department(organization, "D-OPS").name == "Our ops"

    # A parent known only in the other organisation is unknown here.
    plan = plan_file(organization, csv_bytes([dep("D-X", "X", parent="D-NORTH")]), mode="delta")
    assert cells(plan) == {(2, "parent_external_id", "D-NORTH")}
    # A plan made for one organisation cannot be applied to another.
    plan = plan_file(organization, csv_bytes([emp("E01", "x@example.test")]), mode="delta")
    with pytest.raises(ValidationError, match="another organisation"):
        directory_import_apply(organization=other_organization, plan=plan)
    assert snapshot(other_organization) == theirs


# --- size --------------------------------------------------------------------------------

DEPARTMENTS = 50


def large_rows(size: int, *, second: bool = False) -> list[dict]:
    """A file of `size` employees in 50 departments; the second file moves 10%, changes 4%
    of emails and attributes, leaves 10% out (deactivated) and adds 1%."""
    rows = [dep("D0", "Top")] + [
        dep(f"D{i}", f"Department {i}", parent=f"D{(i - 1) // 7}") for i in range(1, DEPARTMENTS)
    ]
    for i in range(size):
        if second and i % 10 == 9:
            continue
        row = emp(
            f"P{i:06d}",
            f"p{i:06d}@example.test",
            f"D{i % DEPARTMENTS}",
            language="de" if i % 3 else "en",
            site=f"site {i % 4}",
            tenure_band="2-5y",
        )
        if second and i % 10 == 1:
            row["department_external_id"] = f"D{(i + 1) % DEPARTMENTS}"
        if second and i % 25 == 2:
            row["email"] = f"p{i:06d}.new@example.test"
            row["site"] = "site 9"
        rows.append(row)
    if second:
        rows += [emp(f"N{i:06d}", f"n{i:06d}@example.test", "D1") for i in range(size // 100)]
    return rows


def run_large(organization, size: int, *, assert_max, limit=None) -> dict:
    """Parse, plan and apply the first and the second large file; queries and seconds.
    `limit(step, rows written)` bounds the queries of each apply."""
    figures = {}
    for step, second in (("first", False), ("second", True)):
        data = csv_bytes(large_rows(size, second=second))
        started = time.perf_counter()
        parsed = directory_rows_from_file(data=data, filename="large.csv")
        parsed_at = time.perf_counter()
        with CaptureQueriesContext(connection) as planning:
            plan = directory_import_plan(
                organization=organization,
                departments=parsed.departments,
                employees=parsed.employees,
                mode="full",
                source_rows=parsed.source_rows,
                file_errors=parsed.errors,
            )
        planned_at = time.perf_counter()
        assert plan.errors == []
        assert not plan.needs_confirmation
        written = len(plan._writes.employees)
        with (
            assert_max(limit(step, written) if limit else 1_000_000),
            CaptureQueriesContext(connection) as applying,
        ):
            directory_import_apply(organization=organization, plan=plan)
        figures[step] = {
            "plan_queries": len(planning),
            "apply_queries": len(applying),
            "parse_s": round(parsed_at - started, 2),
            "plan_s": round(planned_at - parsed_at, 2),
            "apply_s": round(time.perf_counter() - planned_at, 2),
            "employees_written": written,
            "deactivated": len(plan._writes.deactivate),
        }
    return figures


def forced_batches(rows: int) -> int:
    """Statements Django splits a bulk write of `rows` employees into because the backend caps
    its query parameters (SQLite: 999, so 124 rows a statement; PostgreSQL: no cap)."""
    if not rows:
        return 0
    fields = [f for f in Employee._meta.concrete_fields if not f.primary_key]
    batch = min(directory.BATCH_SIZE, connection.ops.bulk_batch_size(fields, [None] * rows))
    return math.ceil(rows / batch)


def test_ten_thousand_employees_plan_and_apply_with_a_bounded_number_of_queries(
    django_assert_max_num_queries,
):
    small = run_large(OrganizationFactory(), 1_000, assert_max=django_assert_max_num_queries)

    def limit(step: str, written: int) -> int:
        # The small file's count, plus only the statements the backend forces a bulk write to
        # split into (none on PostgreSQL): no query per row.
        small_written = small[step]["employees_written"]
        return (
            small[step]["apply_queries"] + forced_batches(written) - forced_batches(small_written)
        )

    large_org = OrganizationFactory()
    large = run_large(large_org, 10_000, assert_max=django_assert_max_num_queries, limit=limit)
    print(f"\n{connection.vendor}:\n  1,000 rows: {small}\n  10,000 rows: {large}")

    for step in ("first", "second"):
        # The directory is read in two queries, whatever its size.
        assert small[step]["plan_queries"] == large[step]["plan_queries"] == 2
        if connection.vendor == "postgresql":
            assert small[step]["apply_queries"] == large[step]["apply_queries"]
        assert large[step]["plan_s"] + large[step]["apply_s"] < 30
    assert Employee.objects.for_organization(large_org).count() == 10_100
    assert Employee.objects.for_organization(large_org).filter(is_active=False).count() == 1_000
    assert_tree_is_consistent(large_org)
