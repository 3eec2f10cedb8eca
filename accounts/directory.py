"""Directory import: departments and employees from an HRIS file (CSV or XLSX) or from rows.

Three steps, kept apart so the HR app (upload → preview → apply) and the REST API's sync runs
(JSON rows or CSV, full or delta, dry run) share them:

1. `directory_rows_from_file` reads a file into plain rows (dicts of text) and file-level
   errors; it never touches the database.
2. `directory_import_plan` checks every row against the organisation's directory (read once:
   two queries whatever the row count) and returns an `ImportPlan`: every error, with its row,
   column and value, and the diff the import would make. The plan is JSON-friendly
   (`as_dict` / `ImportPlan.from_dict`) so it can be kept between preview and apply.
3. `directory_import_apply` plans the same rows again under the tree lock, refuses when the
   directory changed since the preview, and writes everything in one transaction.

The file format: one sheet (the first of a workbook) or one CSV, header in row 1, one row per
department or employee, told apart by the `kind` column:

    kind        department | employee
    external_id the HRIS id (both kinds; required; unique per kind within the file)
    name        department rows: the department's name (required)
    parent_external_id
                department rows: the parent's HRIS id, in the file or already in the directory;
                empty = top of the tree (a department whose current parent has no HRIS id, so
                that no file can name it, stays where it is)
    email       employee rows (required)
    department_external_id
                employee rows: the department's HRIS id; required for a new employee, empty
                keeps an existing employee's department
    language    employee rows: one of settings.LANGUAGES; empty keeps the current language
                (a new employee gets the default)
    active      employee rows: true/false/yes/no/1/0; empty = true
    <attribute> one column per name in settings.EMPLOYEE_ATTRIBUTES: a coarse value (at most
                ATTRIBUTE_MAX_LENGTH characters, one line); an empty cell clears the attribute

A column left out of the file leaves that field as it is (except `active`: a listed employee is
active unless the row says otherwise). Rows may come in any order: a department may be listed
after the departments and employees that refer to it. In `full` mode the file is the whole
staff: active employees it leaves out are deactivated (never deleted); in `delta` mode only the
listed rows change. Departments are never deactivated or deleted by an import, and a deactivated
department is not offered to one: a row for it, a department placed under it or an active
employee in it is an error (reactivate it in the HR app first).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from xml.etree.ElementTree import ParseError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Count, Q
from django.db.models.functions import Lower
from django.utils import timezone

from accounts.models import (
    Department,
    DirectoryImport,
    DirectoryImportStatus,
    Employee,
    Organization,
)
from accounts.services import PATH_MAX_LENGTH, _lock_tree

Mode = Literal["full", "delta"]
MODES = ("full", "delta")
KINDS = ("department", "employee")

MAX_ROWS = 200_000
MAX_FILE_BYTES = 64 * 1024 * 1024
ATTRIBUTE_MAX_LENGTH = 60
IMPORT_DEACTIVATION_LIMIT = 0.20
IMPORT_EMAIL_CHANGE_LIMIT = 0.05

KIND_COLUMN = "kind"
DEPARTMENT_COLUMNS = ("external_id", "name", "parent_external_id")
EMPLOYEE_COLUMNS = ("external_id", "email", "department_external_id", "language", "active")

EXTERNAL_ID_MAX_LENGTH = Employee._meta.get_field("external_id").max_length
NAME_MAX_LENGTH = Department._meta.get_field("name").max_length
EMAIL_MAX_LENGTH = Employee._meta.get_field("email").max_length
DEFAULT_LANGUAGE = Employee._meta.get_field("language").default

ACTIVE_VALUES = {"": True, "true": True, "yes": True, "1": True, "false": False, "no": False}
ACTIVE_VALUES["0"] = False

# Rows per INSERT/UPDATE. PostgreSQL takes a whole 10,000-row file in one statement; Django
# lowers the batch on SQLite to stay under its 999 query parameters.
BATCH_SIZE = 20_000
# Primary keys per deactivating UPDATE: below SQLite's 32,766 variables (since 3.32).
DEACTIVATE_CHUNK = 30_000
PLAN_FORMAT = 1
# A delta of at most this many employee rows reads only the employees it concerns.
NARROW_ROWS = 1_000

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# A spreadsheet would run a cell that starts with one of these as a formula (CSV injection):
# the export prefixes them with an apostrophe, and the import takes it off again.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_XLSX_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def directory_columns() -> list[str]:
    """The columns the import accepts and the export writes, in order."""
    columns = [KIND_COLUMN, "external_id", "name", "parent_external_id"]
    columns += [c for c in EMPLOYEE_COLUMNS if c != "external_id"]
    return columns + [a for a in settings.EMPLOYEE_ATTRIBUTES if a not in columns]


# --- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One problem with one cell: the row as a person sees it in the file (header = row 1;
    0 = the file as a whole; for rows given as lists, the 1-based position in the list of
    its kind), the column, the value found and what would be accepted."""

    row: int
    column: str
    value: str
    message: str
    kind: str = ""

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "file"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


@dataclass
class ParsedFile:
    """Rows read from a file, not yet checked against the directory."""

    departments: list[dict[str, str]]
    employees: list[dict[str, str]]
    # The file row of each department and employee row, in the same order.
    source_rows: dict[str, list[int]]
    columns: list[str]
    errors: list[RowError]
    format: str


CHANGE_KEYS = (
    "departments_created",
    "departments_renamed",
    "departments_moved",
    "employees_created",
    "employees_updated",
    "employees_moved",
    "employees_deactivated",
    "employees_reactivated",
    "email_changes",
)


@dataclass
class _FileDepartment:
    row: int
    name: str
    # Final parent: an HRIS id (str), the pk of a department without one (int) or None (top).
    parent: str | int | None


@dataclass
class _Writes:
    """What applying the plan writes; kept on the plan object only, never serialised."""

    # pk -> (external_id, name, parent_id, path, depth, is_active)
    db_departments: dict[int, tuple]
    file_departments: dict[str, _FileDepartment]
    new_departments: list[str]
    # (external_id, email, department reference, is_active, language, attributes)
    employees: list[tuple]
    deactivate: list[int]


