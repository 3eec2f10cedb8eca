"""Delivering events to a real HTTP receiver: Standard Webhooks signatures the library itself
verifies, retries with backoff until the receiver answers, 410 switching the endpoint off,
giving up after the last attempt, redirects not followed, long answers not read, manual
redelivery, and failures that never reach the code that caused the event."""

from __future__ import annotations

import datetime as dt
import json
import socket
import time

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts.models import AuditAction, AuditEntry, EventType
from accounts.services import event_record
from tests.factories import OrganizationFactory
from webhooks import services, transport
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.services import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    delivery_redeliver,
    webhook_endpoint_create,
    webhooks_sweep,
)

pytestmark = pytest.mark.django_db

LAUNCHED = {"campaign": {"id": 7, "name": "Spring pulse"}}


@pytest.fixture(autouse=True)
def _loopback_receivers_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True


@pytest.fixture
def harbour(db):
    return OrganizationFactory(name="Harbourside", slug="harbourside")


def _endpoint(organization, url, events=(EventType.CAMPAIGN_LAUNCHED,)):
    return webhook_endpoint_create(organization=organization, url=url, events=list(events))


def _announce(organization, capture, type=EventType.CAMPAIGN_LAUNCHED, data=LAUNCHED):
    """Record an event and commit: it is dispatched and delivered (tasks run in process)."""
    with capture(execute=True):
        return event_record(organization=organization, type=type, data=data)


def _due_now() -> None:
    """Let time pass until every pending delivery is due (its task was sent long ago)."""
    now = timezone.now()
    WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).update(
        next_attempt_at=now - dt.timedelta(seconds=1), queued_at=now - dt.timedelta(days=1)
    )


def _log(delivery: WebhookDelivery) -> list[int | None]:
    return list(delivery.attempt_log.values_list("status_code", flat=True))


def test_a_delivery_carries_standard_webhooks_headers_the_library_verifies(
    harbour, receiver, django_capture_on_commit_callbacks
):
    endpoint, secret = _endpoint(harbour, receiver.url)
    assert secret.startswith("whsec_") and secret not in endpoint.url
    event = _announce(harbour, django_capture_on_commit_callbacks)
    (got,) = receiver.got
    assert got.path == "/hooks/plimsoll"
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-id"] == str(event.pk)  # the receiver drops repeats by it
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload == {
        "type": "campaign.launched",
        "timestamp": event.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "data": {"campaign": {"id": 7, "name": "Spring pulse"}},
    }
    # Another secret, or a changed body, does not verify.
    other, _ = _endpoint(harbour, receiver.url)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(other.secret).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(secret).verify(got.body.replace(b"Spring", b"Autumn"), got.headers)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 1
    assert delivery.last_status_code == 200 and delivery.next_attempt_at is None
    assert _log(delivery) == [200]
    event.refresh_from_db()
    assert event.dispatched_at is not None


