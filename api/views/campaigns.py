"""Campaigns, their participation and their results: the same selectors as the HR pages."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics
from rest_framework.response import Response

from accounts.models import ApiKey, AuditAction, Department
from accounts.permissions import NotVisible, Permission
from accounts.services import audit_record
from api.access import HasPermission, api_access
from api.problems import problems
from api.serializers import CampaignSerializer, CellSerializer, ParticipationSerializer
from assessments.models import CampaignStatus
from assessments.selectors import campaign_for, campaigns
from results.selectors import campaign_results, participation


class CampaignView:
    permission_classes = [HasPermission]
    required_permission = Permission.VIEW_CAMPAIGNS

    def campaign(self):
        return campaign_for(access=api_access(self.request), pk=self.kwargs["pk"])


@extend_schema(tags=["campaigns"], responses={200: CampaignSerializer(many=True), **problems()})
class CampaignList(CampaignView, generics.ListAPIView):
    """The campaigns the key may see (scope `campaigns:read`), the newest first by id."""

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
class Results(CampaignView, generics.ListAPIView):
    """The cells of a closed campaign's current run (scope `results:read`). Suppressed cells
    are listed with `suppressed: true` and no figure. Every read is in the audit trail."""

    required_permission = Permission.VIEW_RESULTS
    serializer_class = CellSerializer

    def get_queryset(self):
        access = api_access(self.request)
        campaign = self.campaign()
        if campaign.status != CampaignStatus.CLOSED:
            raise NotVisible("Results exist only for a closed campaign.")
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
        audit_record(
            organization=access.organization_id,
            actor=None if isinstance(self.request.auth, ApiKey) else self.request.user,
            actor_label=access.label,
            action=AuditAction.RESULTS_VIEWED,
            subject=f"campaign {campaign.pk}: {campaign.name}",
            detail={"page": "api results"},
        )
        return cells