@dataclass
class ImportPlan:
    """What an import would change, or why it cannot: made by `directory_import_plan`, shown
    as the preview, kept as JSON (`as_dict` / `from_dict`) and handed to
    `directory_import_apply`. It carries its input rows, so applying can check them again."""

    organization_id: int
    mode: str
    departments: list[dict[str, str]]
    employees: list[dict[str, str]]
    source_rows: dict[str, list[int]]
    errors: list[RowError]
    changes: dict[str, list[dict[str, Any]]]
    needs_confirmation: bool
    reasons: list[str]
    active_employees: int
    existing_employees: int
    _writes: _Writes | None = field(default=None, repr=False, compare=False)

    @property
    def is_valid(self) -> bool:
        return not self.errors

    @property
    def has_changes(self) -> bool:
        return any(self.changes[key] for key in CHANGE_KEYS)

    def summary(self) -> dict[str, int]:
        """Counts per kind of change, and the rows read, for a preview's headline."""
        counts = {key: len(self.changes[key]) for key in CHANGE_KEYS}
        counts["department_rows"] = len(self.departments)
        counts["employee_rows"] = len(self.employees)
        counts["errors"] = len(self.errors)
        return counts

    def error_messages(self) -> list[str]:
        return [str(error) for error in self.errors]

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "organization_id": self.organization_id,
            "mode": self.mode,
            "departments": self.departments,
            "employees": self.employees,
            "source_rows": self.source_rows,
            "errors": [asdict(error) for error in self.errors],
            "changes": self.changes,
            "needs_confirmation": self.needs_confirmation,
            "reasons": self.reasons,
            "active_employees": self.active_employees,
            "existing_employees": self.existing_employees,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportPlan:
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise ValidationError(
                "This import preview was saved in a format this version cannot read; "
                "upload the file again."
            )
        try:
            return cls(
                organization_id=int(data["organization_id"]),
                mode=data["mode"],
                departments=list(data["departments"]),
                employees=list(data["employees"]),
                source_rows={kind: list(rows) for kind, rows in data["source_rows"].items()},
                errors=[RowError(**error) for error in data["errors"]],
                changes={key: list(data["changes"][key]) for key in CHANGE_KEYS},
                needs_confirmation=bool(data["needs_confirmation"]),
                reasons=list(data["reasons"]),
                active_employees=int(data["active_employees"]),
                existing_employees=int(data["existing_employees"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ValidationError(
                "This import preview is incomplete or damaged; upload the file again."
            ) from error


@dataclass(frozen=True)
class ImportResult:
    """What `directory_import_apply` wrote: counts per kind of change."""

    mode: str
    departments_created: int
    departments_renamed: int
    departments_moved: int
    employees_created: int
    employees_updated: int
    employees_moved: int
    employees_deactivated: int
    employees_reactivated: int
    email_changes: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- 1. parsing ---------------------------------------------------------------------------


def directory_rows_from_file(*, data: bytes, filename: str) -> ParsedFile:
    """Read a CSV (UTF-8, comma, semicolon or tab) or XLSX file into department and employee
    rows. Problems with the file itself (encoding, formulas, unknown or missing columns, too
    many rows) come back as errors; the rows are checked against the directory later."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    errors: list[RowError] = []

    def empty(fmt: str) -> ParsedFile:
        return ParsedFile([], [], {"department": [], "employee": []}, [], errors, fmt)

    if len(data) > MAX_FILE_BYTES:
        errors.append(
            _file_error(
                f"the file is {len(data) / 1024 / 1024:.0f} MB; at most "
                f"{MAX_FILE_BYTES // 1024 // 1024} MB are accepted. Split it into smaller "
                "files and import them in delta mode."
            )
        )
        return empty("")
    if data.startswith(_XLSX_MAGIC):
        return _rows_from_records(_xlsx_records(data, errors), errors, "xlsx")
    if data.startswith(_OLE_MAGIC) or extension == "xls":
        errors.append(
            _file_error(
                f"'{filename}' is an old Excel workbook (.xls) or a password-protected one; "
                "save it as an Excel workbook (.xlsx) without a password, or as CSV UTF-8."
            )
        )
        return empty("xlsx")
    if extension in ("xlsx", "xlsm"):
        errors.append(
            _file_error(f"'{filename}' is not a readable Excel workbook; save it again as .xlsx.")
        )
        return empty("xlsx")
    if extension not in ("csv", "txt", ""):
        errors.append(
            _file_error(
                f"files of type '.{extension}' are not accepted; upload a CSV (UTF-8) or an "
                "Excel workbook (.xlsx)."
            )
        )
        return empty("")
    return _rows_from_records(_csv_records(data, errors), errors, "csv")


def _file_error(message: str, *, row: int = 0, column: str = "", value: str = "") -> RowError:
    return RowError(row=row, column=column, value=value, message=message)


def _csv_records(data: bytes, errors: list[RowError]) -> Iterator[tuple[int, list[str], dict]]:
    """Yield (row number, cells, problems by column index) for each CSV record."""
    offset = 0
    if data.startswith(codecs.BOM_UTF8):
        offset = len(codecs.BOM_UTF8)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        errors.append(
            _file_error(
                "the file is encoded as UTF-16; save it as 'CSV UTF-8' and upload it again."
            )
        )
        return
    try:
        text = data[offset:].decode("utf-8")
    except UnicodeDecodeError as error:
        position = offset + error.start
        line = data[:position].count(b"\n") + 1
        errors.append(
            _file_error(
                f"the file is not valid UTF-8: the byte 0x{data[position]:02X} at byte offset "
                f"{position} (line {line}) is not UTF-8, perhaps because the file was saved as "
                "Latin-1 or Windows-1252. Save it as 'CSV UTF-8' and upload it again.",
                row=line,
                value=f"0x{data[position]:02X}",
            )
        )
        return
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    number = 0
    try:
        for cells in reader:
            number += 1
            yield number, [_unescape(cell.strip()) for cell in cells], {}
    except csv.Error as error:
        errors.append(
            _file_error(
                f"the file cannot be read as CSV after this row ({error}); check that quotes "
                "are paired.",
                row=number + 1,
            )
        )


def _unescape(value: str) -> str:
    if value.startswith("'") and value[1:2] and value[1] in _FORMULA_START:
        return value[1:]
    return value


def _xlsx_records(data: bytes, errors: list[RowError]) -> Iterator[tuple[int, list[str], dict]]:
    """Yield (row number, cells, problems by column index) for each row of the first sheet.
    Formulas are read as written (data_only=False), so they can be refused."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=False, keep_links=False
        )
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError, ParseError):
        errors.append(
            _file_error("the file is not a readable Excel workbook; save it again as .xlsx.")
        )
        return
    try:
        sheet = workbook.worksheets[0]
        for number, row in enumerate(sheet.iter_rows(), start=1):
            cells: list[str] = []
            problems: dict[int, str] = {}
            for index, cell in enumerate(row):
                value, problem = _xlsx_value(cell)
                cells.append(value)
                if problem:
                    problems[index] = problem
            yield number, cells, problems
    finally:
        workbook.close()


def _xlsx_value(cell) -> tuple[str, str]:
    """A cell's text, and why it is refused ("" when it is not)."""
    value = cell.value
    if value is None:
        return "", ""
    if cell.data_type == "f":
        text = str(getattr(value, "text", value))
        text = text if text.startswith("=") else f"={text}"
        return text, f"formulas are not accepted ('{text}'); paste values"
    if cell.data_type == "e":
        return str(value), f"the cell holds a spreadsheet error ({value}); enter a value"
    if isinstance(value, bool):
        return ("true" if value else "false"), ""
    if isinstance(value, int):
        return str(value), ""
    if isinstance(value, float):
        return (str(int(value)) if value.is_integer() else str(value)), ""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        text = value.isoformat()
        return text, (
            f"dates are not accepted ('{text}'); enter text (for an attribute, a coarse band "
            "such as '2-5y')"
        )
    return str(value).strip(), ""


def _header_name(cell: str) -> str:
    return re.sub(r"[\s\-]+", "_", cell.strip().lower())


def _rows_from_records(
    records: Iterable[tuple[int, list[str], dict]], errors: list[RowError], fmt: str
) -> ParsedFile:
    accepted = directory_columns()
    parsed = ParsedFile([], [], {"department": [], "employee": []}, [], errors, fmt)
    iterator = iter(records)
    header = next(iterator, None)
    if header is None:
        if not errors:
            errors.append(_file_error("the file is empty; the first row must name the columns."))
        return parsed
    _, header_cells, header_problems = header
    names = [_header_name(cell) for cell in header_cells]
    for index, problem in header_problems.items():
        errors.append(_file_error(problem, row=1, column=names[index], value=header_cells[index]))
    if not any(names):
        errors.append(
            _file_error(
                "row 1 must name the columns; accepted columns are " + ", ".join(accepted) + ".",
                row=1,
            )
        )
        return parsed
    columns: dict[int, str] = {}
    first_index: dict[str, int] = {}
    structural = False
    for index, name in enumerate(names):
        if not name:
            continue
        if name in first_index:
            errors.append(
                _file_error(
                    f"the column '{name}' appears twice (columns {first_index[name] + 1} and "
                    f"{index + 1}); keep one.",
                    row=1,
                    column=name,
                    value=header_cells[index],
                )
            )
            structural = True
            continue
        first_index[name] = index
        if name not in accepted:
            errors.append(
                _file_error(
                    f"unknown column '{header_cells[index]}'; accepted columns are "
                    + ", ".join(accepted)
                    + ".",
                    row=1,
                    column=name,
                    value=header_cells[index],
                )
            )
            continue
        columns[index] = name
    for required in (KIND_COLUMN, "external_id"):
        if required not in first_index:
            errors.append(
                _file_error(
                    f"the column '{required}' is missing; row 1 must name it.",
                    row=1,
                    column=required,
                )
            )
            structural = True
    parsed.columns = [columns[i] for i in sorted(columns)]
    if structural:
        return parsed

    kind_index = first_index[KIND_COLUMN]
    count = 0
    for number, cells, problems in iterator:
        if not any(cells):
            continue
        count += 1
        if count > MAX_ROWS:
            errors.append(
                _file_error(
                    f"the file has more than {MAX_ROWS:,} rows; split it into smaller files and "
                    "import them in delta mode.",
                    row=number,
                )
            )
            return ParsedFile([], [], {"department": [], "employee": []}, [], errors, fmt)
        raw_kind = cells[kind_index] if kind_index < len(cells) else ""
        kind = raw_kind.strip().lower()
        if kind not in KINDS:
            message = (
                "every row needs a kind: 'department' or 'employee'"
                if not raw_kind
                else f"unknown kind '{raw_kind}'; use 'department' or 'employee'"
            )
            if kind_index not in problems:
                errors.append(
                    RowError(row=number, column=KIND_COLUMN, value=raw_kind, message=message)
                )
        own = DEPARTMENT_COLUMNS if kind == "department" else EMPLOYEE_COLUMNS
        row: dict[str, str] = {}
        for index in range(max(len(cells), len(names))):
            # A row shorter than the header has empty cells at its end.
            value = cells[index] if index < len(cells) else ""
            if index in problems:
                errors.append(
                    RowError(
                        row=number,
                        column=columns.get(index, names[index] if index < len(names) else ""),
                        value=value,
                        message=problems[index],
                        kind=kind if kind in KINDS else "",
                    )
                )
            name = columns.get(index)
            if index == kind_index or (name is None and index < len(names) and names[index]):
                continue  # the kind itself, or a column already reported as unknown
            if name is None:
                if value:
                    errors.append(
                        RowError(
                            row=number,
                            column="",
                            value=value,
                            message=f"a value in column {index + 1}, which has no name in row "
                            "1; name the column or remove the value",
                            kind=kind if kind in KINDS else "",
                        )
                    )
                continue
            # Columns of the other kind are passed on only when filled, to be refused there.
            if value or name in own or (kind == "employee" and name not in DEPARTMENT_COLUMNS):
                row[name] = value
        if kind in KINDS:
            getattr(parsed, f"{kind}s").append(row)
            parsed.source_rows[kind].append(number)
    return parsed


# --- 2. planning --------------------------------------------------------------------------


class _Errors:
    """Collects row errors, one per cell, and remembers which rows had any."""

    def __init__(self, initial: Iterable[RowError]) -> None:
        self.items = list(initial)
        self.cells = {(e.kind, e.row, e.column) for e in self.items}
        self.bad_rows = {(e.kind, e.row) for e in self.items if e.row and e.kind}

    def add(self, kind: str, row: int, column: str, value: str, message: str) -> None:
        self.bad_rows.add((kind, row))
        if (kind, row, column) in self.cells:
            return
        self.cells.add((kind, row, column))
        self.items.append(RowError(row=row, column=column, value=value, message=message, kind=kind))

    def row_is_bad(self, kind: str, row: int) -> bool:
        return (kind, row) in self.bad_rows


def _text(value: Any) -> str | None:
    """A cell's value as stripped text, or None when it is not a plain value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, str):
        return value.strip()
    return None


def _normalise_rows(
    rows: Sequence[Any], numbers: list[int], kind: str, errors: _Errors
) -> list[dict[str, str]]:
    """Rows as dicts of text: the form a plan keeps and checks, whatever came in (file rows,
    JSON with booleans, numbers and nested `attributes`)."""
    result = []
    for raw, number in zip(rows, numbers, strict=True):
        row: dict[str, str] = {}
        if not isinstance(raw, dict):
            errors.add(kind, number, "", "", "expected an object of column names and values")
            result.append(row)
            continue
        items = list(raw.items())
        nested = raw.get("attributes") if kind == "employee" else None
        if isinstance(nested, dict):
            items = [item for item in items if item[0] != "attributes"] + list(nested.items())
        for key, value in items:
            key = str(key)
            text = _text(value)
            if text is None:
                errors.add(kind, number, key, str(value), "expected text, a number or a boolean")
                text = str(value)
            row[key] = text
        result.append(row)
    return result


def _line_problem(value: str, max_length: int) -> str:
    if len(value) > max_length:
        return f"'{value[:40]}…' is {len(value)} characters long; at most {max_length} are allowed"
    if _CONTROL.search(value):
        return f"'{value}' contains a line break or control character; keep it on one line"
    return ""


def _check_columns(
    row: dict[str, str],
    *,
    kind: str,
    number: int,
    errors: _Errors,
    accepted: list[str],
    attributes: list[str],
) -> None:
    own = set(DEPARTMENT_COLUMNS) if kind == "department" else {*EMPLOYEE_COLUMNS, *attributes}
    for key, value in row.items():
        if key in own or key == KIND_COLUMN:
            continue
        if key in accepted:
            if value:
                other = "employee" if kind == "department" else "department"
                errors.add(
                    kind,
                    number,
                    key,
                    value,
                    f"the column {key} is for {other} rows; leave it empty on a {kind} row",
                )
            continue
        errors.add(
            kind,
            number,
            key,
            value,
            f"unknown column '{key}'; accepted columns are " + ", ".join(accepted),
        )


def directory_import_plan(
    *,
    organization: Organization,
    departments: Sequence[dict[str, Any]],
    employees: Sequence[dict[str, Any]],
    mode: Mode,
    source_rows: dict[str, list[int]] | None = None,
    file_errors: Sequence[RowError] = (),
) -> ImportPlan:
    """Check department and employee rows against `organization`'s directory and say what
    importing them would change. Reads the directory in two queries whatever the row count.

    `source_rows` gives each row's number in its file ({"department": [...], "employee":
    [...]}); without it rows are numbered 1, 2, … within their list. `file_errors` (from
    `directory_rows_from_file`) are kept in the plan, so it cannot be applied."""
    if mode not in MODES:
        raise ValidationError(f"Unknown import mode '{mode}'; use 'full' or 'delta'.")
    source_rows = source_rows or {}
    numbers = {
        "department": list(source_rows.get("department") or range(1, len(departments) + 1)),
        "employee": list(source_rows.get("employee") or range(1, len(employees) + 1)),
    }
    for kind, rows in (("department", departments), ("employee", employees)):
        if len(numbers[kind]) != len(rows):
            raise ValueError(f"source_rows['{kind}'] must give one row number per {kind} row")
    attributes = list(settings.EMPLOYEE_ATTRIBUTES)
    accepted = directory_columns()
    errors = _Errors(file_errors)
    department_rows = _normalise_rows(departments, numbers["department"], "department", errors)
    employee_rows = _normalise_rows(employees, numbers["employee"], "employee", errors)

    db_departments = {
        pk: (external_id, name, parent_id, path, depth, is_active)
        for pk, external_id, name, parent_id, path, depth, is_active in (
            Department.objects.for_organization(organization)
            .order_by()
            .values_list("pk", "external_id", "name", "parent_id", "path", "depth", "is_active")
        )
    }
    employees_read = Employee.objects.for_organization(organization).order_by()
    narrow = mode == "delta" and len(employee_rows) <= NARROW_ROWS
    if narrow:
        # A few rows (an API upsert): read only the employees they name and the active ones
        # whose address they use, and count the rest for the brake.
        ids = [row.get("external_id", "") for row in employee_rows]
        emails = [row.get("email", "").lower() for row in employee_rows if row.get("email")]
        employees_read = employees_read.annotate(email_lower=Lower("email")).filter(
            Q(external_id__in=ids) | Q(is_active=True, email_lower__in=emails)
        )
    db_employees = {
        row[1]: row
        for row in employees_read.values_list(
            "pk", "external_id", "email", "department_id", "is_active", "language", "attributes"
        )
    }

    tree = _DepartmentPlanner(db_departments, errors)
    for row, number in zip(department_rows, numbers["department"], strict=True):
        if not row and errors.row_is_bad("department", number):
            continue  # not an object: said once, nothing more to check
        _check_columns(
            row,
            kind="department",
            number=number,
            errors=errors,
            accepted=accepted,
            attributes=attributes,
        )
        tree.read(row, number)
    tree.resolve_parents()
    tree.check_cycles_and_depth()
    department_changes = tree.changes()

    people = _EmployeePlanner(
        db_employees=db_employees,
        tree=tree,
        errors=errors,
        mode=mode,
        attributes=attributes,
        languages=[code for code, _ in settings.LANGUAGES],
    )
    for row, number in zip(employee_rows, numbers["employee"], strict=True):
        if not row and errors.row_is_bad("employee", number):
            continue  # not an object: said once, nothing more to check
        _check_columns(
            row,
            kind="employee",
            number=number,
            errors=errors,
            accepted=accepted,
            attributes=attributes,
        )
        people.read(row, number)
    people.check_emails()
    employee_changes, employee_writes, deactivate = people.changes()

    changes = {**department_changes, **employee_changes}
    if narrow:
        counts = Employee.objects.for_organization(organization).aggregate(
            existing=Count("pk"), active=Count("pk", filter=Q(is_active=True))
        )
        active, existing = counts["active"], counts["existing"]
    else:
        active = sum(1 for row in db_employees.values() if row[4])
        existing = len(db_employees)
    reasons = _brake_reasons(
        deactivated=len(changes["employees_deactivated"]),
        active=active,
        email_changes=len(changes["email_changes"]),
        existing=existing,
    )
    return ImportPlan(
        organization_id=organization.pk,
        mode=mode,
        departments=department_rows,
        employees=employee_rows,
        source_rows=numbers,
        errors=sorted(errors.items, key=lambda e: (e.row, e.kind)),
        changes=changes,
        needs_confirmation=bool(reasons),
        reasons=reasons,
        active_employees=active,
        existing_employees=existing,
        _writes=_Writes(
            db_departments=db_departments,
            file_departments=tree.final,
            new_departments=tree.new,
            employees=employee_writes,
            deactivate=deactivate,
        ),
    )


def _brake_reasons(
    *, deactivated: int, active: int, email_changes: int, existing: int
) -> list[str]:
    deactivation_limit = getattr(
        settings, "DIRECTORY_DEACTIVATION_LIMIT", IMPORT_DEACTIVATION_LIMIT
    )
    email_limit = getattr(settings, "DIRECTORY_EMAIL_CHANGE_LIMIT", IMPORT_EMAIL_CHANGE_LIMIT)
    reasons = []
    if active and deactivated / active > deactivation_limit:
        reasons.append(
            f"This would deactivate {deactivated:,} of {active:,} active employees "
            f"({deactivated / active:.0%}), more than the {deactivation_limit:.0%} allowed "
            "without confirmation. Check that the rows list all staff before you confirm."
        )
    if existing and email_changes / existing > email_limit:
        reasons.append(
            f"This would change the email address of {email_changes:,} of {existing:,} "
            f"employees ({email_changes / existing:.0%}), more than the {email_limit:.0%} allowed "
            "without confirmation. Check that the external ids match the right people before "
            "you confirm."
        )
    return reasons


class _DepartmentPlanner:
    """Checks department rows and works out the final tree.

    Nodes are keyed by HRIS id (str) or, for departments without one, by primary key (int)."""

    def __init__(self, db_departments: dict[int, tuple], errors: _Errors) -> None:
        self.db = db_departments
        self.errors = errors
        self.by_external_id = {row[0]: pk for pk, row in db_departments.items() if row[0]}
        self.rows: dict[str, tuple[int, dict[str, str]]] = {}  # external id -> (row, cells)
        self.final: dict[str, _FileDepartment] = {}
        self.new: list[str] = []
        self.in_cycle: set[str | int] = set()

    def key_of(self, pk: int | None) -> str | int | None:
        if pk is None:
            return None
        return self.db[pk][0] or pk

    def known(self, external_id: str) -> bool:
        return external_id in self.rows or external_id in self.by_external_id

    def deactivated(self, reference: str | int | None) -> str:
        """The name of the department `reference` names when it is deactivated, else ""."""
        pk = self.by_external_id.get(reference) if isinstance(reference, str) else reference
        if pk is None or self.db[pk][5]:
            return ""
        return self.db[pk][1]

    def read(self, row: dict[str, str], number: int) -> None:
        kind = "department"
        external_id = row.get("external_id", "")
        if not external_id:
            self.errors.add(kind, number, "external_id", "", "a department needs an external_id")
        elif problem := _line_problem(external_id, EXTERNAL_ID_MAX_LENGTH):
            self.errors.add(kind, number, "external_id", external_id, problem)
        elif external_id in self.rows:
            first = self.rows[external_id][0]
            self.errors.add(
                kind,
                number,
                "external_id",
                external_id,
                f"the department '{external_id}' is listed twice (rows {first} and {number}); "
                "list each department once",
            )
        else:
            self.rows[external_id] = (number, row)
            if name := self.deactivated(external_id):
                # Kept for past campaigns, never offered to imports (see Department.is_active).
                self.errors.add(
                    kind,
                    number,
                    "external_id",
                    external_id,
                    f"the department '{external_id}' ({name}) is deactivated; reactivate it in "
                    "the HR app first, or leave it out of the file",
                )
        name = row.get("name", "")
        if not name:
            self.errors.add(kind, number, "name", "", "a department needs a name")
        elif problem := _line_problem(name, NAME_MAX_LENGTH):
            self.errors.add(kind, number, "name", name, problem)

    def resolve_parents(self) -> None:
        for external_id, (number, row) in self.rows.items():
            pk = self.by_external_id.get(external_id)
            current = self.key_of(self.db[pk][2]) if pk is not None else None
            parent: str | int | None = current
            if "parent_external_id" in row:
                wanted = row["parent_external_id"]
                if not wanted:
                    # A parent without an HRIS id cannot be named in a file: it stays.
                    parent = current if isinstance(current, int) else None
                elif wanted == external_id:
                    self.errors.add(
                        "department",
                        number,
                        "parent_external_id",
                        wanted,
                        f"the department '{external_id}' cannot be its own parent",
                    )
                elif not self.known(wanted):
                    self.errors.add(
                        "department",
                        number,
                        "parent_external_id",
                        wanted,
                        f"unknown parent '{wanted}': no department has this external_id in the "
                        "file or in the directory",
                    )
                elif name := self.deactivated(wanted):
                    self.errors.add(
                        "department",
                        number,
                        "parent_external_id",
                        wanted,
                        f"the department '{wanted}' ({name}) is deactivated; nothing can be "
                        "placed under it",
                    )
                else:
                    parent = wanted
            self.final[external_id] = _FileDepartment(
                row=number, name=row.get("name", ""), parent=parent
            )
            if pk is None:
                self.new.append(external_id)

    def parent_of(self, key: str | int) -> str | int | None:
        if isinstance(key, str) and key in self.final:
            return self.final[key].parent
        pk = self.by_external_id.get(key) if isinstance(key, str) else key
        return None if pk is None else self.key_of(self.db[pk][2])

    def label(self, key: str | int) -> str:
        if isinstance(key, str) and key in self.final:
            return f"'{key}' (row {self.final[key].row})"
        pk = self.by_external_id.get(key) if isinstance(key, str) else key
        return f"'{self.db[pk][1]}' (in the directory)"

    def check_cycles_and_depth(self) -> None:
        done: set[str | int] = set()
        for start in self.final:
            chain: list[str | int] = []
            position: dict[str | int, int] = {}
            node: str | int | None = start
            while node is not None and node not in done and node not in position:
                position[node] = len(chain)
                chain.append(node)
                node = self.parent_of(node)
            if node is not None and node in position:
                cycle = chain[position[node] :]
                described = " → ".join(self.label(k) for k in [*cycle, cycle[0]])
                self.in_cycle.update(cycle)
                for key in cycle:
                    if isinstance(key, str) and key in self.final:
                        self.errors.add(
                            "department",
                            self.final[key].row,
                            "parent_external_id",
                            self.rows[key][1].get("parent_external_id", ""),
                            f"the parents form a cycle: {described}; a department cannot sit "
                            "inside its own subtree",
                        )
            done.update(chain)
        self._check_depth()

    def _check_depth(self) -> None:
        # A new department's primary key is not known yet: estimate it from the largest seen
        # here, with room to spare. Applying checks the real paths.
        pks = list(self.db)
        new_digits = len(str((max(pks) if pks else 0) + len(self.new) + 1000))
        lengths: dict[str | int, int] = {}

        def path_length(start: str | int) -> int:
            chain = []
            node: str | int | None = start
            while node is not None and node not in lengths:
                if node in self.in_cycle:
                    return 0  # below a cycle: reported already, no depth to speak of
                chain.append(node)
                node = self.parent_of(node)
            length = 1 if node is None else lengths[node]
            for key in reversed(chain):
                pk = self.by_external_id.get(key) if isinstance(key, str) else key
                length += (len(str(pk)) if pk is not None else new_digits) + 1
                lengths[key] = length
            return lengths[start]

        for external_id, department in self.final.items():
            if external_id in self.in_cycle:
                continue
            if path_length(external_id) > PATH_MAX_LENGTH:
                self.errors.add(
                    "department",
                    department.row,
                    "parent_external_id",
                    self.rows[external_id][1].get("parent_external_id", ""),
                    "this department would sit too deep in the tree (its path would pass "
                    f"{PATH_MAX_LENGTH} characters); attach it higher up",
                )

    def changes(self) -> dict[str, list[dict[str, Any]]]:
        created, renamed, moved = [], [], []
        for external_id, department in self.final.items():
            if self.errors.row_is_bad("department", department.row):
                continue
            parent = department.parent
            parent_id = parent if isinstance(parent, str) else None
            pk = self.by_external_id.get(external_id)
            if pk is None:
                created.append(
                    {
                        "row": department.row,
                        "external_id": external_id,
                        "name": department.name,
                        "parent_external_id": parent_id,
                    }
                )
                continue
            old_name, old_parent_pk = self.db[pk][1:3]
            if department.name != old_name:
                renamed.append(
                    {
                        "row": department.row,
                        "external_id": external_id,
                        "old_name": old_name,
                        "new_name": department.name,
                    }
                )
            if parent != self.key_of(old_parent_pk):
                old = self.db[old_parent_pk] if old_parent_pk is not None else None
                moved.append(
                    {
                        "row": department.row,
                        "external_id": external_id,
                        "name": department.name,
                        "old_parent_external_id": old[0] if old else None,
                        "old_parent_name": old[1] if old else None,
                        "new_parent_external_id": parent_id,
                        "new_parent_name": self.name_of(parent_id) if parent_id else None,
                    }
                )
        return {
            "departments_created": created,
            "departments_renamed": renamed,
            "departments_moved": moved,
        }

    def name_of(self, external_id: str) -> str:
        if external_id in self.final:
            return self.final[external_id].name
        return self.db[self.by_external_id[external_id]][1]


class _EmployeePlanner:
    """Checks employee rows and works out what changes for whom."""

    def __init__(
        self,
        *,
        db_employees: dict[str, tuple],
        tree: _DepartmentPlanner,
        errors: _Errors,
        mode: str,
        attributes: list[str],
        languages: list[str],
    ) -> None:
        self.db = db_employees
        self.tree = tree
        self.errors = errors
        self.mode = mode
        self.attributes = attributes
        self.languages = languages
        self.listed: dict[str, int] = {}  # external id -> row, every row that names one
        # (row, external_id, email, department reference, is_active, language, attributes)
        self.final: list[tuple] = []

    def read(self, row: dict[str, str], number: int) -> None:
        kind, add = "employee", self.errors.add
        external_id = row.get("external_id", "")
        existing = None
        if not external_id:
            add(kind, number, "external_id", "", "an employee needs an external_id")
        elif problem := _line_problem(external_id, EXTERNAL_ID_MAX_LENGTH):
            add(kind, number, "external_id", external_id, problem)
        elif external_id in self.listed:
            first = self.listed[external_id]
            add(
                kind,
                number,
                "external_id",
                external_id,
                f"the employee '{external_id}' is listed twice (rows {first} and {number}); "
                "list each employee once",
            )
            return
        else:
            self.listed[external_id] = number
            existing = self.db.get(external_id)

        email = row.get("email", "")
        if not email:
            add(kind, number, "email", "", "an employee needs an email address")
        elif problem := _line_problem(email, EMAIL_MAX_LENGTH):
            add(kind, number, "email", email, problem)
        else:
            try:
                validate_email(email)
            except ValidationError:
                add(kind, number, "email", email, f"'{email}' is not a valid email address")

        department: str | int | None = None
        wanted = row.get("department_external_id", "")
        if wanted:
            if self.tree.known(wanted):
                department = wanted
            else:
                add(
                    kind,
                    number,
                    "department_external_id",
                    wanted,
                    f"unknown department '{wanted}': no department has this external_id in the "
                    "file or in the directory",
                )
        elif existing is not None:
            department = self.tree.key_of(existing[3])
        else:
            add(
                kind,
                number,
                "department_external_id",
                "",
                "a new employee needs a department_external_id",
            )

        language = row.get("language", "").lower()
        if not language:
            language = existing[5] if existing is not None else DEFAULT_LANGUAGE
        elif language not in self.languages:
            add(
                kind,
                number,
                "language",
                row["language"],
                f"unknown language '{row['language']}'; use one of " + ", ".join(self.languages),
            )

        raw_active = row.get("active", "")
        is_active = ACTIVE_VALUES.get(raw_active.lower())
        if is_active is None:
            add(
                kind,
                number,
                "active",
                raw_active,
                f"'{raw_active}' is not a yes or no; use true, false, yes, no, 1 or 0 (empty "
                "means true)",
            )

        if is_active and (closed := self.tree.deactivated(department)):
            add(
                kind,
                number,
                "department_external_id",
                wanted,
                f"the department '{closed}' is deactivated; an active employee cannot be in it. "
                "Give another department, or reactivate it in the HR app first",
            )

        attributes = dict(existing[6] or {}) if existing is not None else {}
        for name in self.attributes:
            if name not in row:
                continue
            value = row[name]
            if not value:
                attributes.pop(name, None)
            elif problem := _line_problem(value, ATTRIBUTE_MAX_LENGTH):
                add(kind, number, name, value, f"{problem} (attributes are coarse bands)")
            elif _text(attributes.get(name)) != value:
                attributes[name] = value

        if external_id and not self.errors.row_is_bad(kind, number):
            self.final.append(
                (number, external_id, email, department, is_active, language, attributes)
            )

    def check_emails(self) -> None:
        """No two employees active after the import may share an address."""
        taken: dict[str, str] = {}
        if self.mode == "delta":
            for external_id, row in self.db.items():
                if row[4] and external_id not in self.listed:
                    taken[row[2].lower()] = f"active employee '{external_id}' in the directory"
        kept = []
        for entry in self.final:
            number, external_id, email, _, is_active, _, _ = entry
            owner = taken.get(email.lower()) if is_active else None
            if owner is not None:
                self.errors.add(
                    "employee",
                    number,
                    "email",
                    email,
                    f"'{email}' is already the address of {owner}; two active employees "
                    "cannot share one",
                )
                continue
            if is_active:
                taken[email.lower()] = f"active employee '{external_id}' (row {number})"
            kept.append(entry)
        self.final = kept

    def department_pk(self, reference: str | int) -> int | None:
        if isinstance(reference, int):
            return reference
        return self.tree.by_external_id.get(reference)

    def changes(self) -> tuple[dict[str, list[dict[str, Any]]], list[tuple], list[int]]:
        created, updated, moved = [], [], []
        deactivated, reactivated, emails = [], [], []
        writes = []
        for number, external_id, email, department, is_active, language, attributes in self.final:
            existing = self.db.get(external_id)
            if existing is None:
                created.append(
                    {
                        "row": number,
                        "external_id": external_id,
                        "email": email,
                        "department_external_id": department,
                        "is_active": is_active,
                    }
                )
                writes.append((external_id, email, department, is_active, language, attributes))
                continue
            _, _, old_email, old_department, old_active, old_language, old_attributes = existing
            fields = []
            if email.lower() != old_email.lower():
                fields.append("email")
                emails.append(
                    {
                        "row": number,
                        "external_id": external_id,
                        "old_email": old_email,
                        "new_email": email,
                    }
                )
            else:
                email = old_email  # the same address; keep how it was written
            if self.department_pk(department) != old_department:
                fields.append("department")
                moved.append(
                    {
                        "row": number,
                        "external_id": external_id,
                        "old_department_external_id": self.tree.db[old_department][0],
                        "old_department_name": self.tree.db[old_department][1],
                        "new_department_external_id": department,
                        "new_department_name": self.tree.name_of(department),
                    }
                )
            if is_active != old_active:
                fields.append("is_active")
                entry = {"row": number, "external_id": external_id}
                if is_active:
                    reactivated.append(entry)
                else:
                    deactivated.append({**entry, "reason": "inactive in the file"})
            if language != old_language:
                fields.append("language")
            old_attributes = old_attributes or {}
            fields += [
                f"attributes.{name}"
                for name in self.attributes
                if _text(attributes.get(name)) != _text(old_attributes.get(name))
            ]
            if fields:
                updated.append({"row": number, "external_id": external_id, "fields": fields})
                writes.append((external_id, email, department, is_active, language, attributes))
        deactivate = []
        if self.mode == "full":
            for external_id in sorted(self.db):
                row = self.db[external_id]
                if row[4] and external_id not in self.listed:
                    deactivated.append(
                        {"row": None, "external_id": external_id, "reason": "not in the file"}
                    )
                    deactivate.append(row[0])
        changes = {
            "employees_created": created,
            "employees_updated": updated,
            "employees_moved": moved,
            "employees_deactivated": deactivated,
            "employees_reactivated": reactivated,
            "email_changes": emails,
        }
        return changes, writes, deactivate


# --- 3. applying --------------------------------------------------------------------------


@transaction.atomic
def directory_import_apply(
    *, organization: Organization, plan: ImportPlan, confirmed: bool = False
) -> ImportResult:
    """Write a previewed plan in one transaction, with the tree locked, after planning its
    rows again against the directory as it is now: refused when the file has errors, when the
    brake asks for confirmation and none was given, or when the directory changed since the
    preview so that the import would now do something else."""
    if plan.organization_id != organization.pk:
        raise ValidationError("This import was prepared for another organisation.")
    if plan.errors:
        raise ValidationError(
            f"The import has {len(plan.errors):,} error(s), for example “{plan.errors[0]}”. "
            "Correct the file and upload it again; nothing was imported."
        )
    if plan.needs_confirmation and not confirmed:
        raise ValidationError(" ".join(plan.reasons) + " Nothing was imported.")
    _lock_tree(organization.pk)
    current = directory_import_plan(
        organization=organization,
        departments=plan.departments,
        employees=plan.employees,
        mode=plan.mode,
        source_rows=plan.source_rows,
    )
    if current.errors:
        raise ValidationError(
            "The directory has changed since the preview, and the file no longer fits it: "
            + "; ".join(current.error_messages()[:5])
            + ". Nothing was imported; upload the file again."
        )
    if differences := _differences(plan.changes, current.changes):
        raise ValidationError(
            "The directory has changed since the preview, so this import would now make other "
            "changes than the ones shown ("
            + "; ".join(differences)
            + "). Nothing was imported; upload the file again to see a new preview."
        )
    if current.needs_confirmation and not confirmed:
        raise ValidationError(" ".join(current.reasons) + " Nothing was imported.")
    return directory_plan_write(organization=organization, plan=current)


def directory_plan_write(*, organization: Organization, plan: ImportPlan) -> ImportResult:
    """Write a plan just made by `directory_import_plan`, in the caller's transaction and
    under the tree lock the caller took before planning (so nothing changed in between). The
    checks (errors, brake) are the caller's: `directory_import_apply` or a sync run."""
    writes = plan._writes
    if writes is None or plan.errors:
        raise ValueError("only a valid plan made in this process can be written")
    now = timezone.now()
    pk_of = _departments_write(organization=organization, writes=writes, now=now)
    new_ids = {entry["external_id"] for entry in plan.changes["employees_created"]}
    rows = [
        (
            external_id,
            email,
            department if isinstance(department, int) else pk_of[department],
            is_active,
            language,
            attributes,
        )
        for external_id, email, department, is_active, language, attributes in writes.employees
    ]
    created = [row for row in rows if row[0] in new_ids]
    changed = [row for row in rows if row[0] not in new_ids]
    if created and connection.vendor == "postgresql":
        _employees_copy(organization=organization, rows=created, now=now)
        created = []
    employees = [
        Employee(
            organization=organization,
            external_id=external_id,
            email=email,
            department_id=department_id,
            is_active=is_active,
            language=language,
            attributes=attributes,
            updated_at=now,
        )
        for external_id, email, department_id, is_active, language, attributes in [
            *created,
            *changed,
        ]
    ]
    if employees:
        Employee.objects.bulk_create(
            employees,
            batch_size=BATCH_SIZE,
            update_conflicts=True,
            unique_fields=["organization", "external_id"],
            update_fields=[
                "email", "department", "is_active", "language", "attributes", "updated_at"
            ],
        )  # fmt: skip
    for start in range(0, len(writes.deactivate), DEACTIVATE_CHUNK):
        Employee.objects.for_organization(organization).filter(
            pk__in=writes.deactivate[start : start + DEACTIVATE_CHUNK]
        ).update(is_active=False, updated_at=now)
    counts = {key: len(plan.changes[key]) for key in CHANGE_KEYS}
    return ImportResult(mode=plan.mode, **counts)


