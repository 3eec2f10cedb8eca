"""The webhooks lines of the API access table (see tests/api/table.py)."""

from __future__ import annotations

from accounts.models import ApiScope
from accounts.services import event_record
from tests.api.table import Line
from webhooks.services import event_dispatch, webhook_endpoint_create

MANAGE = (ApiScope.WEBHOOKS_MANAGE,)
URL = "https://hooks.example.com/plimsoll"

LINES: list[Line] = [
    Line("webhook_endpoints", MANAGE),
    Line(
        "webhook_endpoints",
        MANAGE,
        method="post",
        body={"url": URL, "description": "HRIS", "events": ["campaign.closed"]},
    ),
    Line("webhook_endpoint", MANAGE, {"pk": "@endpoint"}, detail=True),
    Line(
        "webhook_endpoint",
        MANAGE,
        {"pk": "@endpoint"},
        detail=True,
        method="patch",
        body={"description": "HRIS (renamed)"},
    ),
    # Each call deletes an endpoint of its own, so every caller the table allows finds one.
    Line("webhook_endpoint", MANAGE, {"pk": "@fresh_endpoint"}, detail=True, method="delete"),
    Line("webhook_rotate_secret", MANAGE, {"pk": "@endpoint"}, detail=True, method="post"),
    Line("webhook_ping", MANAGE, {"pk": "@endpoint"}, detail=True, method="post"),
    Line("webhook_deliveries", MANAGE, {"pk": "@endpoint"}, detail=True),
    Line("webhook_redeliver", MANAGE, {"pk": "@delivery"}, detail=True, method="post"),
]


class FreshEndpoint:
    """A new endpoint of the organisation each time its `pk` is read."""

    def __init__(self, organization):
        self.organization = organization

    @property
    def pk(self) -> int:
        return webhook_endpoint_create(
            organization=self.organization, url=URL, events=["report.ready"]
        )[0].pk


def targets(world) -> dict:
    """An endpoint with one delivery (never sent: nothing commits in these tests)."""
    organization = world["organization"]
    endpoint, _ = webhook_endpoint_create(
        organization=organization, url=URL, events=["report.ready"]
    )
    event = event_record(organization=organization, type="report.ready", data={})
    event_dispatch(event_id=str(event.pk))
    return {
        "endpoint": endpoint,
        "delivery": endpoint.deliveries.get(),
        "fresh_endpoint": FreshEndpoint(organization),
    }
