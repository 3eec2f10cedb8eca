"""Action plans: list, create and update, with the same rules as the HR app: actions of the
campaigns and departments the caller sees (a manager's own subtree only), for a launched
campaign; once made, an action's campaign, department and domain stay."""

from __future__ import annotations

from django.db import transaction
from django.urls import path, reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, parsers, status
from rest_framework.response import Response

from accounts.models import AuditAction
from accounts.permissions import Access, NotVisible, Permission
from api.access import HasPermission, api_access, audit
from api.pagination import Cursor
from api.problems import problems
from api.serializers import ActionCreateSerializer, ActionSerializer, ActionUpdateSerializer
from api.views.campaigns import department_by_external_id
from assessments.models import Campaign, CampaignStatus
from assessments.selectors import campaigns
from reports.models import Action, ActionStatus
from reports.selectors import OPEN_ACTION_STATUSES, actions
from reports.services import action_create, action_update

# Fixed once an action exists: what it was agreed for (as on the HR app's action form).
LOCKED_AFTER_CREATE = ("campaign", "department", "domain")


def _flag(request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise exceptions.ValidationError({name: [f"'{raw}' is not true or false."]})


def _campaign(access: Access, value, field: str) -> Campaign:
    """A campaign the access sees that actions may belong to: launched, not a draft."""
    pk = int(value) if str(value).isdigit() else None
    found = None
    if pk is not None:
        found = campaigns(access=access).exclude(status=CampaignStatus.DRAFT).filter(pk=pk).first()
    if found is None:
        raise exceptions.ValidationError(
            {field: [f"No launched campaign with id '{value}' here (a draft has no actions)."]}
        )
    return found


class ActionView:
    permission_classes = [HasPermission]
    parser_classes = [parsers.JSONParser]
    required_permission = {
        "GET": Permission.VIEW_ACTIONS,
        "POST": Permission.MANAGE_ACTIONS,
        "PATCH": Permission.MANAGE_ACTIONS,
    }
    # The services call the domain `domain_code`; the API calls it `domain`.
    service_fields = {"domain_code": "domain"}


@extend_schema_view(
    get=extend_schema(
        tags=["actions"],
        parameters=[
            OpenApiParameter("campaign", OpenApiTypes.INT, description="One campaign's actions."),
            OpenApiParameter(
                "department",
                OpenApiTypes.STR,
                description="A department's HRIS id: its actions and those of everything below.",
            ),
            OpenApiParameter("domain", OpenApiTypes.STR, description="One domain's code."),
            OpenApiParameter(
                "status", OpenApiTypes.STR, enum=ActionStatus.values, description="One status."
            ),
            OpenApiParameter(
                "overdue",
                OpenApiTypes.BOOL,
                description="`true`: only open actions (planned, in progress) past their due date.",
            ),
        ],
        responses={200: ActionSerializer(many=True), **problems(400)},
    ),
    post=extend_schema(
        tags=["actions"],
        summary="Record an action",
        description=(
            "An action agreed for one department (by its HRIS id) and domain of a launched "
            "campaign (scope `campaigns:write`). A manager signed in records actions in their "
            "own departments only."
        ),
        request=ActionCreateSerializer,
        responses={201: ActionSerializer, **problems(400)},
        examples=[
            OpenApiExample(
                "An action",
                request_only=True,
                value={
                    "campaign": 7,
                    "department": "D-120",
                    "domain": "demands",
                    "title": "Map the team's workload together",
                    "owner": "Head of warehouse operations",
                    "due_date": "2031-09-30",
                    "status": "planned",
                    "description": "Agreed at the team meeting.",
                },
            )
        ],
    ),
)
class ActionList(ActionView, generics.ListAPIView):
    """The action plans the key may see, oldest first (scope `campaigns:write` or
    `results:read`), filtered like the HR app's actions page."""

    serializer_class = ActionSerializer
    pagination_class = Cursor

    def get_queryset(self):
        access = api_access(self.request)
        rows = actions(access=access)
        params = self.request.query_params
        if value := params.get("campaign"):
            pk = int(value) if value.isdigit() else None
            campaign = campaigns(access=access).filter(pk=pk).first() if pk else None
            if campaign is None:
                raise exceptions.ValidationError({"campaign": [f"No campaign with id '{value}'."]})
            rows = rows.filter(campaign=campaign)
        if external_id := params.get("department"):
            department = department_by_external_id(access, external_id, "department")
            rows = rows.filter(department__path__startswith=department.path)
        if domain := params.get("domain"):
            rows = rows.filter(domain_code=domain)
        if wanted := params.get("status"):
            if wanted not in ActionStatus.values:
                raise exceptions.ValidationError(
                    {"status": [f"'{wanted}' is not one of {', '.join(ActionStatus.values)}."]}
                )
            rows = rows.filter(status=wanted)
        overdue = _flag(self.request, "overdue")
        late = {"status__in": OPEN_ACTION_STATUSES, "due_date__lt": timezone.localdate()}
        if overdue is True:
            rows = rows.filter(**late)
        elif overdue is False:
            rows = rows.exclude(**late)
        return rows

    def post(self, request):
        access = api_access(request)
        body = ActionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        values["campaign"] = _campaign(access, values["campaign"], "campaign")
        values["department"] = department_by_external_id(access, values["department"], "department")
        values["domain_code"] = values.pop("domain")
        with transaction.atomic():
            action = action_create(**values)
            audit(request, action, AuditAction.ACTION_CREATED, _detail(action))
        location = reverse("api:action", kwargs={"pk": action.pk})
        return Response(
            ActionSerializer(action).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": request.build_absolute_uri(location)},
        )


def _detail(action: Action) -> dict:
    return {"department": action.department.name, "domain": action.domain_code}


@extend_schema_view(
    get=extend_schema(tags=["actions"], responses={200: ActionSerializer, **problems(404)}),
    patch=extend_schema(
        tags=["actions"],
        summary="Change an action",
        description=(
            "Change an action's title, owner, due date, status or notes (scope "
            "`campaigns:write`); send only what changes. Its campaign, department and domain "
            "stay as they were agreed (400)."
        ),
        request=ActionUpdateSerializer,
        responses={200: ActionSerializer, **problems(400, 404)},
        examples=[OpenApiExample("Done", request_only=True, value={"status": "done"})],
    ),
)
class ActionDetail(ActionView, generics.GenericAPIView):
    """One action the key may see (scope `campaigns:write` or `results:read`)."""

    serializer_class = ActionSerializer

    def _action(self) -> Action:
        found = actions(access=api_access(self.request)).filter(pk=self.kwargs["pk"]).first()
        if found is None:
            raise NotVisible("No such action here.")
        return found

    def get(self, request, pk: int):
        return Response(ActionSerializer(self._action()).data)

    def patch(self, request, pk: int):
        action = self._action()
        body = ActionUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        agreed = {
            "campaign": action.campaign_id,
            "department": action.department.external_id,
            "domain": action.domain_code,
        }
        # Sent back unchanged they are no attempt to change them (the HR form shows them fixed).
        if locked := [
            name
            for name in LOCKED_AFTER_CREATE
            if name in request.data and str(request.data[name]) != str(agreed[name])
        ]:
            raise exceptions.ValidationError(
                {
                    name: ["Fixed once the action exists: record a new action instead."]
                    for name in locked
                }
            )
        with transaction.atomic():
            updated = action_update(action=action, **body.validated_data)
            audit(request, updated, AuditAction.ACTION_UPDATED, _detail(updated))
        return Response(ActionSerializer(updated).data)


urlpatterns = [
    path("actions", ActionList.as_view(), name="actions"),
    path("actions/<int:pk>", ActionDetail.as_view(), name="action"),
]
