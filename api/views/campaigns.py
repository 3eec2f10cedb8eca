"""Campaigns, their participation, results and reports: the same selectors and services as
the HR pages, with the same rules and refusals."""

from __future__ import annotations

from pathlib import Path

from django.db import transaction
from django.http import FileResponse, HttpResponse
from django.urls import path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, parsers, status
from rest_framework.response import Response

from accounts.models import ApiKey, AuditAction, Department
from accounts.permissions import Access, NotVisible, Permission
from api.access import HasPermission, api_access, audit, organization_of
from api.problems import problems
from api.serializers import (
    CampaignSerializer,
    CampaignWriteSerializer,
    CellSerializer,
    HeatmapSerializer,
    ParticipationSerializer,
    ReportPacksRequestSerializer,
    ReportRequestSerializer,
    ReportSerializer,
    RetriedSerializer,
)
from assessments.models import Campaign, CampaignStatus, Instrument
from assessments.selectors import campaign_for, campaigns
from assessments.services import (
    campaign_create,
    campaign_launch,
    campaign_remind_now,
    campaign_update,
    invitations_retry_failed,
)
from reports.exports import campaign_cells_xlsx
from reports.selectors import report_for_download, reports
from reports.services import report_request, report_request_packs
from results.selectors import campaign_results, heatmap, participation, top_risks
from results.services import campaign_close

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class NoStore:
    """Results, exports and downloads: never kept by a browser or a shared cache."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        add_never_cache_headers(response)
        return response


def _closed(view, what: str = "Results exist") -> Campaign:
    campaign = view.campaign()
    if campaign.status != CampaignStatus.CLOSED:
        raise NotVisible(f"{what} only for a closed campaign.")
    return campaign


class CampaignView:
    permission_classes = [HasPermission]
    required_permission = Permission.VIEW_CAMPAIGNS
    parser_classes = [parsers.JSONParser]  # bodies are JSON (lists do not fit a form)

    def campaign(self):
        return campaign_for(access=api_access(self.request), pk=self.kwargs["pk"])


# --- Names the API gives what the services take ---------------------------------------------


def departments_by_external_id(
    access: Access, external_ids: list[str], field: str, *, active_only: bool = False
) -> list[Department]:
    """The departments the access sees with these HRIS ids, in the order given; a 400 naming
    each id that is not one of them (at `field[index]`)."""
    rows = Department.objects.visible_to(access).filter(external_id__in=external_ids)
    if active_only:
        rows = rows.filter(is_active=True)
    found = {department.external_id: department for department in rows}
    what = "active department" if active_only else "department"
    errors = [
        [] if external_id in found else [f"No {what} with HRIS id '{external_id}'."]
        for external_id in external_ids
    ]
    if any(errors):
        raise exceptions.ValidationError({field: errors})
    return list({external_id: found[external_id] for external_id in external_ids}.values())


def department_by_external_id(access: Access, external_id: str, field: str) -> Department:
    """The department the access sees with this HRIS id, or a 400 at `field`."""
    department = Department.objects.visible_to(access).filter(external_id=external_id).first()
    if department is None:
        raise exceptions.ValidationError({field: [f"No department with HRIS id '{external_id}'."]})
    return department


def _instrument(code: str, version: int | None) -> Instrument:
    """A questionnaire by code and version (the newest version when none is given), as the
    campaign form lists them."""
    rows = Instrument.objects.filter(code=code)
    found = rows.filter(version=version) if version is not None else rows.order_by("-version")
    instrument = found.first()
    if instrument is None:
        known = ", ".join(str(i) for i in Instrument.objects.order_by("code", "version"))
        wanted = f"'{code}' version {version}" if version is not None else f"'{code}'"
        field = "instrument_version" if rows.exists() else "instrument"
        raise exceptions.ValidationError(
            {field: [f"No questionnaire {wanted}; there are: {known or 'none'}."]}
        )
    return instrument


def _service_values(access: Access, data: dict, campaign: Campaign | None = None) -> dict:
    """The validated body in the campaign services' terms: departments by HRIS id, the
    questionnaire by code and version, the previous campaign among the closed ones."""
    values = {key: value for key, value in data.items() if key != "instrument_version"}
    if "instrument" in data or "instrument_version" in data:
        code = data.get("instrument") or campaign.instrument.code
        values["instrument"] = _instrument(code, data.get("instrument_version"))
    if "target_departments" in data:
        values["target_departments"] = departments_by_external_id(
            access, data["target_departments"], "target_departments", active_only=True
        )
    if data.get("previous_campaign") is not None:
        previous = (
            campaigns(access=access)
            .filter(pk=data["previous_campaign"], status=CampaignStatus.CLOSED)
            .first()
        )
        if previous is None:
            raise exceptions.ValidationError(
                {"previous_campaign": [f"No closed campaign with id {data['previous_campaign']}."]}
            )
        values["previous_campaign"] = previous
    if "reminder_days" in values:
        values["reminder_days"] = sorted(set(values["reminder_days"]))
    return values


def _changed(campaign: Campaign, values: dict) -> dict:
    """What differs from the campaign's settings, as the HR form sends only changed fields:
    resending a launched campaign's frozen settings unchanged is no attempt to change them."""
    changes = {}
    for name, value in values.items():
        current = getattr(campaign, name)
        if name == "target_departments":
            same = {d.pk for d in value} == set(current.values_list("pk", flat=True))
        elif isinstance(value, list):
            same = sorted(value) == sorted(current)
        else:
            same = value == current
        if not same:
            changes[name] = value
    return changes


