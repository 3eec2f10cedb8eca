"""Spreadsheets of published result cells, for HR analysts who work on in Excel.

The cells come from `results.selectors.campaign_results` and nowhere else, so the export
reaches exactly what the pages reach: the role's scope (a manager's subtree, without the
organisation's own row) and suppressed cells as they are stored, without figures. A suppressed
cell is still listed, so nobody mistakes a hidden group for a missing one, but every figure
column of its row stays empty, n included.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import openpyxl
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet
from openpyxl.writer.excel import ExcelWriter

from accounts.models import Department
from accounts.permissions import Access, Permission
from assessments.models import Campaign
from assessments.selectors import instrument_spec
from results.models import Band, DomainResult
from results.scoring import OVERALL, RESPONDENTS
from results.selectors import campaign_results

# When a campaign has no close date (it always has one once closed): a fixed date, so the
# same cells still give the same bytes.
_FALLBACK_DATE = dt.datetime(2000, 1, 1)

# (key, width, number format) of every column after the labels; a suppressed row leaves all
# of these empty.
FIGURE_COLUMNS = (
    ("n", 8, "0"),
    ("mean", 9, "0.00"),
    ("sd", 9, "0.00"),
    ("risk_score", 11, "0"),
    ("band", 24, None),
    ("share_high_risk", 14, "0%"),
    ("trend_diff", 12, "+0.00;-0.00;0.00"),
    ("trend_ci_low", 12, "+0.00;-0.00;0.00"),
    ("trend_ci_high", 12, "+0.00;-0.00;0.00"),
    ("trend_significant", 13, None),
)


def _headers() -> list[tuple[str, int]]:
    """Column titles and widths, in the active language."""
    labels = [
        (_("Department path"), 48),
        (_("Department"), 28),
        (_("Domain code"), 16),
        (_("Domain"), 34),
        (_("Breakdown"), 14),
        (_("Breakdown value"), 18),
        (_("Suppressed"), 12),
    ]
    titles = {
        "n": _("n"),
        "mean": _("Mean"),
        "sd": _("SD"),
        "risk_score": _("Risk score"),
        "band": _("Band"),
        "share_high_risk": _("Share at high risk"),
        "trend_diff": _("Change"),
        "trend_ci_low": _("Change, 95% low"),
        "trend_ci_high": _("Change, 95% high"),
        "trend_significant": _("Significant change"),
    }
    return labels + [(titles[key], width) for key, width, _format in FIGURE_COLUMNS]


def _excel_time(value: dt.datetime | None) -> dt.datetime | None:
    """Excel has no time zones: local wall-clock time, naive."""
    if value is None:
        return None
    return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value


def _put(sheet: Worksheet, row: int, column: int, value, number_format: str | None = None):
    cell = sheet.cell(row=row, column=column, value=value)
    if isinstance(value, str):
        # Names come from the directory: a department called "=HYPERLINK(...)" stays text.
        cell.data_type = "s"
    if number_format and value is not None:
        cell.number_format = number_format
    return cell


def _department_paths(cells: list[DomainResult], organization_name: str) -> dict:
    """Department id → its name with those of its ancestors (" / "), from the departments the
    cells name: a manager's paths start at their subtree root, never above it."""
    names = {cell.department_id: cell.department.name for cell in cells if cell.department}
    paths: dict[int | None, str] = {None: organization_name}
    for cell in cells:
        department = cell.department
        if department is None or department.pk in paths:
            continue
        ids = [int(part) for part in department.path.strip("/").split("/") if part]
        paths[department.pk] = " / ".join(names[pk] for pk in ids if pk in names)
    return paths