def _employees_copy(*, organization: Organization, rows: list[tuple], now: dt.datetime) -> None:
    """Insert new employees with PostgreSQL's COPY: a first load of 100,000 people in well
    under a second, where INSERT statements take many. The caller holds the tree lock and has
    checked that none of these HRIS ids exists."""
    table = Employee._meta.db_table
    columns = (
        "organization_id, external_id, email, department_id, is_active, language, attributes, "
        "created_at, updated_at"
    )
    connection.ensure_connection()
    raw = connection.connection  # psycopg's own connection: Django has no COPY API
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for external_id, email, department_id, is_active, language, attributes in rows:
            copy.write_row(
                (
                    organization.pk, external_id, email, department_id, is_active, language,
                    json.dumps(attributes), now, now,
                )
            )  # fmt: skip


def _differences(planned: dict[str, list], current: dict[str, list]) -> list[str]:
    """What the import would now do differently from the preview, briefly."""
    planned = json.loads(json.dumps(planned))
    current = json.loads(json.dumps(current))
    found = []
    for key in CHANGE_KEYS:
        before, now = planned.get(key, []), current[key]
        if before == now:
            continue
        label = key.replace("_", " ")
        before_ids = {json.dumps(entry, sort_keys=True) for entry in before}
        added = [entry for entry in now if json.dumps(entry, sort_keys=True) not in before_ids]
        example = f", for example '{added[0]['external_id']}'" if added else ""
        found.append(f"{label}: {len(before):,} in the preview, {len(now):,} now{example}")
    return found


