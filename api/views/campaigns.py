"""Campaigns, their participation and their results: the same selectors as the HR pages."""

from __future__ import annotations

from pathlib import Path

from django.http import FileResponse, HttpResponse
from django.urls import path
from django.utils.cache import add_never_cache_headers
from django.utils.text import slugify
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, generics
from rest_framework.response import Response

from accounts.models import AuditAction, Department
from accounts.permissions import NotVisible, Permission
from api.access import HasPermission, api_access, audit
from api.problems import problems
from api.serializers import (
    CampaignSerializer,
    CellSerializer,
    ParticipationSerializer,
    ReportSerializer,
)
from assessments.models import Campaign, CampaignStatus
from assessments.selectors import campaign_for, campaigns
from reports.exports import campaign_cells_xlsx
from reports.selectors import report_for_download, reports
from results.selectors import campaign_results, participation

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class NoStore:
    """Results, exports and downloads: never kept by a browser or a shared cache."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        add_never_cache_headers(response)
        return response


def _closed(view) -> Campaign:
    campaign = view.campaign()
    if campaign.status != CampaignStatus.CLOSED:
        raise NotVisible("Results exist only for a closed campaign.")
    return campaign


class CampaignView:
    permission_classes = [HasPermission]
    required_permission = Permission.VIEW_CAMPAIGNS

    def campaign(self):
        return campaign_for(access=api_access(self.request), pk=self.kwargs["pk"])


@extend_schema(tags=["campaigns"], responses={200: CampaignSerializer(many=True), **problems()})
class CampaignList(CampaignView, generics.ListAPIView):
    """The campaigns the key may see (scope `campaigns:read`), in the order they were made."""

    serializer_class = CampaignSerializer

    def get_queryset(self):
        return campaigns(access=api_access(self.request)).select_related("instrument")


@extend_schema(tags=["campaigns"], responses={200: CampaignSerializer, **problems(404)})
class CampaignDetail(CampaignView, generics.GenericAPIView):
    """One campaign (scope `campaigns:read`)."""

    serializer_class = CampaignSerializer

    def get(self, request, pk: int):
        return Response(CampaignSerializer(self.campaign()).data)


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
        if external_id := params.get("department"):
            department = Department.objects.visible_to(access).filter(external_id=external_id)
            department = department.first()
            if department is None:
                raise exceptions.ValidationError(
                    {"department": [f"No department with HRIS id '{external_id}'."]}
                )
            cells = cells.filter(department__path__startswith=department.path)
        if domain := params.get("domain"):
            cells = cells.filter(domain_code=domain)
        if breakdown := params.get("breakdown"):
            cells = cells.filter(breakdown_attribute="" if breakdown == "none" else breakdown)
        audit(self.request, campaign, AuditAction.RESULTS_VIEWED, {"page": "api results"})
        return cells


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


@extend_schema(tags=["reports"], responses={200: ReportSerializer(many=True), **problems(404)})
class Reports(CampaignView, generics.ListAPIView):
    """The PDF reports of a campaign the key may see, with their status (scope
    `reports:read`)."""

    required_permission = Permission.VIEW_REPORTS
    serializer_class = ReportSerializer

    def get_queryset(self):
        return reports(access=api_access(self.request), campaign=self.campaign())


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
    path(
        "campaigns/<int:pk>/participation",
        Participation.as_view(),
        name="participation",
    ),
    path("campaigns/<int:pk>/results", Results.as_view(), name="results"),
    path(
        "campaigns/<int:pk>/results.xlsx",
        ResultsExport.as_view(),
        name="results_export",
    ),
    path("campaigns/<int:pk>/reports", Reports.as_view(), name="reports"),
    path(
        "reports/<int:report>/download",
        ReportDownload.as_view(),
        name="report_download",
    ),
]