def _results_sheet(sheet: Worksheet, *, cells, campaign: Campaign, language: str) -> None:
    spec = instrument_spec(campaign.instrument_id)
    titles = {
        domain.code: domain.title.get(language) or domain.title.get("en", domain.code)
        for domain in spec.domains
    }
    titles[OVERALL] = _("Overall (all domains)")
    titles[RESPONDENTS] = _("Respondents")
    position = {OVERALL: -2, RESPONDENTS: -1} | {
        domain.code: index for index, domain in enumerate(spec.domains)
    }
    bands = {
        Band.URGENT: _("Urgent action"),
        Band.IMPROVE: _("Improvement needed"),
        Band.GOOD: _("Good, room to improve"),
        Band.WELL: _("Doing well"),
    }
    yes, no = _("yes"), _("no")
    paths = _department_paths(cells, campaign.organization.name)
    cells = sorted(
        cells,
        key=lambda c: (
            c.department is not None,
            c.department.path if c.department else "",
            c.breakdown_attribute,
            c.breakdown_value,
            position.get(c.domain_code, len(position)),
            c.domain_code,
        ),
    )

    for column, (title, width) in enumerate(_headers(), start=1):
        _put(sheet, 1, column, title).font = Font(bold=True)
        sheet.column_dimensions[get_column_letter(column)].width = width
    sheet.freeze_panes = "A2"

    labels = 7
    for row, cell in enumerate(cells, start=2):
        department = cell.department
        _put(sheet, row, 1, paths[cell.department_id])
        _put(sheet, row, 2, department.name if department else campaign.organization.name)
        _put(sheet, row, 3, cell.domain_code)
        _put(sheet, row, 4, titles.get(cell.domain_code, cell.domain_code))
        _put(sheet, row, 5, cell.breakdown_attribute or None)
        _put(sheet, row, 6, cell.breakdown_value or None)
        _put(sheet, row, 7, yes if cell.suppressed else no)
        if cell.suppressed:
            continue  # every figure column stays empty: the row says only that it is hidden
        for offset, (key, _width, number_format) in enumerate(FIGURE_COLUMNS, start=1):
            value = getattr(cell, key)
            if key == "band" and value is not None:
                value = bands.get(value, value)
            elif key == "trend_significant" and value is not None:
                value = yes if value else no
            _put(sheet, row, labels + offset, value, number_format)
    if cells:
        sheet.auto_filter.ref = f"A1:{get_column_letter(sheet.max_column)}{len(cells) + 1}"


def _about_sheet(sheet: Worksheet, *, access: Access, campaign: Campaign) -> None:
    k = campaign.min_group_size
    if access.whole_organization:
        scope = _("The whole organisation (%(name)s).") % {"name": campaign.organization.name}
    else:
        root = Department.objects.visible_to(access).filter(path=access.subtree_path).first()
        scope = _("%(name)s and the departments below it.") % {"name": root.name if root else ""}
    rows = [
        (_("Campaign"), campaign.name),
        (_("Organisation"), campaign.organization.name),
        (_("Opened"), _excel_time(campaign.opens_at)),
        (_("Closed"), _excel_time(campaign.closed_at)),
        (_("Minimum group size (k)"), k),
        (_("Scope of this file"), scope),
        (
            _("Suppression"),
            _(
                "A group with fewer than %(k)s respondents is suppressed, and so is a group "
                "whose figures could be worked out by setting published groups against each "
                "other (a parent minus its children, or one breakdown minus another). A "
                "suppressed row is listed with suppressed = yes and every figure empty, "
                "including n."
            )
            % {"k": k},
        ),
        (
            _("Breakdowns"),
            _(
                "Rows with a breakdown show one group of respondents by an attribute such as "
                "site or tenure. Only the breakdown groups that may be published are listed."
            ),
        ),
        (
            _("Figures"),
            _(
                "n: respondents. Mean and SD: the domain's scale score. Risk score: 0 is best, "
                "100 worst. Share at high risk: respondents above the domain's individual "
                "high-risk cut-off. Change: the difference from the previous campaign, where "
                "there is one, with its interval at 95%."
            ),
        ),
    ]
    for row, (label, value) in enumerate(rows, start=1):
        _put(sheet, row, 1, label).font = Font(bold=True)
        date_format = "yyyy-mm-dd hh:mm" if isinstance(value, dt.datetime) else None
        cell = _put(sheet, row, 2, value, date_format)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.column_dimensions["A"].width = 26
    sheet.column_dimensions["B"].width = 90


def _fixed_zip(data: bytes, when: dt.datetime) -> bytes:
    """The same archive with every member dated `when`, so equal content gives equal bytes."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=stamp)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            target.writestr(fixed, source.read(info))
    return out.getvalue()


def campaign_cells_xlsx(*, access: Access, campaign: Campaign, language: str) -> bytes:
    """The published cells of a closed campaign's current run that `access` may see, as an
    Excel workbook: a "Results" sheet (one row per cell) and an "About" sheet. Raises
    NotVisible or PermissionDenied like the selectors."""
    access.require(Permission.EXPORT_RESULTS)
    cells = list(campaign_results(access=access, campaign=campaign))
    workbook = openpyxl.Workbook()
    with translation.override(language):
        results = workbook.active
        results.title = "Results"
        _results_sheet(results, cells=cells, campaign=campaign, language=language)
        _about_sheet(workbook.create_sheet("About"), access=access, campaign=campaign)
    closed = campaign.closed_at or campaign.closes_at
    when = (
        timezone.make_naive(closed, dt.UTC) if closed and timezone.is_aware(closed) else closed
    ) or _FALLBACK_DATE
    workbook.properties.creator = "Plimsoll"
    workbook.properties.title = campaign.name
    workbook.properties.created = when
    workbook.properties.modified = when
    buffer = io.BytesIO()
    # ExcelWriter directly: openpyxl's save() would stamp the modified date with now.
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(workbook, archive).save()
    return _fixed_zip(buffer.getvalue(), when)