def _user(request):
    """Who asked, for rows that name a person: nobody for an API key."""
    return None if isinstance(request.auth, ApiKey) else request.user


CAMPAIGN_EXAMPLE = OpenApiExample(
    "A draft",
    request_only=True,
    value={
        "name": "Spring pulse 2031",
        "instrument": "plimsoll-core",
        "instrument_version": 1,
        "target_departments": ["D-100", "D-200"],
        "languages": ["en", "de"],
        "opens_at": "2031-03-02T08:00:00Z",
        "closes_at": "2031-03-23T18:00:00Z",
        "reminder_days": [7, 14],
        "min_group_size": 5,
        "attributes_used": ["tenure_band"],
    },
)


# --- Campaigns --------------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(
        tags=["campaigns"], responses={200: CampaignSerializer(many=True), **problems()}
    ),
    post=extend_schema(
        tags=["campaigns"],
        summary="Create a draft campaign",
        description=(
            "A draft campaign (scope `campaigns:write`), checked as the HR app checks it; "
            "nothing is sent until it is launched. Departments are named by their HRIS ids, "
            "the questionnaire by its code (and version)."
        ),
        request=CampaignWriteSerializer,
        responses={201: CampaignSerializer, **problems(400)},
        examples=[CAMPAIGN_EXAMPLE],
    ),
)
class CampaignList(CampaignView, generics.ListAPIView):
    """The campaigns the key may see (scope `campaigns:read`), in the order they were made."""

    serializer_class = CampaignSerializer
    required_permission = {"GET": Permission.VIEW_CAMPAIGNS, "POST": Permission.MANAGE_CAMPAIGNS}

    def get_queryset(self):
        return (
            campaigns(access=api_access(self.request))
            .select_related("instrument")
            .prefetch_related("target_departments")
        )

    def post(self, request):
        access = api_access(request)
        body = CampaignWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = _service_values(access, body.validated_data)
        organization = organization_of(request)
        with transaction.atomic():
            campaign = campaign_create(organization=organization, **values)
            audit(request, campaign, AuditAction.CAMPAIGN_CREATED)
        location = reverse("api:campaign", kwargs={"pk": campaign.pk})
        return Response(
            CampaignSerializer(campaign).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(location)},
        )


