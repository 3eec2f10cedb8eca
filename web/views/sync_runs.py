"""Directory sync runs sent by the HRIS through the API (admins): the list, one run with what it
changed or would change, and the approval of a run the brake stopped."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.directory import RowError
from accounts.models import SyncRunStatus
from accounts.permissions import Permission
from accounts.selectors import sync_run_for, sync_runs
from accounts.sync import sync_run_approve, sync_run_reject
from web.access import org_view
from web.views.imports import SHOWN, change_lists

LISTED = 50


@never_cache
@org_view(Permission.MANAGE_DIRECTORY)
def sync_runs_page(request: HttpRequest) -> HttpResponse:
    found = list(sync_runs(access=request.access)[:LISTED])
    waiting = [run for run in found if run.status == SyncRunStatus.AWAITING_APPROVAL]
    return render(
        request,
        "hr/sync_runs.html",
        {"runs": found, "waiting": waiting, "listed": LISTED, "nav": "people"},
    )


@never_cache  # email changes of named people
@org_view(Permission.MANAGE_DIRECTORY)
def sync_run_page(request: HttpRequest, pk: int) -> HttpResponse:
    run = sync_run_for(access=request.access, pk=pk)
    context = {
        "run": run,
        "summary": run.summary,
        "changes": change_lists(run.changes or {}),
        "errors": [RowError(**error) for error in run.errors[:SHOWN]],
        "error_count": len(run.errors),
        "json_rows": run.summary.get("format") not in ("csv", "xlsx"),
        "shown": SHOWN,
        "nav": "people",
    }
    return render(request, "hr/sync_run.html", context)


@require_POST
@org_view(Permission.MANAGE_DIRECTORY)
def sync_run_decide(request: HttpRequest, pk: int) -> HttpResponse:
    run = sync_run_for(access=request.access, pk=pk)
    decision = request.POST.get("decision")
    try:
        if decision == "approve":
            if request.POST.get("confirmed") != "1":
                raise ValidationError(_("Tick the box to confirm that you checked the changes."))
            done = sync_run_approve(run=run, user=request.user)
            if done.status == SyncRunStatus.APPLIED:
                messages.success(request, _("The sync run was approved and applied."))
            else:
                messages.error(request, done.failure)
        elif decision == "reject":
            sync_run_reject(run=run, user=request.user)
            messages.success(request, _("The sync run was rejected; nothing was applied."))
        else:
            raise ValidationError(_("Choose to approve or to reject the run."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("web:sync_run", org=request.organization.slug, pk=run.pk)
