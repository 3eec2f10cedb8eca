"""Reads for webhooks: an organisation's endpoints and their deliveries, for those who manage
them (admins; API keys with webhooks:manage). Another organisation's rows are never found."""

from __future__ import annotations

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from accounts.permissions import Access, NotVisible, Permission
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def webhook_endpoints(*, access: Access) -> QuerySet[WebhookEndpoint]:
    """The organisation's endpoints, newest first, each with its last delivery's status and
    time (`last_status`, `last_delivery_at`)."""
    access.require(Permission.MANAGE_WEBHOOKS)
    last = WebhookDelivery.objects.filter(endpoint=OuterRef("pk")).order_by("-created_at", "-id")
    return (
        WebhookEndpoint.objects.for_organization(access.organization_id)
        .select_related("created_by")
        .annotate(
            last_status=Subquery(last.values("status")[:1]),
            last_delivery_at=Subquery(last.values("created_at")[:1]),
        )
        .order_by("-created_at", "-id")
    )


def webhook_endpoint_for(*, access: Access, pk: int) -> WebhookEndpoint:
    found = webhook_endpoints(access=access).filter(pk=pk).first()
    if found is None:
        raise NotVisible("No such webhook endpoint here.")
    return found


def webhook_deliveries(
    *, access: Access, endpoint: WebhookEndpoint | None = None
) -> QuerySet[WebhookDelivery]:
    """Deliveries, newest first, with their event, endpoint and log of attempts; of one
    endpoint, or of the whole organisation."""
    access.require(Permission.MANAGE_WEBHOOKS)
    rows = WebhookDelivery.objects.for_organization(access.organization_id)
    if endpoint is not None:
        rows = rows.filter(endpoint=endpoint)
    return (
        rows.select_related("event", "endpoint")
        .prefetch_related(
            Prefetch("attempt_log", queryset=WebhookAttempt.objects.order_by("started_at", "id"))
        )
        .order_by("-created_at", "-id")
    )


def webhook_delivery_for(*, access: Access, pk: int) -> WebhookDelivery:
    found = webhook_deliveries(access=access).filter(pk=pk).first()
    if found is None:
        raise NotVisible("No such webhook delivery here.")
    return found