def test_a_receiver_that_fails_twice_gets_the_event_again_until_it_answers(
    harbour, receiver, django_capture_on_commit_callbacks
):
    receiver.answers = [500, 500, 200]
    endpoint, secret = _endpoint(harbour, receiver.url)
    event = _announce(harbour, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    waits = []
    for _ in range(2):
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.PENDING
        waits.append(delivery.next_attempt_at - delivery.last_attempt_at)
        assert webhooks_sweep() == {"dispatched": 0, "sent": 0}  # not due yet: nothing sent
        _due_now()
        with django_capture_on_commit_callbacks(execute=True):
            assert webhooks_sweep() == {"dispatched": 0, "sent": 1}
    # About 30 s, then about 2 minutes, each give or take a fifth.
    for wait, base in zip(waits, RETRY_DELAYS, strict=False):
        assert base * 0.79 <= wait <= base * 1.21, (wait, base)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 3
    assert (delivery.last_status_code, delivery.last_error) == (200, "")
    assert _log(delivery) == [500, 500, 200]
    attempts = list(delivery.attempt_log.all())
    assert attempts[0].error == "HTTP 500 Internal Server Error"
    assert all(a.duration_ms < 5000 for a in attempts)
    # The same event each time, under the same id, freshly signed.
    assert len(receiver.got) == 3
    assert {got.headers["webhook-id"] for got in receiver.got} == {str(event.pk)}
    assert len({got.body for got in receiver.got}) == 1
    for got in receiver.got:
        Webhook(secret).verify(got.body, got.headers)
    _due_now()
    assert webhooks_sweep()["sent"] == 0 and len(receiver.got) == 3  # delivered: never again


def test_410_gone_switches_the_endpoint_off_and_stops(
    harbour, receiver, django_capture_on_commit_callbacks
):
    receiver.answers = [410]
    endpoint, _ = _endpoint(harbour, receiver.url)
    with django_capture_on_commit_callbacks():  # an earlier event whose delivery still waits
        waiting = event_record(
            organization=harbour, type=EventType.CAMPAIGN_LAUNCHED, data=LAUNCHED
        )
        services.event_dispatch(event_id=str(waiting.pk))
    _announce(harbour, django_capture_on_commit_callbacks)
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert "410 Gone" in endpoint.disabled_reason
    statuses = sorted(WebhookDelivery.objects.values_list("status", flat=True))
    assert statuses == [DeliveryStatus.CANCELLED, DeliveryStatus.FAILED]
    entry = AuditEntry.objects.get(action=AuditAction.WEBHOOK_UPDATED)
    assert entry.actor is None and entry.detail["reason"] == "410 Gone"
    _due_now()
    with django_capture_on_commit_callbacks(execute=True):
        webhooks_sweep()
        _announce(harbour, django_capture_on_commit_callbacks)  # a new event: no delivery
    assert len(receiver.got) == 1
    assert WebhookDelivery.objects.count() == 2


def test_a_delivery_gives_up_after_the_last_attempt(
    harbour, receiver, django_capture_on_commit_callbacks
):
    receiver.answers = [503]
    endpoint, _ = _endpoint(harbour, receiver.url)
    _announce(harbour, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    for _ in range(MAX_ATTEMPTS - 1):
        _due_now()
        with django_capture_on_commit_callbacks(execute=True):
            webhooks_sweep()
    delivery.refresh_from_db()
    assert MAX_ATTEMPTS == 9 and delivery.attempts == MAX_ATTEMPTS
    assert delivery.status == DeliveryStatus.FAILED and delivery.next_attempt_at is None
    assert _log(delivery) == [503] * MAX_ATTEMPTS
    assert len(receiver.got) == MAX_ATTEMPTS
    # Over about a day in all: the waits add up to 22 h 42 min, give or take a fifth.
    assert dt.timedelta(hours=22) < sum(RETRY_DELAYS, dt.timedelta()) < dt.timedelta(hours=23)
    endpoint.refresh_from_db()
    assert endpoint.is_active  # failures are not a reason to switch off; only 410 is


def test_a_redirect_is_a_failure_and_is_not_followed(
    harbour, receiver, django_capture_on_commit_callbacks
):
    receiver.answers = [307, 200]
    receiver.location = receiver.url.replace("/plimsoll", "/elsewhere")
    endpoint, _ = _endpoint(harbour, receiver.url)
    _announce(harbour, django_capture_on_commit_callbacks)
    assert [got.path for got in receiver.got] == ["/hooks/plimsoll"]
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 307
    assert delivery.last_error == f"HTTP 307: redirect to {receiver.location} not followed"


def test_a_long_answer_is_not_read_beyond_a_small_limit(receiver):
    receiver.extra_body = b"x" * (20 * 1024 * 1024)
    answer = transport.post(receiver.url, b"{}", {}, allow_private=True)
    assert answer.succeeded and answer.status_code == 200
    assert len(answer.response) <= transport.EXCERPT_LENGTH
    assert answer.duration_ms < 5000


def test_a_receiver_that_keeps_silent_times_out(monkeypatch):
    monkeypatch.setattr(transport, "READ_TIMEOUT", 0.3)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections (the kernel does) and never answers
    try:
        port = silent.getsockname()[1]
        answer = transport.post(f"http://127.0.0.1:{port}/", b"{}", {}, allow_private=True)
    finally:
        silent.close()
    assert answer.status_code is None and answer.error == "No answer within 0.3 s"


def test_a_refused_connection_is_recorded_and_retried(harbour, django_capture_on_commit_callbacks):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    endpoint, _ = _endpoint(harbour, f"http://127.0.0.1:{port}/hook")
    _announce(harbour, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 1
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("Could not connect to 127.0.0.1")
    assert delivery.next_attempt_at > timezone.now()


def test_an_admin_redelivers_a_delivery_now(harbour, receiver, django_capture_on_commit_callbacks):
    endpoint, secret = _endpoint(harbour, receiver.url)
    event = _announce(harbour, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == DeliveryStatus.SUCCEEDED
    with django_capture_on_commit_callbacks(execute=True):
        delivery_redeliver(delivery=delivery, actor_label="API key ops")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 2
    assert _log(delivery) == [200, 200]
    assert [got.headers["webhook-id"] for got in receiver.got] == [str(event.pk)] * 2
    Webhook(secret).verify(receiver.got[1].body, receiver.got[1].headers)
    entry = AuditEntry.objects.get(action=AuditAction.WEBHOOK_REDELIVERED)
    assert entry.actor_label == "API key ops" and entry.detail["event"] == str(event.pk)
    # Not while an attempt is under way, and not to an endpoint that is switched off.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        locked_until=timezone.now() + dt.timedelta(minutes=1)
    )
    with pytest.raises(ValidationError, match="under way"):
        delivery_redeliver(delivery=delivery)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    with pytest.raises(ValidationError, match="switched off"):
        delivery_redeliver(delivery=delivery)
    assert len(receiver.got) == 2


def test_a_failing_delivery_never_reaches_the_code_that_caused_the_event(
    harbour, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    """Tasks run eagerly in the embedded default (and in tests): whatever goes wrong in the
    delivery is recorded on the row, and the request that wrote the event goes on."""
    endpoint, _ = _endpoint(harbour, receiver.url)

    def broken(*args, **kwargs):
        raise RuntimeError("the network stack fell over")

    monkeypatch.setattr(transport, "post", broken)
    _announce(harbour, django_capture_on_commit_callbacks)  # does not raise
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_error == "RuntimeError: the network stack fell over"
    # Even a task that blows up as a whole stays out of the caller.
    monkeypatch.setattr(services, "delivery_attempt", lambda **kwargs: 1 / 0)
    _announce(harbour, django_capture_on_commit_callbacks)
    assert WebhookDelivery.objects.count() == 2 and receiver.got == []


def test_deleting_an_endpoint_during_an_attempt_is_harmless(
    harbour, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    endpoint, _ = _endpoint(harbour, receiver.url)
    real = transport.post

    def post_then_delete(*args, **kwargs):
        answer = real(*args, **kwargs)
        WebhookEndpoint.objects.filter(pk=endpoint.pk).delete()
        return answer

    monkeypatch.setattr(transport, "post", post_then_delete)
    _announce(harbour, django_capture_on_commit_callbacks)
    assert len(receiver.got) == 1 and not WebhookDelivery.objects.exists()


def test_the_body_is_compact_json_of_the_type_the_time_and_the_data(harbour):
    event = event_record(organization=harbour, type=EventType.CAMPAIGN_LAUNCHED, data=LAUNCHED)
    body = services.event_payload(event)
    assert list(json.loads(body)) == ["type", "timestamp", "data"]
    assert body.startswith(b'{"type":"campaign.launched","timestamp":"')
    assert body.endswith(b'"data":{"campaign":{"id":7,"name":"Spring pulse"}}}')
