"""Writes for webhooks: endpoints and their secrets, the fan-out of outbox events into one
delivery per subscribed endpoint, each delivery attempt with its retry schedule, the sweep that
catches what a broker outage dropped, manual redelivery and test pings.

Deliveries are rows first: a delivery is made in the transaction that fans its event out and
sent after commit, one attempt per task. A failed attempt only writes when the next one is due;
the beat sweep sends due deliveries, so retries survive restarts and need no long countdowns in
Redis. Nothing a receiver does (or fails to do) ever raises out of here into the caller.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import random
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from accounts.models import AuditAction, EventType, Organization, OutboxEvent, User
from accounts.services import audit_record
from webhooks import transport
from webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

# Waits before each retry (each ± JITTER, so a receiver that comes back is not hit by every
# delivery at the same second): nine attempts over about a day, then the delivery gives up.
RETRY_DELAYS = (
    dt.timedelta(seconds=30),
    dt.timedelta(minutes=2),
    dt.timedelta(minutes=10),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=1),
    dt.timedelta(hours=3),
    dt.timedelta(hours=6),
    dt.timedelta(hours=12),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
JITTER = 0.2
# After a rotation, deliveries are signed with the old secret too for this long, so the
# receiver can switch at its own pace without refusing events.
SECRET_GRACE = dt.timedelta(hours=24)
# How long an attempt holds its delivery: longer than the deliver task's hard time limit, so a
# live attempt is never doubled and one whose worker died is picked up again.
ATTEMPT_LEASE = dt.timedelta(minutes=2)
# An event not dispatched this long after it was written lost its hand-over to Celery.
DISPATCH_AFTER = dt.timedelta(minutes=1)
# A delivery whose task was sent this recently is left to that task by the sweep.
REQUEUE_AFTER = dt.timedelta(minutes=2)
SWEEP_BATCH = 500

SUBSCRIBABLE = [value for value in EventType.values if value != EventType.PING]
SECRET_PREFIX = "whsec_"
DESCRIPTION_MAX_LENGTH = WebhookEndpoint._meta.get_field("description").max_length
GONE_REASON = "The endpoint answered 410 Gone on {when}, so Plimsoll stopped sending to it."


# --- Endpoints --------------------------------------------------------------------------------


def _new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def endpoint_errors(*, url: str, events, description: str = "") -> dict[str, str]:
    """Problems with an endpoint's settings, by field (empty when all is well). Shared by the
    services, the HR forms and the API, so every way in checks the same rules."""
    errors: dict[str, str] = {}
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_TARGETS
    if problem := transport.url_problem(url, allow_private=allow_private):
        errors["url"] = problem
    if not isinstance(events, list | tuple) or not events:
        errors["events"] = "Choose at least one event: an endpoint without one receives nothing."
    elif unknown := [str(e) for e in events if e not in SUBSCRIBABLE]:
        errors["events"] = (
            f"Unknown event '{unknown[0]}'; the events are {', '.join(SUBSCRIBABLE)}."
        )
    if len(description or "") > DESCRIPTION_MAX_LENGTH:
        errors["description"] = (
            f"Keep the description to {DESCRIPTION_MAX_LENGTH} characters "
            f"(it has {len(description)})."
        )
    return errors


def _events_in_order(events) -> list[str]:
    return [value for value in SUBSCRIBABLE if value in events]


def _audit(endpoint: WebhookEndpoint, action: str, actor, actor_label: str, **detail) -> None:
    audit_record(
        organization=endpoint.organization_id,
        actor=actor,
        actor_label=actor_label,
        action=action,
        subject=f"webhook {endpoint.pk}: {endpoint.url}",
        detail=detail,
    )


@transaction.atomic
def webhook_endpoint_create(
    *,
    organization: Organization | int,
    url: str,
    events: list[str],
    description: str = "",
    created_by: User | None = None,
    actor_label: str = "",
) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint and return it with its signing secret: the one time the secret is
    shown (it is shown again only when rotated)."""
    url, description = (url or "").strip(), (description or "").strip()
    if errors := endpoint_errors(url=url, events=events, description=description):
        raise ValidationError(errors)
    secret = _new_secret()
    endpoint = WebhookEndpoint.objects.create(
        organization_id=getattr(organization, "pk", organization),
        url=url,
        description=description,
        events=_events_in_order(events),
        secret=secret,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    _audit(endpoint, AuditAction.WEBHOOK_CREATED, created_by, actor_label, events=endpoint.events)
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    description: str | None = None,
    events: list[str] | None = None,
    is_active: bool | None = None,
    updated_by: User | None = None,
    actor_label: str = "",
) -> WebhookEndpoint:
    """Change an endpoint's URL, description, events or whether it is active; leave out what
    stays. Switching it off cancels its pending deliveries; switching it on clears the reason
    it was switched off."""
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    wanted = {
        "url": locked.url if url is None else url.strip(),
        "description": locked.description if description is None else description.strip(),
        "events": locked.events if events is None else events,
    }
    if errors := endpoint_errors(**wanted):
        raise ValidationError(errors)
    wanted["events"] = _events_in_order(wanted["events"])
    changed = [name for name, value in wanted.items() if getattr(locked, name) != value]
    for name in changed:
        setattr(locked, name, wanted[name])
    if is_active is not None and is_active != locked.is_active:
        changed.append("is_active")
        locked.is_active = is_active
        locked.disabled_reason = ""
        if not is_active:
            _cancel_pending(locked.pk, "Not sent: the endpoint was switched off.")
    if changed:
        locked.updated_at = timezone.now()
        locked.save()
        _audit(locked, AuditAction.WEBHOOK_UPDATED, updated_by, actor_label, changed=changed)
    return locked


