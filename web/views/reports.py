"""PDF reports of a closed campaign: request the organisation report or department packs, watch
them being rendered (htmx), download them through reports.views.report_download."""

from __future__ import annotations

import hashlib

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, ngettext
from django.views.decorators.cache import never_cache

from accounts.models import Department
from accounts.permissions import NotVisible, Permission
from assessments.models import CampaignStatus
from assessments.selectors import campaign_for
from reports.models import ReportStatus
from reports.selectors import reports
from reports.services import report_request, report_request_packs
from results.selectors import current_run, departments_by_priority
from web.access import org_view
from web.forms import ReportRequestForm, add_service_errors

# While a report is queued or running the list asks again this often; then it stops.
POLL_SECONDS = 5
LIVE = (ReportStatus.QUEUED, ReportStatus.RUNNING)


def _closed_campaign(request: HttpRequest, pk: int):
    campaign = campaign_for(access=request.access, pk=pk)
    if campaign.status != CampaignStatus.CLOSED:
        # Like the results pages: nothing to report on before the campaign closes.
        raise NotVisible("Reports are made only for a closed campaign.")
    return campaign


def _rows_context(request: HttpRequest, campaign) -> dict:
    rows = list(reports(access=request.access, campaign=campaign).select_related("requested_by"))
    counts = dict.fromkeys(ReportStatus.values, 0)
    for report in rows:
        counts[report.status] += 1
    # What the list shows, in short: the fragment answers "nothing new" while it is the same.
    state = hashlib.sha256(repr([(r.pk, r.status) for r in rows]).encode()).hexdigest()[:16]
    return {
        "campaign": campaign,
        "rows": rows,
        "preparing": counts[ReportStatus.QUEUED] + counts[ReportStatus.RUNNING],
        "done": counts[ReportStatus.DONE],
        "failed": counts[ReportStatus.FAILED],
        "live": any(report.status in LIVE for report in rows),
        "state": state,
        "poll_seconds": POLL_SECONDS,
    }


def _request_form(request: HttpRequest, campaign, data=None) -> ReportRequestForm:
    access = request.access
    published = [
        cell.department_id for cell in departments_by_priority(access=access, campaign=campaign)
    ]
    languages = list(campaign.instrument.languages)
    return ReportRequestForm(
        data,
        whole_organization=access.whole_organization,
        departments=Department.objects.visible_to(access).filter(pk__in=published).order_by("path"),
        languages=languages,
        initial={
            "kind": "organisation" if access.whole_organization else "packs",
            "language": request.LANGUAGE_CODE if request.LANGUAGE_CODE in languages else None,
        },
    )


def _request(request: HttpRequest, campaign, form: ReportRequestForm) -> list:
    """Ask the services for what the form chose; a manager's packs are those of their subtree."""
    access = request.access
    values = form.cleaned_data
    common = {"campaign": campaign, "language": values["language"], "requested_by": request.user}
    if values["kind"] == "organisation":
        return [report_request(**common)]
    if values["kind"] == "department":
        return [report_request(**common, department=values["department"])]
    within = None
    if not access.whole_organization:
        within = Department.objects.visible_to(access).get(pk=access.ancestor_or_self_ids()[-1])
    return report_request_packs(**common, within=within)


@never_cache
@org_view(Permission.VIEW_REPORTS)
def reports_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The campaign's reports the user may see, newest first, with their status, and for
    those who may request reports a form to ask for more (POST, then back here)."""
    if request.method == "POST":
        request.access.require(Permission.REQUEST_REPORTS)
    campaign = _closed_campaign(request, pk)
    run = current_run(campaign=campaign)
    form = None
    if run is not None and request.access.can(Permission.REQUEST_REPORTS):
        form = _request_form(request, campaign, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            requested = _request(request, campaign, form)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if requested:
                count = len(requested)
                messages.success(
                    request,
                    ngettext(
                        "%(count)d report requested. Its status is shown below.",
                        "%(count)d reports requested. Their status is shown below.",
                        count,
                    )
                    % {"count": count},
                )
                return redirect("web:reports", org=request.organization.slug, pk=campaign.pk)
            form.add_error(
                "kind",
                gettext(
                    "No department in your scope has published results, so no pack can be "
                    "made: each group is smaller than the minimum group size, or could be "
                    "worked out from others."
                ),
            )
    context = {**_rows_context(request, campaign), "run": run, "form": form, "nav": "campaigns"}
    return render(request, "hr/reports.html", context)


@never_cache
@org_view(Permission.VIEW_REPORTS)
def reports_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The list alone, for htmx to swap in while a report is queued or running. Nothing (204)
    when it is what the page already shows, so a screen reader hears only real changes."""
    campaign = _closed_campaign(request, pk)
    context = _rows_context(request, campaign)
    if request.GET.get("state") == context["state"]:
        return HttpResponse(status=204)
    return render(request, "hr/_reports_rows.html", {**context, "fragment": True})