def _departments_write(
    *, organization: Organization, writes: _Writes, now: dt.datetime
) -> dict[str, int]:
    """Create new departments and give every department its final parent, name, path and
    depth, by the tree's rules (path = parent's path + own pk + "/"), in bulk. Returns the pk
    of every department with an HRIS id."""
    pk_of = {row[0]: pk for pk, row in writes.db_departments.items() if row[0]}
    if writes.new_departments:
        created = Department.objects.bulk_create(
            [
                Department(
                    organization=organization,
                    name=writes.file_departments[external_id].name,
                    external_id=external_id,
                    path="",
                    depth=0,
                    updated_at=now,
                )
                for external_id in writes.new_departments
            ],
            batch_size=BATCH_SIZE,
        )
        if all(department.pk for department in created):
            pk_of.update({department.external_id: department.pk for department in created})
        else:  # a database that does not return primary keys from a bulk insert
            pk_of.update(
                Department.objects.for_organization(organization)
                .filter(external_id__isnull=False)
                .values_list("external_id", "pk")
            )

    parent_of = {pk: row[2] for pk, row in writes.db_departments.items()}
    names = {pk: row[1] for pk, row in writes.db_departments.items()}
    for external_id, department in writes.file_departments.items():
        parent = department.parent
        pk = pk_of[external_id]
        parent_of[pk] = pk_of[parent] if isinstance(parent, str) else parent
        names[pk] = department.name

    paths: dict[int, tuple[str, int]] = {}
    for start in parent_of:
        chain = []
        node = start
        while node is not None and node not in paths:
            chain.append(node)
            node = parent_of[node]
        path, depth = ("/", -1) if node is None else paths[node]
        for pk in reversed(chain):
            path, depth = f"{path}{pk}/", depth + 1
            if len(path) > PATH_MAX_LENGTH:
                raise ValidationError(
                    f"Department '{names[pk]}' would sit too deep in the tree (path over "
                    f"{PATH_MAX_LENGTH} characters); attach it higher up. Nothing was imported."
                )
            paths[pk] = (path, depth)

    changed = []
    for pk, (path, depth) in paths.items():
        old = writes.db_departments.get(pk)  # (external_id, name, parent_id, path, depth, …)
        if old is None or old[1:5] != (names[pk], parent_of[pk], path, depth):
            changed.append(
                Department(
                    pk=pk,
                    name=names[pk],
                    parent_id=parent_of[pk],
                    path=path,
                    depth=depth,
                    updated_at=now,
                )
            )
    if changed:
        Department.objects.bulk_update(
            changed, ["name", "parent", "path", "depth", "updated_at"], batch_size=BATCH_SIZE
        )
    return pk_of