@transaction.atomic
def webhook_endpoint_delete(
    *, endpoint: WebhookEndpoint, deleted_by: User | None = None, actor_label: str = ""
) -> None:
    """Remove an endpoint with its deliveries and their log."""
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    _audit(locked, AuditAction.WEBHOOK_DELETED, deleted_by, actor_label)
    locked.delete()


@transaction.atomic
def webhook_secret_rotate(
    *, endpoint: WebhookEndpoint, rotated_by: User | None = None, actor_label: str = ""
) -> tuple[WebhookEndpoint, str]:
    """Give an endpoint a new secret and return it (shown once). For SECRET_GRACE the old one
    signs too (Standard Webhooks sends several signatures), so nothing is refused while the
    receiver switches. A second rotation within that time drops the oldest secret."""
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    now = timezone.now()
    secret = _new_secret()
    locked.previous_secret = locked.secret
    locked.previous_secret_expires_at = now + SECRET_GRACE
    locked.secret = secret
    locked.updated_at = now
    locked.save()
    _audit(
        locked,
        AuditAction.WEBHOOK_SECRET_ROTATED,
        rotated_by,
        actor_label,
        old_secret_until=locked.previous_secret_expires_at.isoformat(),
    )
    return locked, secret


def signing_secrets(endpoint: WebhookEndpoint, *, now: dt.datetime | None = None) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and the previous one during
    its grace period."""
    now = now or timezone.now()
    found = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        found.append(endpoint.previous_secret)
    return found


def _cancel_pending(endpoint_id: int, why: str, *, keep: int | None = None) -> None:
    WebhookDelivery.objects.filter(endpoint_id=endpoint_id, status=DeliveryStatus.PENDING).exclude(
        pk=keep
    ).update(
        status=DeliveryStatus.CANCELLED,
        next_attempt_at=None,
        finished_at=timezone.now(),
        last_error=why,
    )


# --- Events into deliveries -------------------------------------------------------------------


def event_payload(event: OutboxEvent) -> bytes:
    """The body every endpoint gets for an event: thin, ids and labels only."""
    timestamp = event.created_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    payload = {"type": event.type, "timestamp": timestamp, "data": event.data}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signed_headers(
    *, endpoint: WebhookEndpoint, event: OutboxEvent, body: bytes, now: dt.datetime
) -> dict[str, str]:
    """Standard Webhooks headers: the event id (the same on every retry, so receivers drop
    repeats), the time of this attempt, and a signature with each secret in use."""
    message_id = str(event.pk)
    signatures = [
        Webhook(secret).sign(msg_id=message_id, timestamp=now, data=body)
        for secret in signing_secrets(endpoint, now=now)
    ]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }


def event_dispatch(*, event_id: str) -> int:
    """Make one delivery of the event per active endpoint of its organisation subscribed to its
    type, mark it dispatched, and send them after commit. Safe to run twice: a dispatched event
    is left alone. Returns the number of deliveries made."""
    with transaction.atomic():
        event = OutboxEvent.objects.select_for_update().filter(pk=event_id).first()
        if event is None or event.dispatched_at is not None:
            return 0
        endpoints = [
            endpoint
            for endpoint in WebhookEndpoint.objects.for_organization(event.organization_id)
            .filter(is_active=True)
            .only("pk", "events")
            # The list is short (an organisation's endpoints); JSON containment is not portable.
            if event.type in endpoint.events and event.type != EventType.PING
        ]
        now = timezone.now()
        created = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(
                    organization_id=event.organization_id,
                    endpoint=endpoint,
                    event=event,
                    next_attempt_at=now,
                )
                for endpoint in endpoints
            ]
        )
        event.dispatched_at = now
        event.save(update_fields=["dispatched_at"])
        for delivery in created:
            _enqueue_delivery(delivery.pk)
    return len(created)


def _enqueue_delivery(delivery_id: int) -> None:
    transaction.on_commit(lambda: _send_delivery(delivery_id))


def _send_delivery(delivery_id: int) -> None:
    from webhooks.tasks import deliver as task  # tasks import this module

    try:
        task.delay(delivery_id)
    except Exception:  # noqa: BLE001 - never into the request; the sweep sends due deliveries
        logger.warning("Could not send webhook delivery %s; the sweep will retry", delivery_id)
        return
    WebhookDelivery.objects.filter(pk=delivery_id).update(queued_at=timezone.now())


# --- Attempts -----------------------------------------------------------------------------------


def retry_delay(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed attempt, with jitter."""
    base = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
    # Spreading, not secrecy: the random module is enough.
    return base * random.uniform(1 - JITTER, 1 + JITTER)


