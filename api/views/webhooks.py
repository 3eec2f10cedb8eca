"""Webhook endpoints, their deliveries, redelivery and test pings (scope `webhooks:manage`),
with the same services and rules as the HR app's webhooks pages. A secret is in the answer that
made it (create, rotate-secret) and in no other."""

from __future__ import annotations

from django.core.exceptions import ValidationError as ServiceError
from django.urls import path, reverse
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, parsers, serializers, status
from rest_framework.response import Response

from accounts.permissions import Permission
from api.access import HasPermission, acting, api_access
from api.middleware import withheld
from api.pagination import Cursor
from api.problems import problems
from webhooks.models import DeliveryStatus
from webhooks.selectors import (
    webhook_deliveries,
    webhook_delivery_for,
    webhook_endpoint_for,
    webhook_endpoints,
)
from webhooks.services import (
    SUBSCRIBABLE,
    delivery_redeliver,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
    webhook_ping,
    webhook_secret_rotate,
)

TAGS = ["webhooks"]

# --- What the API answers and accepts: plain fields, no logic --------------------------------


class WebhookEndpointSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    events = serializers.ListField(child=serializers.CharField())
    active = serializers.BooleanField(source="is_active")
    disabled_reason = serializers.CharField(
        allow_blank=True,
        help_text="Why Plimsoll stopped sending (e.g. the endpoint answered 410 Gone); empty "
        "when it is active or was switched off by hand.",
    )
    previous_secret_expires_at = serializers.DateTimeField(
        allow_null=True,
        help_text="After a rotation, events are signed with the old secret too until then.",
    )
    created_at = serializers.DateTimeField()


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (Standard Webhooks, `whsec_…`). Shown only in this answer."
    )


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, help_text="HTTPS, to a public address.")
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE), allow_empty=False
    )


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE), allow_empty=False, required=False
    )
    active = serializers.BooleanField(
        required=False, help_text="`false` stops sending and cancels deliveries still waiting."
    )


class WebhookAttemptSerializer(serializers.Serializer):
    started_at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    duration_ms = serializers.IntegerField()


class WebhookDeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    endpoint = serializers.IntegerField(source="endpoint_id")
    event_id = serializers.UUIDField(help_text="The `webhook-id` header the receiver got.")
    event_type = serializers.CharField(source="event.type")
    status = serializers.ChoiceField(
        choices=DeliveryStatus.values,
        help_text="pending (waiting for its next attempt), succeeded, failed (gave up) or "
        "cancelled (the endpoint was switched off).",
    )
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    last_status_code = serializers.IntegerField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    log = WebhookAttemptSerializer(source="attempt_log", many=True)


# --- Views -------------------------------------------------------------------------------------


def _refused(exc: ServiceError) -> exceptions.ValidationError:
    """A service's refusal in the API's terms: by field where it names one."""
    return exceptions.ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else exc.messages
    )


class WebhookView:
    permission_classes = [HasPermission]
    required_permission = Permission.MANAGE_WEBHOOKS
    parser_classes = [parsers.JSONParser]

    def endpoint(self):
        return webhook_endpoint_for(access=api_access(self.request), pk=self.kwargs["pk"])


@extend_schema_view(
    get=extend_schema(
        tags=TAGS, responses={200: WebhookEndpointSerializer(many=True), **problems()}
    ),
    post=extend_schema(
        tags=TAGS,
        summary="Add an endpoint",
        description=(
            "An endpoint receives the events it subscribes to, each signed with its secret "
            "(Standard Webhooks headers `webhook-id`, `webhook-timestamp`, `webhook-signature`). "
            "The answer holds the secret, the only time it is shown."
        ),
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointWithSecretSerializer, **problems(400)},
        examples=[
            OpenApiExample(
                "An HRIS",
                request_only=True,
                value={
                    "url": "https://hris.example.com/plimsoll",
                    "description": "HRIS",
                    "events": ["campaign.closed", "results.published"],
                },
            )
        ],
    ),
)
class EndpointList(WebhookView, generics.ListAPIView):
    """The organisation's webhook endpoints, in the order they were made."""

    serializer_class = WebhookEndpointSerializer
    pagination_class = Cursor

    def get_queryset(self):
        return webhook_endpoints(access=api_access(self.request))

    def post(self, request):
        body = WebhookEndpointCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        who = acting(request)
        try:
            endpoint, _secret = webhook_endpoint_create(
                organization=api_access(request).organization_id,
                created_by=who["actor"],
                actor_label=who["actor_label"],
                **body.validated_data,
            )
        except ServiceError as exc:
            raise _refused(exc) from exc
        location = reverse("api:webhook_endpoint", kwargs={"pk": endpoint.pk})
        return withheld(
            Response(
                WebhookEndpointWithSecretSerializer(endpoint).data,
                status=status.HTTP_201_CREATED,
                headers={"Location": request.build_absolute_uri(location)},
            )
        )