def directory_import_file(
    *,
    organization: Organization,
    data: bytes,
    filename: str,
    mode: Mode,
    dry_run: bool = True,
    confirmed: bool = False,
) -> ImportPlan | ImportResult:
    """Read, plan and (unless `dry_run`) apply a file in one call: the plan for a dry run,
    what was written otherwise."""
    parsed = directory_rows_from_file(data=data, filename=filename)
    plan = directory_import_plan(
        organization=organization,
        departments=parsed.departments,
        employees=parsed.employees,
        mode=mode,
        source_rows=parsed.source_rows,
        file_errors=parsed.errors,
    )
    if dry_run:
        return plan
    return directory_import_apply(organization=organization, plan=plan, confirmed=confirmed)


# --- export -------------------------------------------------------------------------------

_TEMPLATE_ATTRIBUTES = {
    "tenure_band": "2-5y",
    "role_type": "individual contributor",
    "site": "north",
    "age_band": "30-39",
    "contract_type": "permanent",
    "work_pattern": "day",
}


def _escape(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def _csv_text(rows: Iterable[dict[str, str]]) -> str:
    columns = directory_columns()
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_escape(row.get(column, "")) for column in columns])
    return out.getvalue()


def directory_csv(*, organization: Organization) -> str:
    """The organisation's directory in the import's own columns, so that importing it back
    changes nothing. Departments without an HRIS id cannot be named in a file and are left
    out; their employees have an empty department_external_id, which keeps them where they
    are. Values that a spreadsheet would run as formulas are prefixed with an apostrophe,
    which the import removes. Deactivated departments are not offered to imports and are left
    out too (their employees, inactive, keep their department the same way). Serve it encoded
    as UTF-8 with a BOM so Excel reads umlauts."""
    departments = list(
        Department.objects.for_organization(organization)
        .filter(is_active=True)
        .order_by("path")
        .values_list("pk", "external_id", "name", "parent_id")
    )
    external_id_of = {pk: external_id for pk, external_id, _, _ in departments}
    attributes = list(settings.EMPLOYEE_ATTRIBUTES)

    def rows() -> Iterator[dict[str, str]]:
        for _, external_id, name, parent_id in departments:
            if external_id:
                yield {
                    KIND_COLUMN: "department",
                    "external_id": external_id,
                    "name": name,
                    "parent_external_id": external_id_of.get(parent_id) or "",
                }
        for external_id, email, department_id, is_active, language, values in (
            Employee.objects.for_organization(organization)
            .order_by("external_id")
            .values_list(
                "external_id", "email", "department_id", "is_active", "language", "attributes"
            )
            .iterator(chunk_size=5_000)
        ):
            values = values or {}
            yield {
                KIND_COLUMN: "employee",
                "external_id": external_id,
                "email": email,
                "department_external_id": external_id_of.get(department_id) or "",
                "language": language,
                "active": "true" if is_active else "false",
                **{name: _text(values.get(name)) or "" for name in attributes},
            }

    return _csv_text(rows())