def delivery_attempt(*, delivery_id: int) -> WebhookDelivery | None:
    """Make one attempt of a due delivery and record it: success, a retry time, or giving up
    (after MAX_ATTEMPTS, or at once when the endpoint answers 410 Gone, which also switches the
    endpoint off). Safe to run twice and late: a delivery not due, already being tried, or
    finished is left alone (None). Never raises for what the receiver does."""
    now = timezone.now()
    claimed = (
        WebhookDelivery.objects.filter(
            pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now
        )
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + ATTEMPT_LEASE)
    )
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.is_active:
        _cancel_pending(endpoint.pk, "Not sent: the endpoint was switched off.")
        WebhookDelivery.objects.filter(pk=delivery_id).update(locked_until=None)
        return WebhookDelivery.objects.get(pk=delivery_id)
    try:
        body = event_payload(delivery.event)
        headers = signed_headers(endpoint=endpoint, event=delivery.event, body=body, now=now)
        answer = transport.post(
            endpoint.url,
            body,
            headers,
            allow_private=settings.WEBHOOK_ALLOW_PRIVATE_TARGETS,
        )
    except Exception as exc:  # recorded on the delivery like any failure
        logger.exception("Webhook delivery %s failed before an answer", delivery_id)
        answer = transport.Answer(None, f"{type(exc).__name__}: {exc}", "", 0)
    return _record(delivery_id, answer, started=now)