@extend_schema_view(
    get=extend_schema(tags=TAGS, responses={200: WebhookEndpointSerializer, **problems(404)}),
    patch=extend_schema(
        tags=TAGS,
        summary="Change an endpoint",
        description="Send only what changes. Switching it on again clears `disabled_reason`.",
        request=WebhookEndpointUpdateSerializer,
        responses={200: WebhookEndpointSerializer, **problems(400, 404)},
        examples=[OpenApiExample("Back on", request_only=True, value={"active": True})],
    ),
    delete=extend_schema(
        tags=TAGS,
        summary="Delete an endpoint",
        description="With its deliveries and their log; nothing more is sent to it.",
        responses={204: None, **problems(404)},
    ),
)
class EndpointDetail(WebhookView, generics.GenericAPIView):
    """One webhook endpoint (never its secret)."""

    serializer_class = WebhookEndpointSerializer

    def get(self, request, pk: int):
        return Response(WebhookEndpointSerializer(self.endpoint()).data)

    def patch(self, request, pk: int):
        endpoint = self.endpoint()
        body = WebhookEndpointUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        if "active" in changes:
            changes["is_active"] = changes.pop("active")
        who = acting(request)
        try:
            updated = webhook_endpoint_update(
                endpoint=endpoint,
                updated_by=who["actor"],
                actor_label=who["actor_label"],
                **changes,
            )
        except ServiceError as exc:
            raise _refused(exc) from exc
        return Response(WebhookEndpointSerializer(updated).data)

    def delete(self, request, pk: int):
        who = acting(request)
        webhook_endpoint_delete(
            endpoint=self.endpoint(), deleted_by=who["actor"], actor_label=who["actor_label"]
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    tags=TAGS,
    summary="Rotate the signing secret",
    description=(
        "A new secret, in this answer only. For 24 hours events carry a signature with the old "
        "secret too (Standard Webhooks sends several), so the receiver can switch at its pace."
    ),
    request=None,
    responses={200: WebhookEndpointWithSecretSerializer, **problems(404)},
)
class EndpointRotateSecret(WebhookView, generics.GenericAPIView):
    serializer_class = WebhookEndpointWithSecretSerializer

    def post(self, request, pk: int):
        who = acting(request)
        endpoint, _secret = webhook_secret_rotate(
            endpoint=self.endpoint(), rotated_by=who["actor"], actor_label=who["actor_label"]
        )
        return withheld(Response(WebhookEndpointWithSecretSerializer(endpoint).data))


@extend_schema(
    tags=TAGS,
    summary="Send a test ping",
    description=(
        "A signed `webhook.ping` event to this endpoint only, sent at once; follow it in the "
        "endpoint's deliveries. Refused (400) while the endpoint is switched off."
    ),
    request=None,
    responses={202: WebhookDeliverySerializer, **problems(400, 404)},
)
class EndpointPing(WebhookView, generics.GenericAPIView):
    serializer_class = WebhookDeliverySerializer

    def post(self, request, pk: int):
        who = acting(request)
        try:
            delivery = webhook_ping(
                endpoint=self.endpoint(), requested_by=who["actor"], actor_label=who["actor_label"]
            )
        except ServiceError as exc:
            raise _refused(exc) from exc
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(
    tags=TAGS,
    summary="An endpoint's deliveries",
    description=(
        "Every event sent to the endpoint, oldest first, with each attempt. A failed delivery "
        "is tried again after about 30 s, 2 and 10 min, 30 min, 1, 3, 6 and 12 h, then given "
        "up; 410 Gone switches the endpoint off."
    ),
    responses={200: WebhookDeliverySerializer(many=True), **problems(404)},
)
class EndpointDeliveries(WebhookView, generics.ListAPIView):
    serializer_class = WebhookDeliverySerializer
    pagination_class = Cursor

    def get_queryset(self):
        return webhook_deliveries(access=api_access(self.request), endpoint=self.endpoint())


@extend_schema(
    tags=TAGS,
    summary="Redeliver",
    description=(
        "Send a delivery again now: the same event under the same `webhook-id`, so a receiver "
        "that has it already can drop it. Refused (400) while its endpoint is switched off or "
        "an attempt is under way."
    ),
    request=None,
    responses={202: WebhookDeliverySerializer, **problems(400, 404)},
)
class DeliveryRedeliver(WebhookView, generics.GenericAPIView):
    serializer_class = WebhookDeliverySerializer

    def post(self, request, pk: int):
        delivery = webhook_delivery_for(access=api_access(request), pk=pk)
        who = acting(request)
        try:
            delivery_redeliver(
                delivery=delivery, requested_by=who["actor"], actor_label=who["actor_label"]
            )
        except ServiceError as exc:
            raise _refused(exc) from exc
        delivery = webhook_delivery_for(access=api_access(request), pk=pk)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


urlpatterns = [
    path("webhooks/endpoints", EndpointList.as_view(), name="webhook_endpoints"),
    path("webhooks/endpoints/<int:pk>", EndpointDetail.as_view(), name="webhook_endpoint"),
    path(
        "webhooks/endpoints/<int:pk>/rotate-secret",
        EndpointRotateSecret.as_view(),
        name="webhook_rotate_secret",
    ),
    path("webhooks/endpoints/<int:pk>/ping", EndpointPing.as_view(), name="webhook_ping"),
    path(
        "webhooks/endpoints/<int:pk>/deliveries",
        EndpointDeliveries.as_view(),
        name="webhook_deliveries",
    ),
    path(
        "webhooks/deliveries/<int:pk>/redeliver",
        DeliveryRedeliver.as_view(),
        name="webhook_redeliver",
    ),
]