@extend_schema_view(
    get=extend_schema(tags=["campaigns"], responses={200: CampaignSerializer, **problems(404)}),
    patch=extend_schema(
        tags=["campaigns"],
        summary="Change a campaign's settings",
        description=(
            "Change a draft's settings (scope `campaigns:write`); send only what changes. Once "
            "launched only the name, the dates and the reminder days may change (the others "
            "are frozen: 409), and a closed campaign not at all (409)."
        ),
        request=CampaignWriteSerializer,
        responses={200: CampaignSerializer, **problems(400, 404, 409)},
        examples=[
            OpenApiExample(
                "Later close", request_only=True, value={"closes_at": "2031-03-30T18:00:00Z"}
            )
        ],
    ),
)
class CampaignDetail(CampaignView, generics.GenericAPIView):
    """One campaign (scope `campaigns:read`)."""

    serializer_class = CampaignSerializer
    required_permission = {
        "GET": Permission.VIEW_CAMPAIGNS,
        "PATCH": Permission.MANAGE_CAMPAIGNS,
    }

    def get(self, request, pk: int):
        return Response(CampaignSerializer(self.campaign()).data)

    def patch(self, request, pk: int):
        campaign = self.campaign()
        body = CampaignWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        values = _service_values(api_access(request), body.validated_data, campaign)
        changes = _changed(campaign, values)
        with transaction.atomic():
            updated = campaign_update(campaign=campaign, **changes)
            audit(request, updated, AuditAction.CAMPAIGN_UPDATED, {"fields": sorted(changes)})
        return Response(CampaignSerializer(updated).data)


class CampaignAction(CampaignView, generics.GenericAPIView):
    """A step in a campaign's life, for those who run campaigns (scope `campaigns:write`)."""

    required_permission = Permission.MANAGE_CAMPAIGNS
    serializer_class = CampaignSerializer


@extend_schema(
    tags=["campaigns"],
    summary="Launch a draft",
    request=None,
    responses={200: CampaignSerializer, **problems(400, 404, 409)},
)
class CampaignLaunch(CampaignAction):
    """Invite everyone active in the target departments and below, and open the campaign (or
    schedule it, when it opens later). The invited population is fixed now. 400 names what
    stops the launch (no one to ask, no closing time…); 409 if it was launched already."""

    def post(self, request, pk: int):
        campaign = self.campaign()
        with transaction.atomic():
            launched = campaign_launch(campaign=campaign)
            audit(request, launched, AuditAction.CAMPAIGN_LAUNCHED)
        return Response(CampaignSerializer(launched).data)


@extend_schema(
    tags=["campaigns"],
    summary="Close a campaign",
    request=None,
    responses={200: CampaignSerializer, **problems(404, 409)},
)
class CampaignClose(CampaignAction):
    """Close an open campaign now: answers stop at once and the scoring starts. A closed
    campaign never reopens (409)."""

    def post(self, request, pk: int):
        campaign = self.campaign()
        with transaction.atomic():
            closed = campaign_close(campaign=campaign)
            audit(request, closed, AuditAction.CAMPAIGN_CLOSED)
        return Response(CampaignSerializer(closed).data)


