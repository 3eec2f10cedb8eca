"""The webhooks API (scope webhooks:manage): endpoints made, read, changed and deleted with the
HR app's rules, the secret only in the answers that make it, test pings, the deliveries with
each attempt, redelivery; recorded under the key's name; another organisation's rows are 404."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from accounts.models import AuditAction, AuditEntry, EventType
from accounts.services import api_key_create, event_record
from tests.factories import OrganizationFactory
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.services import event_dispatch, webhook_endpoint_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def harbour():
    return OrganizationFactory(name="Harbourside", slug="harbourside")


def _client(organization, scopes=("webhooks:manage",), name="ops") -> APIClient:
    _key, raw = api_key_create(organization=organization, name=name, scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


def test_an_endpoint_is_made_with_its_secret_shown_once_then_read_changed_and_deleted(
    harbour, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    client = _client(harbour)
    made = client.post(
        reverse("api:webhook_endpoints"),
        {"url": "https://hris.example.com/plimsoll", "events": ["results.published"]},
        format="json",
    )
    assert made.status_code == 201, made.content
    body = made.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body["secret"] == endpoint.secret and body["secret"].startswith("whsec_")
    assert made["Location"].endswith(reverse("api:webhook_endpoint", kwargs={"pk": endpoint.pk}))
    assert body["events"] == ["results.published"] and body["active"] is True
    read = client.get(reverse("api:webhook_endpoint", kwargs={"pk": endpoint.pk}))
    listed = client.get(reverse("api:webhook_endpoints"))
    for answer in (read, listed):
        assert answer.status_code == 200 and endpoint.secret not in answer.content.decode()
    assert listed.json()["results"][0]["url"] == "https://hris.example.com/plimsoll"
    changed = client.patch(
        reverse("api:webhook_endpoint", kwargs={"pk": endpoint.pk}),
        {"active": False, "description": "HRIS"},
        format="json",
    )
    assert changed.status_code == 200 and changed.json()["active"] is False
    assert changed.json()["description"] == "HRIS"
    gone = client.delete(reverse("api:webhook_endpoint", kwargs={"pk": endpoint.pk}))
    assert gone.status_code == 204 and not WebhookEndpoint.objects.exists()
    actions = list(
        AuditEntry.objects.filter(action__startswith="webhook_")
        .order_by("created_at", "id")
        .values_list("action", "actor_label")
    )
    assert actions == [
        (AuditAction.WEBHOOK_CREATED, "API key ops"),
        (AuditAction.WEBHOOK_UPDATED, "API key ops"),
        (AuditAction.WEBHOOK_DELETED, "API key ops"),
    ]


def test_refusals_name_the_field(harbour, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    client = _client(harbour)
    cases = [
        ({"url": "http://hris.example.com/", "events": ["report.ready"]}, "url", "HTTPS"),
        ({"url": "https://10.0.0.7/", "events": ["report.ready"]}, "url", "private address"),
        ({"url": "https://hris.example.com/", "events": []}, "events", ""),
        ({"url": "https://hris.example.com/", "events": ["webhook.ping"]}, "events[0]", ""),
    ]
    for body, field, words in cases:
        answer = client.post(reverse("api:webhook_endpoints"), body, format="json")
        assert answer.status_code == 400, answer.content
        assert answer["Content-Type"].startswith("application/problem+json")
        (error,) = answer.json()["errors"]
        assert error["field"] == field and words in error["detail"], error
    endpoint, _ = webhook_endpoint_create(
        organization=harbour, url="https://hris.example.com/", events=["report.ready"]
    )
    answer = client.patch(
        reverse("api:webhook_endpoint", kwargs={"pk": endpoint.pk}),
        {"url": "https://localhost/x"},
        format="json",
    )
    assert answer.status_code == 400 and answer.json()["errors"][0]["field"] == "url"
    assert not AuditEntry.objects.filter(action=AuditAction.WEBHOOK_CREATED).count() > 1


def test_rotate_ping_deliveries_and_redeliver(
    harbour, settings, django_capture_on_commit_callbacks, receiver
):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    receiver.answers = [500, 200]
    client = _client(harbour)
    endpoint, old = webhook_endpoint_create(
        organization=harbour, url=receiver.url, events=["report.ready"]
    )
    rotated = client.post(reverse("api:webhook_rotate_secret", kwargs={"pk": endpoint.pk}))
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new != old and rotated.json()["previous_secret_expires_at"]
    with django_capture_on_commit_callbacks(execute=True):
        pinged = client.post(reverse("api:webhook_ping", kwargs={"pk": endpoint.pk}))
    assert pinged.status_code == 202 and pinged.json()["event_type"] == "webhook.ping"
    (got,) = receiver.got
    Webhook(old).verify(got.body, got.headers)
    Webhook(new).verify(got.body, got.headers)
    listed = client.get(reverse("api:webhook_deliveries", kwargs={"pk": endpoint.pk})).json()
    (delivery,) = listed["results"]
    assert delivery["status"] == DeliveryStatus.PENDING and delivery["attempts"] == 1
    assert delivery["last_status_code"] == 500 and delivery["event_id"] == str(
        WebhookDelivery.objects.get().event_id
    )
    assert [a["status_code"] for a in delivery["log"]] == [500]
    assert new not in str(listed) and old not in str(listed)
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(reverse("api:webhook_redeliver", kwargs={"pk": delivery["id"]}))
    assert again.status_code == 202
    WebhookDelivery.objects.get().refresh_from_db()
    redone = client.get(reverse("api:webhook_deliveries", kwargs={"pk": endpoint.pk})).json()
    assert [a["status_code"] for a in redone["results"][0]["log"]] == [500, 200]
    assert redone["results"][0]["status"] == DeliveryStatus.SUCCEEDED
    assert AuditEntry.objects.filter(
        action=AuditAction.WEBHOOK_REDELIVERED, actor_label="API key ops"
    ).exists()
    client.patch(
        reverse("api:webhook_endpoint", kwargs={"pk": endpoint.pk}), {"active": False}, "json"
    )
    refused = client.post(reverse("api:webhook_redeliver", kwargs={"pk": delivery["id"]}))
    assert refused.status_code == 400 and "switched off" in refused.json()["detail"]
    refused = client.post(reverse("api:webhook_ping", kwargs={"pk": endpoint.pk}))
    assert refused.status_code == 400


def test_another_organisations_endpoints_and_deliveries_are_not_found(harbour):
    other = OrganizationFactory(name="Tidewater", slug="tidewater")
    theirs, secret = webhook_endpoint_create(
        organization=other, url="https://tide.example.com/", events=["report.ready"]
    )
    event = event_record(organization=other, type=EventType.REPORT_READY, data={})
    event_dispatch(event_id=str(event.pk))
    delivery = WebhookDelivery.objects.get()
    client = _client(harbour)
    assert client.get(reverse("api:webhook_endpoints")).json()["results"] == []
    for name, method in (
        ("webhook_endpoint", "get"),
        ("webhook_endpoint", "patch"),
        ("webhook_endpoint", "delete"),
        ("webhook_rotate_secret", "post"),
        ("webhook_ping", "post"),
        ("webhook_deliveries", "get"),
    ):
        url = reverse(f"api:{name}", kwargs={"pk": theirs.pk})
        answer = getattr(client, method)(url, {"description": "mine"}, format="json")
        assert answer.status_code == 404, (name, method)
        assert "tide.example.com" not in answer.content.decode()
    url = reverse("api:webhook_redeliver", kwargs={"pk": delivery.pk})
    assert client.post(url).status_code == 404
    theirs.refresh_from_db()
    assert theirs.secret == secret and theirs.description == ""
    # A key without the scope is refused, naming it.
    reader = _client(harbour, scopes=("results:read",), name="reader")
    refused = reader.get(reverse("api:webhook_endpoints"))
    assert refused.status_code == 403 and "webhooks:manage" in refused.json()["detail"]


def test_a_test_ping_is_recorded_and_list_item_errors_name_their_index(harbour, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    endpoint, _secret = webhook_endpoint_create(
        organization=harbour, url="https://hris.example.com/hook", events=["report.ready"]
    )
    client = _client(harbour, name="HRIS")
    from unittest import mock

    with mock.patch("webhooks.services._enqueue_delivery"):
        pinged = client.post(reverse("api:webhook_ping", kwargs={"pk": endpoint.pk}))
    assert pinged.status_code == 202, pinged.content
    entry = AuditEntry.objects.get(action=AuditAction.WEBHOOK_PINGED)
    assert entry.actor_label == "API key HRIS" and entry.subject.startswith(
        f"webhook {endpoint.pk}"
    )
    bad = client.patch(
        reverse("api:webhook_endpoint", kwargs={"pk": endpoint.pk}),
        {"events": ["report.ready", "nonsense"]},
        format="json",
    )
    assert bad.status_code == 400
    assert [error["field"] for error in bad.json()["errors"]] == ["events[1]"]


def test_a_repeated_create_is_not_done_twice_and_its_secret_is_not_kept(harbour, settings):
    from api.models import IdempotentRequest

    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    client = _client(harbour)
    body = {"url": "https://hris.example.com/hook", "events": ["results.published"]}
    first = client.post(
        reverse("api:webhook_endpoints"), body, format="json", HTTP_IDEMPOTENCY_KEY="make-1"
    )
    assert first.status_code == 201 and first.json()["secret"].startswith("whsec_")
    again = client.post(
        reverse("api:webhook_endpoints"), body, format="json", HTTP_IDEMPOTENCY_KEY="make-1"
    )
    assert again.status_code == 409, again.content
    assert "rotate it" in again.json()["detail"]
    assert WebhookEndpoint.objects.count() == 1
    record = IdempotentRequest.objects.get(key="make-1")
    assert record.secret_withheld and bytes(record.body) == b""
    assert first.json()["secret"].encode() not in bytes(record.body)
