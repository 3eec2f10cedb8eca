"""Directory import and export (admins): upload, preview, apply; CSV export and template."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.directory import (
    CHANGE_KEYS,
    MAX_FILE_BYTES,
    ImportPlan,
    directory_csv,
    directory_import_discard,
    directory_import_preview,
    directory_import_run,
    directory_template_csv,
)
from accounts.models import AuditAction
from accounts.permissions import Permission
from accounts.selectors import directory_import_for, directory_imports
from accounts.services import audit_record
from web.access import org_view
from web.forms import ImportForm

# A preview lists this many errors and changes of each kind; the counts are always complete.
SHOWN = 200

CHANGE_LABELS = {
    "departments_created": gettext_lazy("Departments created"),
    "departments_renamed": gettext_lazy("Departments renamed"),
    "departments_moved": gettext_lazy("Departments moved"),
    "employees_created": gettext_lazy("Employees created"),
    "employees_updated": gettext_lazy("Employees updated"),
    "employees_moved": gettext_lazy("Employees moved to another department"),
    "employees_deactivated": gettext_lazy("Employees deactivated"),
    "employees_reactivated": gettext_lazy("Employees reactivated"),
    "email_changes": gettext_lazy("Email addresses changed"),
}


def _describe(entry: dict) -> str:
    """One change in a line: every detail but the row, as "field: value"."""
    return "; ".join(
        f"{key.replace('_', ' ')}: {', '.join(value) if isinstance(value, list) else value}"
        for key, value in entry.items()
        if key != "row" and value not in (None, "", [])
    )


def change_lists(changes: dict[str, list]) -> list[tuple]:
    """(label, the first SHOWN entries as (row, text), count) per kind of change made."""
    return [
        (
            CHANGE_LABELS[key],
            [(entry.get("row"), _describe(entry)) for entry in changes[key][:SHOWN]],
            len(changes[key]),
        )
        for key in CHANGE_KEYS
        if changes.get(key)
    ]


@never_cache
@org_view(Permission.MANAGE_DIRECTORY)
def import_page(request: HttpRequest) -> HttpResponse:
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            form.add_error(
                "file",
                _("The file is %(size)d MB; at most %(limit)d MB can be imported at once.")
                % {"size": upload.size // 2**20, "limit": MAX_FILE_BYTES // 2**20},
            )
        else:
            try:
                found = directory_import_preview(
                    organization=request.organization,
                    data=upload.read(),
                    filename=upload.name,
                    mode=form.cleaned_data["mode"],
                    user=request.user,
                )
            except ValidationError as exc:
                form.add_error("file", " ".join(exc.messages))
            else:
                return redirect("web:import_preview", org=request.organization.slug, pk=found.pk)
    recent = directory_imports(access=request.access)[:10]
    return render(
        request,
        "hr/import.html",
        {"form": form, "recent": recent, "nav": "people"},
        status=400 if form.errors else 200,
    )


@never_cache
@org_view(Permission.MANAGE_DIRECTORY)
def import_preview(request: HttpRequest, pk: int) -> HttpResponse:
    """What the import would change, and every bad row with its row, column and value."""
    found = directory_import_for(access=request.access, pk=pk)
    context = {"directory_import": found, "summary": found.summary, "nav": "people"}
    if found.result:
        context["applied"] = [
            (CHANGE_LABELS[key], found.result[key]) for key in CHANGE_KEYS if found.result.get(key)
        ]
    if found.status == "previewed":
        plan = ImportPlan.from_dict(found.plan)
        context["errors"] = plan.errors[:SHOWN]
        context["changes"] = change_lists(plan.changes)
        context["shown"] = SHOWN
    return render(request, "hr/import_preview.html", context)


@require_POST
@org_view(Permission.MANAGE_DIRECTORY)
def import_apply(request: HttpRequest, pk: int) -> HttpResponse:
    found = directory_import_for(access=request.access, pk=pk)
    try:
        with transaction.atomic():
            done = directory_import_run(
                directory_import=found, confirmed=request.POST.get("confirmed") == "1"
            )
            audit_record(
                organization=request.organization,
                actor=request.user,
                action=AuditAction.DIRECTORY_IMPORTED,
                subject=found.filename,
                detail={"mode": done.mode, **{k: v for k, v in done.result.items() if v}},
            )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("web:import_preview", org=request.organization.slug, pk=found.pk)
    messages.success(request, _("The import is done."))
    return redirect("web:import_preview", org=request.organization.slug, pk=found.pk)


@require_POST
@org_view(Permission.MANAGE_DIRECTORY)
def import_discard(request: HttpRequest, pk: int) -> HttpResponse:
    found = directory_import_for(access=request.access, pk=pk)
    if directory_import_discard(directory_import=found):
        messages.success(request, _("The preview was discarded; nothing was imported."))
    return redirect("web:import", org=request.organization.slug)


def _csv(text: str, filename: str) -> HttpResponse:
    # With a byte order mark, so that Excel reads umlauts right.
    response = HttpResponse(("\ufeff" + text).encode(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@never_cache
@org_view(Permission.MANAGE_DIRECTORY)
def directory_export(request: HttpRequest) -> HttpResponse:
    """Departments and employees in the import's own layout: export, edit, import."""
    return _csv(
        directory_csv(organization=request.organization),
        f"{request.organization.slug}-directory.csv",
    )


@org_view(Permission.MANAGE_DIRECTORY)
def import_template(request: HttpRequest) -> HttpResponse:
    return _csv(directory_template_csv(), "plimsoll-directory-template.csv")