def directory_template_csv() -> str:
    """The import's header with one example department and one example employee."""
    return _csv_text(
        [
            {
                KIND_COLUMN: "department",
                "external_id": "D-100",
                "name": "Operations",
                "parent_external_id": "",
            },
            {
                KIND_COLUMN: "employee",
                "external_id": "E-1001",
                "email": "alex.example@example.com",
                "department_external_id": "D-100",
                "language": DEFAULT_LANGUAGE,
                "active": "true",
                **{
                    name: _TEMPLATE_ATTRIBUTES.get(name, "")
                    for name in settings.EMPLOYEE_ATTRIBUTES
                },
            },
        ]
    )


# --- previews kept between upload and apply ------------------------------------------------


def directory_import_preview(
    *, organization: Organization, data: bytes, filename: str, mode: Mode, user=None
) -> DirectoryImport:
    """Read and plan an uploaded file and keep the plan for the preview page; nothing in the
    directory changes."""
    plan = directory_import_file(
        organization=organization, data=data, filename=filename, mode=mode, dry_run=True
    )
    return DirectoryImport.objects.create(
        organization=organization,
        filename=filename[:255],
        mode=mode,
        plan=plan.as_dict(),
        summary=plan.summary()
        | {"needs_confirmation": plan.needs_confirmation, "reasons": plan.reasons},
        created_by=user,
    )