@extend_schema(
    tags=["campaigns"],
    summary="Remind now",
    request=None,
    responses={202: CampaignSerializer, **problems(404, 409)},
)
class CampaignRemind(CampaignAction):
    """Everyone invited who has not answered gets one more reminder, sent in the background
    (who has not answered is never shown). 409 unless the campaign is open."""

    def post(self, request, pk: int):
        campaign = self.campaign()
        with transaction.atomic():
            reminded = campaign_remind_now(campaign=campaign)
            audit(request, reminded, AuditAction.REMINDERS_SENT)
        return Response(CampaignSerializer(reminded).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(
    tags=["campaigns"],
    summary="Send refused invitations again",
    request=None,
    responses={202: RetriedSerializer, **problems(404, 409)},
)
class CampaignRetryDeliveries(CampaignAction):
    """Send again every invitation of an open campaign whose email was refused, once the
    cause is fixed (a mail server, addresses in the HRIS). 409 unless the campaign is open."""

    serializer_class = RetriedSerializer

    def post(self, request, pk: int):
        campaign = self.campaign()
        with transaction.atomic():
            count = invitations_retry_failed(campaign=campaign)
            audit(request, campaign, AuditAction.DELIVERIES_RETRIED)
        return Response(RetriedSerializer({"retried": count}).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(
    tags=["campaigns"], responses={200: ParticipationSerializer(many=True), **problems(404)}
)
class Participation(CampaignView, generics.GenericAPIView):
    """Participation per department, from the one participation selector the pages use:
    counts that could single out a small group are null (scope `campaigns:read`)."""

    required_permission = Permission.VIEW_PARTICIPATION
    serializer_class = ParticipationSerializer
    pagination_class = None

    def get(self, request, pk: int):
        rows = participation(access=api_access(request), campaign=self.campaign())
        return Response(ParticipationSerializer(rows, many=True).data)


def _department_filter(request, access) -> Department | None:
    external_id = request.query_params.get("department")
    if not external_id:
        return None
    department = Department.objects.visible_to(access).filter(external_id=external_id).first()
    if department is None:
        raise exceptions.ValidationError(
            {"department": [f"No department with HRIS id '{external_id}'."]}
        )
    return department


@extend_schema(
    tags=["results"],
    parameters=[
        OpenApiParameter(
            "department",
            OpenApiTypes.STR,
            description="A department's HRIS id: its cells and those of everything below it.",
        ),
        OpenApiParameter("domain", OpenApiTypes.STR, description="One domain's code."),
        OpenApiParameter(
            "breakdown",
            OpenApiTypes.STR,
            description="An attribute's cells only; `none` for the department totals only.",
        ),
    ],
    responses={200: CellSerializer(many=True), **problems(400, 404)},
)
class Results(NoStore, CampaignView, generics.ListAPIView):
    """The cells of a closed campaign's current run (scope `results:read`). Suppressed cells
    are listed with `suppressed: true` and no figure. Every read is in the audit trail."""

    required_permission = Permission.VIEW_RESULTS
    serializer_class = CellSerializer

    def get_queryset(self):
        access = api_access(self.request)
        campaign = _closed(self)
        cells = campaign_results(access=access, campaign=campaign)
        params = self.request.query_params
        if department := _department_filter(self.request, access):
            cells = cells.filter(department__path__startswith=department.path)
        if domain := params.get("domain"):
            cells = cells.filter(domain_code=domain)
        if breakdown := params.get("breakdown"):
            cells = cells.filter(breakdown_attribute="" if breakdown == "none" else breakdown)
        audit(self.request, campaign, AuditAction.RESULTS_VIEWED, {"page": "api results"})
        return cells


def _heat_cell(code: str, cell) -> dict | None:
    """A heatmap cell as plain values; a suppressed one keeps none of its figures."""
    if cell is None:
        return None
    if cell.suppressed:
        return dict.fromkeys(("band", "risk_score", "change", "change_significant")) | {
            "domain": code,
            "suppressed": True,
        }
    return {
        "domain": code,
        "suppressed": False,
        "band": cell.band,
        "risk_score": cell.risk_score,
        "change": cell.trend_diff,
        "change_significant": cell.trend_significant,
    }


@extend_schema(
    tags=["results"],
    parameters=[
        OpenApiParameter(
            "department",
            OpenApiTypes.STR,
            description="The HRIS id of a department: only it and the departments below it "
            "(the organisation's row always comes first).",
        )
    ],
    responses={200: HeatmapSerializer, **problems(400, 404)},
)
class Heatmap(NoStore, CampaignView, generics.GenericAPIView):
    """The departments-by-domains matrix of a closed campaign's current run, as the HR app's
    heatmap shows it (scope `results:read`): suppressed cells present with every figure null.
    Every read is in the audit trail."""

    required_permission = Permission.VIEW_RESULTS
    serializer_class = HeatmapSerializer
    pagination_class = None

    def get(self, request, pk: int):
        access = api_access(request)
        campaign = _closed(self)
        department = _department_filter(request, access)
        keep = None
        if department is not None:

            def keep(listed):
                return [d.pk for d in listed if d.path.startswith(department.path)]

        matrix = heatmap(access=access, campaign=campaign, keep=keep)
        rows = []
        for row_department, cells in matrix.rows:
            rows.append(
                {
                    "department_external_id": getattr(row_department, "external_id", None),
                    "department": getattr(row_department, "name", None),
                    "depth": getattr(row_department, "depth", None),
                    "priority": _heat_cell(
                        "priority", matrix.overall.get(getattr(row_department, "pk", None))
                    ),
                    "cells": [
                        _heat_cell(code, cell)
                        for code, cell in zip(matrix.domains, cells, strict=True)
                    ],
                }
            )
        audit(request, campaign, AuditAction.RESULTS_VIEWED, {"page": "api heatmap"})
        return Response(HeatmapSerializer({"domains": matrix.domains, "rows": rows}).data)


@extend_schema(
    tags=["results"],
    parameters=[
        OpenApiParameter(
            "department",
            OpenApiTypes.STR,
            description="The HRIS id of a department: its own highest risks. Without it, the "
            "organisation's (a manager's session: their department's).",
        ),
        OpenApiParameter("limit", OpenApiTypes.INT, description="How many, 1 to 12 (default 3)."),
    ],
    responses={200: CellSerializer(many=True), **problems(400, 404)},
)
class TopRisks(NoStore, CampaignView, generics.GenericAPIView):
    """The published domain cells with the highest risk score (scope `results:read`), as the
    HR app's overview lists them; a hidden cell is never among them. Recorded in the audit
    trail."""

    required_permission = Permission.VIEW_RESULTS
    serializer_class = CellSerializer
    pagination_class = None

    def get(self, request, pk: int):
        access = api_access(request)
        campaign = _closed(self)
        department = _department_filter(request, access)
        raw = request.query_params.get("limit", "3")
        if not raw.isdigit() or not 1 <= int(raw) <= 12:
            raise exceptions.ValidationError({"limit": [f"'{raw}' is not a number from 1 to 12."]})
        cells = top_risks(access=access, campaign=campaign, department=department, limit=int(raw))
        audit(request, campaign, AuditAction.RESULTS_VIEWED, {"page": "api top risks"})
        return Response(CellSerializer(cells, many=True).data)


@extend_schema(
    tags=["results"],
    responses={
        (200, XLSX): OpenApiResponse(
            OpenApiTypes.BINARY, description="The published cells as an Excel workbook."
        ),
        **problems(404),
    },
)
class ResultsExport(NoStore, CampaignView, generics.GenericAPIView):
    """The published cells of a closed campaign as an Excel workbook, suppressed cells listed
    without any figure (scope `results:read`). Recorded in the audit trail."""

    required_permission = Permission.EXPORT_RESULTS

    def get(self, request, pk: int):
        campaign = _closed(self)
        language = getattr(request, "LANGUAGE_CODE", "en")  # from Accept-Language
        data = campaign_cells_xlsx(access=api_access(request), campaign=campaign, language=language)
        audit(request, campaign, AuditAction.RESULTS_EXPORTED, {"page": "api export"})
        response = HttpResponse(data, content_type=XLSX)
        name = slugify(campaign.name) or f"campaign-{campaign.pk}"
        response["Content-Disposition"] = f'attachment; filename="{name}-results.xlsx"'
        return response


@extend_schema_view(
    get=extend_schema(
        tags=["reports"], responses={200: ReportSerializer(many=True), **problems(404)}
    ),
    post=extend_schema(
        tags=["reports"],
        summary="Request a PDF report",
        description=(
            "Ask for the organisation report, or one department's pack (by its HRIS id), of a "
            "closed campaign's current results (scope `reports:read`). It is rendered in the "
            "background: poll `GET /reports/{id}` until `status` is `done` (then "
            "`download_url` is set) or `failed` (`error` says why). Asking again for the same "
            "returns the same report. A manager signed in asks for packs of their own "
            "departments only; a department whose results are hidden gets no pack (400)."
        ),
        request=ReportRequestSerializer,
        responses={202: ReportSerializer, **problems(400, 404)},
        examples=[
            OpenApiExample(
                "A department pack",
                request_only=True,
                value={"department": "D-120", "language": "de"},
            ),
            OpenApiExample("The organisation report", request_only=True, value={"language": "en"}),
        ],
    ),
)
class Reports(CampaignView, generics.ListAPIView):
    """The PDF reports of a campaign the key may see, with their status (scope
    `reports:read`)."""

    required_permission = {"GET": Permission.VIEW_REPORTS, "POST": Permission.REQUEST_REPORTS}
    serializer_class = ReportSerializer

    def get_queryset(self):
        return reports(access=api_access(self.request), campaign=self.campaign())

    def post(self, request, pk: int):
        access = api_access(request)
        campaign = _closed(self, "Reports are made")
        body = ReportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        department = None
        if external_id := body.validated_data.get("department"):
            department = department_by_external_id(access, external_id, "department")
        elif not access.whole_organization:
            raise exceptions.ValidationError(
                {
                    "department": [
                        "The organisation report covers departments outside your scope: name "
                        "one of your departments (its HRIS id) for its pack."
                    ]
                }
            )
        language = body.validated_data["language"]
        with transaction.atomic():
            report = report_request(
                campaign=campaign,
                language=language,
                department=department,
                requested_by=_user(request),
            )
            audit(request, campaign, AuditAction.REPORT_REQUESTED,
                  {"report": department.name if department else "organisation",
                   "language": language})  # fmt: skip
        data = ReportSerializer(report, context={"request": request}).data
        return Response(data, status=status.HTTP_202_ACCEPTED)


@extend_schema(
    tags=["reports"],
    summary="Request department packs",
    request=ReportPacksRequestSerializer,
    responses={202: ReportSerializer(many=True), **problems(400, 404)},
)
class ReportPacks(CampaignView, generics.GenericAPIView):
    """A pack for every department with published results in a closed campaign (scope
    `reports:read`), in one language or each of the campaign's; with `department`, only for
    that department and those below it. A manager signed in gets those of their subtree.
    Packs already asked for with the same inputs are returned, not made again."""

    required_permission = Permission.REQUEST_REPORTS
    serializer_class = ReportSerializer

    def post(self, request, pk: int):
        access = api_access(request)
        campaign = _closed(self, "Reports are made")
        body = ReportPacksRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        within = None
        if external_id := body.validated_data.get("department"):
            within = department_by_external_id(access, external_id, "department")
        elif not access.whole_organization:
            within = Department.objects.visible_to(access).get(pk=access.ancestor_or_self_ids()[-1])
        language = body.validated_data.get("language")
        with transaction.atomic():
            found = report_request_packs(
                campaign=campaign, language=language, within=within, requested_by=_user(request)
            )
            if not found:
                raise exceptions.ValidationError(
                    "No department in your scope has published results, so no pack can be made: "
                    "each group is smaller than the minimum group size, or could be worked out "
                    "from others."
                )
            audit(request, campaign, AuditAction.REPORT_REQUESTED,
                  {"report": f"packs within {within.name}" if within else "packs",
                   "language": language or "all"})  # fmt: skip
        data = ReportSerializer(found, many=True, context={"request": request}).data
        return Response(data, status=status.HTTP_202_ACCEPTED)


@extend_schema(
    tags=["reports"],
    summary="A report's status",
    responses={200: ReportSerializer, **problems(404)},
    examples=[
        OpenApiExample(
            "A finished pack",
            response_only=True,
            value={
                "id": 41,
                "campaign": 7,
                "kind": "department",
                "department_external_id": "D-120",
                "department": "Warehouse North",
                "language": "de",
                "status": "done",
                "error": "",
                "created_at": "2031-03-24T09:00:00Z",
                "finished_at": "2031-03-24T09:00:20Z",
                "download_url": "https://plimsoll.example/api/v1/reports/41/download",
            },
        )
    ],
)
class ReportDetail(generics.GenericAPIView):
    """One report the key may see, with its status: queued, running, done (with its download
    URL) or failed (with the reason) (scope `reports:read`)."""

    permission_classes = [HasPermission]
    required_permission = Permission.VIEW_REPORTS
    serializer_class = ReportSerializer

    def get(self, request, report: int):
        access = api_access(request)
        campaign = campaigns(access=access).filter(reports__pk=report).first()
        found = None
        if campaign is not None:
            found = reports(access=access, campaign=campaign).filter(pk=report).first()
        if found is None:
            raise NotVisible("No such report here.")
        return Response(ReportSerializer(found, context={"request": request}).data)


@extend_schema(
    tags=["reports"],
    responses={
        (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The PDF."),
        **problems(404),
    },
)
class ReportDownload(NoStore, generics.GenericAPIView):
    """A finished report's PDF (scope `reports:read`). Recorded in the audit trail."""

    permission_classes = [HasPermission]
    required_permission = Permission.VIEW_REPORTS

    def get(self, request, report: int):
        found = report_for_download(access=api_access(request), report_id=report)
        if found is None:
            raise NotVisible("No such report, or it is not ready yet.")
        audit(request, f"report {found.pk}: {Path(found.file.name).name}",
               AuditAction.REPORT_DOWNLOADED)  # fmt: skip
        return FileResponse(
            found.file.open("rb"),
            as_attachment=True,
            filename=Path(found.file.name).name,
            content_type="application/pdf",
        )


urlpatterns = [
    path("campaigns", CampaignList.as_view(), name="campaigns"),
    path("campaigns/<int:pk>", CampaignDetail.as_view(), name="campaign"),
    path("campaigns/<int:pk>/launch", CampaignLaunch.as_view(), name="campaign_launch"),
    path("campaigns/<int:pk>/close", CampaignClose.as_view(), name="campaign_close"),
    path("campaigns/<int:pk>/remind", CampaignRemind.as_view(), name="campaign_remind"),
    path(
        "campaigns/<int:pk>/retry-deliveries",
        CampaignRetryDeliveries.as_view(),
        name="campaign_retry_deliveries",
    ),
    path(
        "campaigns/<int:pk>/participation",
        Participation.as_view(),
        name="participation",
    ),
    path("campaigns/<int:pk>/results", Results.as_view(), name="results"),
    path("campaigns/<int:pk>/heatmap", Heatmap.as_view(), name="heatmap"),
    path("campaigns/<int:pk>/top-risks", TopRisks.as_view(), name="top_risks"),
    path(
        "campaigns/<int:pk>/results.xlsx",
        ResultsExport.as_view(),
        name="results_export",
    ),
    path("campaigns/<int:pk>/reports", Reports.as_view(), name="reports"),
    path("campaigns/<int:pk>/reports/packs", ReportPacks.as_view(), name="report_packs"),
    path("reports/<int:report>", ReportDetail.as_view(), name="report"),
    path(
        "reports/<int:report>/download",
        ReportDownload.as_view(),
        name="report_download",
    ),
]