@transaction.atomic
def _record(delivery_id: int, answer: transport.Answer, *, started: dt.datetime):
    delivery = (
        WebhookDelivery.objects.select_for_update(of=("self",))
        .select_related("endpoint")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:  # the endpoint was deleted meanwhile
        return None
    now = timezone.now()
    WebhookAttempt.objects.create(
        delivery=delivery,
        started_at=started,
        duration_ms=answer.duration_ms,
        status_code=answer.status_code,
        error=answer.error,
        response=answer.response,
    )
    delivery.attempts += 1
    delivery.last_attempt_at = started
    delivery.last_status_code = answer.status_code
    delivery.last_error = answer.error
    delivery.locked_until = None
    if answer.succeeded:
        delivery.status = DeliveryStatus.SUCCEEDED
    elif delivery.status != DeliveryStatus.PENDING:
        pass  # cancelled while the attempt was under way: it stays so
    elif answer.status_code == 410:
        delivery.status = DeliveryStatus.FAILED
        _disable_gone(delivery.endpoint, keep=delivery.pk, now=now)
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
    else:
        delivery.next_attempt_at = now + retry_delay(delivery.attempts)
    if delivery.status != DeliveryStatus.PENDING:
        delivery.next_attempt_at = None
        delivery.finished_at = now
    delivery.save()
    return delivery


def _disable_gone(endpoint: WebhookEndpoint, *, keep: int, now: dt.datetime) -> None:
    """The receiver said the endpoint is gone for good: stop sending to it, and say why."""
    reason = GONE_REASON.format(when=now.strftime("%Y-%m-%d %H:%M UTC"))
    switched = WebhookEndpoint.objects.filter(pk=endpoint.pk, is_active=True).update(
        is_active=False, disabled_reason=reason, updated_at=now
    )
    _cancel_pending(endpoint.pk, "Not sent: the endpoint answered 410 Gone.", keep=keep)
    if switched:
        audit_record(
            organization=endpoint.organization_id,
            actor=None,
            actor_label="Plimsoll (webhook delivery)",
            action=AuditAction.WEBHOOK_UPDATED,
            subject=f"webhook {endpoint.pk}: {endpoint.url}",
            detail={"changed": ["is_active"], "reason": "410 Gone"},
        )


# --- The sweep, redelivery and pings ------------------------------------------------------------


def webhooks_sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Beat: dispatch events whose hand-over to Celery was lost (Redis down when they were
    written), and send deliveries that are due and not being tried (retries, lost tasks)."""
    now = now or timezone.now()
    lost = (
        OutboxEvent.objects.filter(dispatched_at__isnull=True, created_at__lt=now - DISPATCH_AFTER)
        .order_by("created_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    dispatched = 0
    for event_id in list(lost):
        try:
            event_dispatch(event_id=str(event_id))
        except Exception:  # one bad event must not stop the others
            logger.exception("Could not dispatch outbox event %s", event_id)
            continue
        dispatched += 1
    # A task sent after the delivery fell due, and recently, is still on its way.
    on_its_way = Q(queued_at__gte=F("next_attempt_at")) & Q(queued_at__gte=now - REQUEUE_AFTER)
    due = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .exclude(on_its_way)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    for delivery_id in due:
        _send_delivery(delivery_id)
    return {"dispatched": dispatched, "sent": len(due)}


@transaction.atomic
def delivery_redeliver(
    *, delivery: WebhookDelivery, requested_by: User | None = None, actor_label: str = ""
) -> WebhookDelivery:
    """Try a delivery again now, whatever became of it (the receiver lost it, or is fixed). It
    carries the same event id, so a receiver that has it already can drop it. If this attempt
    fails too, the retry schedule goes on from where the delivery was."""
    locked = (
        WebhookDelivery.objects.select_for_update(of=("self",))
        .select_related("endpoint", "event")
        .get(pk=delivery.pk)
    )
    now = timezone.now()
    if not locked.endpoint.is_active:
        raise ValidationError("The endpoint is switched off; switch it on before redelivering.")
    if locked.locked_until is not None and locked.locked_until > now:
        raise ValidationError("An attempt of this delivery is under way; wait for its result.")
    locked.status = DeliveryStatus.PENDING
    locked.next_attempt_at = now
    locked.finished_at = None
    locked.save(update_fields=["status", "next_attempt_at", "finished_at"])
    audit_record(
        organization=locked.organization_id,
        actor=requested_by,
        actor_label=actor_label,
        action=AuditAction.WEBHOOK_REDELIVERED,
        subject=f"webhook {locked.endpoint_id}: {locked.endpoint.url}",
        detail={"event": str(locked.event_id), "type": locked.event.type},
    )
    _enqueue_delivery(locked.pk)
    return locked


@transaction.atomic
def webhook_ping(
    *, endpoint: WebhookEndpoint, requested_by: User | None = None, actor_label: str = ""
) -> WebhookDelivery:
    """Send a signed test event (webhook.ping) to this endpoint only, now. It is an outbox
    event like any other (so the receiver sees exactly what real events look like), dispatched
    at once to this one endpoint."""
    locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if not locked.is_active:
        raise ValidationError("The endpoint is switched off; switch it on before sending a test.")
    now = timezone.now()
    # Written here rather than through accounts.services.event_record: it goes to one endpoint,
    # so it is dispatched in the same statement, never fanned out.
    event = OutboxEvent.objects.create(
        organization_id=locked.organization_id,
        type=EventType.PING,
        data={"endpoint": {"id": locked.pk}},
        dispatched_at=now,
    )
    delivery = WebhookDelivery.objects.create(
        organization_id=locked.organization_id,
        endpoint=locked,
        event=event,
        next_attempt_at=now,
    )
    audit_record(
        organization=locked.organization_id,
        actor=requested_by,
        actor_label=actor_label,
        action=AuditAction.WEBHOOK_PINGED,
        subject=f"webhook {locked.pk}: {locked.url}",
        detail={"event": str(event.pk)},
    )
    _enqueue_delivery(delivery.pk)
    return delivery