@transaction.atomic
def directory_import_run(
    *, directory_import: DirectoryImport, confirmed: bool = False
) -> DirectoryImport:
    """Apply a previewed import, once: everything or nothing (see directory_import_apply)."""
    locked = DirectoryImport.objects.select_for_update().get(pk=directory_import.pk)
    if locked.status != DirectoryImportStatus.PREVIEWED:
        raise ValidationError(f"This import was already {locked.status}.")
    plan = ImportPlan.from_dict(locked.plan)
    result = directory_import_apply(
        organization=locked.organization, plan=plan, confirmed=confirmed
    )
    locked.status = DirectoryImportStatus.APPLIED
    locked.result = result.as_dict()
    locked.applied_at = dt.datetime.now(tz=dt.UTC)
    locked.plan = {}  # the rows are in the directory now; keep only the counts
    locked.save(update_fields=["status", "result", "applied_at", "plan"])
    return locked


@transaction.atomic
def directory_import_discard(*, directory_import: DirectoryImport) -> bool:
    """Drop a preview that will not be applied (its rows go with it); False if it was not a
    preview any more."""
    updated = DirectoryImport.objects.filter(
        pk=directory_import.pk, status=DirectoryImportStatus.PREVIEWED
    ).update(status=DirectoryImportStatus.DISCARDED, plan={})
    return bool(updated)
