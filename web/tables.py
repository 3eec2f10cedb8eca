"""Rows of the HR app's long tables, written in one pass.

A department tree has up to a few thousand rows; through the template engine each row costs a
tenth of a millisecond per tag, so these bodies are built here instead, with every value
escaped, and the templates keep the headings, captions and everything around them.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from reports.charts import BAND_SYMBOLS


def participation_rows(lines, *, k: int, closed: bool = False) -> SafeString:
    """<tr> rows of the participation table: (ParticipationRow, indent level) pairs. After
    close a group without counts is one whose respondent count is suppressed, whatever its
    size: it is never said to be small."""
    hidden = escape(_("hidden"))
    if closed:
        too_few = escape(_("hidden with the results: no counts"))
    else:
        too_few = escape(_("fewer than %(k)s invited: no counts") % {"k": k})
    whole = escape(_("Whole campaign"))
    parts = []
    for row, level in lines:
        name = escape(row.department.name) if row.department else whole
        parts.append(f'<tr><th scope="row" class="indent-{level}">{name}</th>')
        if not row.shown:
            parts.append(f'<td class="num hidden-figure" colspan="3">{too_few}</td></tr>')
        elif row.completed is None:
            parts.append(
                f'<td class="num">{row.invited}</td><td class="num hidden-figure">{hidden}</td>'
                f'<td class="num hidden-figure" aria-label="{hidden}">—</td></tr>'
            )
        else:
            rate = round(100 * row.completed / row.invited) if row.invited else 0
            parts.append(
                f'<td class="num">{row.invited}</td><td class="num">{row.completed}</td>'
                f'<td class="num">{rate}%</td></tr>'
            )
    return mark_safe("".join(parts))  # every value above is escaped or a number


def department_rows(rows, *, organization_slug: str, usual_k: int) -> SafeString:
    """<tr> rows of the department tree: (Headcount, indent level) pairs."""
    link = reverse("web:department", kwargs={"org": organization_slug, "pk": 0})
    prefix, suffix = link.rsplit("/0/", 1)
    change = escape(_("Change"))
    small = escape(_("fewer than the usual k"))
    deactivated = escape(_("deactivated"))
    parts = []
    for headcount, level in rows:
        department = headcount.department
        name = escape(department.name)
        active = department.is_active
        row_class = "" if active else ' class="inactive"'
        status = "" if active else f' <span class="status">{deactivated}</span>'
        flag = (
            f' <span class="flag" title="{small}">⚑ <span class="visually-hidden">{small}'
            "</span></span>"
            if active and headcount.subtree < usual_k
            else ""
        )
        parts.append(
            f"<tr{row_class}>"
            f'<th scope="row" class="indent-{level}">{name}{status}</th>'
            f"<td>{escape(department.external_id or '—')}</td>"
            f'<td class="num">{headcount.direct}</td>'
            f'<td class="num">{headcount.subtree}{flag}</td>'
            f'<td><a href="{prefix}/{department.pk}/{suffix}">{change}'
            f'<span class="visually-hidden"> {name}</span></a></td></tr>'
        )
    return mark_safe("".join(parts))  # every value above is escaped or a number


def heatmap_rows(
    rows,
    *,
    value: str,
    k: int,
    top_depth: int,
    labels: dict,
    indent: bool,
    link: str = "",
    toggles: dict | None = None,
):
    """<tr> rows of the heatmap: (department or None, [cell or None per domain]) pairs. A cell
    reads without colour: its band's symbol and word, and its number. `link`, if given, is the
    URL of a department's results with `0` in place of its id (its last part: `.../0/`).
    `toggles` gives a department with children its (URL, open?) to show or hide them: a link
    that works without JavaScript, and with htmx swaps the table body only."""
    toggles = toggles or {}
    expand = _("Show the departments below %(name)s")
    collapse = _("Hide the departments below %(name)s")
    hidden_cell = f'<td class="cell hidden-figure">{escape(_("fewer than %(k)s") % {"k": k})}</td>'
    none_cell = f'<td class="cell none">{escape(_("no result"))}</td>'
    whole = escape(_("Whole organisation"))

    def wrapper(band: str | None) -> tuple[str, str]:
        """What goes before and after a published cell's number, once per band."""
        band = band or ""
        label = escape(labels.get(band, ""))
        symbol = BAND_SYMBOLS.get(band, "")
        wrappers[band or None] = (
            f'<td class="cell band-{escape(band)}" title="{label}">'
            f'<span aria-hidden="true">{symbol}</span> ',
            f'<span class="visually-hidden"> {label}</span></td>',
        )
        return wrappers[band or None]

    wrappers: dict[str | None, tuple[str, str]] = {}
    parts = []
    for department, cells in rows:
        name = escape(department.name) if department else whole
        if department and link:
            name = f'<a href="{link[:-2]}{department.pk}/">{name}</a>'
        if department and department.pk in toggles:
            href, is_open = toggles[department.pk]
            href = escape(href)
            label = escape((collapse if is_open else expand) % {"name": department.name})
            name = (
                f'<a id="toggle-{department.pk}" class="toggle" href="{href}" '
                f'hx-get="{href}" hx-target="#heatmap-body" hx-select="#heatmap-body" '
                f'hx-swap="outerHTML" hx-push-url="true" '
                f'aria-expanded="{"true" if is_open else "false"}">'
                f'<span aria-hidden="true">{"▾" if is_open else "▸"}</span>'
                f'<span class="visually-hidden">{label}</span></a> {name}'
            )
        elif toggles:
            name = f'<span class="toggle-space" aria-hidden="true"></span> {name}'
        level = min(department.depth - top_depth, 6) if department and indent else 0
        parts.append(f'<tr><th scope="row" class="indent-{max(level, 0)}">{name}</th>')
        for cell in cells:
            if cell is None:
                parts.append(none_cell)
            elif cell.suppressed:
                parts.append(hidden_cell)
            else:
                opening, closing = wrappers.get(cell.band) or wrapper(cell.band)
                if value == "change":
                    if cell.trend_diff is None:
                        number = "—"
                    else:
                        sign = "+" if cell.trend_diff > 0 else ""
                        number = f"{sign}{cell.trend_diff:.2f}"
                        if cell.trend_significant:
                            number += "*"
                else:
                    number = "—" if cell.risk_score is None else f"{cell.risk_score:.0f}"
                parts.append(f"{opening}{number}{closing}")
        parts.append("</tr>")
    return mark_safe("".join(parts))  # every value above is escaped or a number
