"""Webhook endpoints and deliveries of outbox events (accounts.OutboxEvent)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import OutboxEvent, TenantModel, User


class WebhookEndpoint(TenantModel):
    """A URL of the organisation's (an HRIS, a chat bot, a script) that receives the events it
    subscribes to, signed with its secret (Standard Webhooks)."""

    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    events = models.JSONField(default=list)  # EventType values, never PING
    # Standard Webhooks secret (`whsec_` + base64 of 32 random bytes). Kept in clear because
    # signing needs it; shown to people once, when it is made.
    secret = models.CharField(max_length=100)
    # The secret before the last rotation: deliveries carry a signature with it too until
    # `previous_secret_expires_at`, so a receiver can switch over without losing events.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    # Why Plimsoll stopped sending (e.g. "the endpoint answered 410 Gone"); empty when an admin
    # switched it off or it is active.
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")  # waiting for its next attempt
    SUCCEEDED = "succeeded", _("Delivered")
    FAILED = "failed", _("Gave up")  # every attempt failed, or the endpoint answered 410
    CANCELLED = "cancelled", _("Not sent")  # the endpoint was disabled before it went out


class WebhookDelivery(TenantModel):
    """One event on its way to one endpoint: its state, when it is tried next, and what the
    last attempt got. Each attempt is a WebhookAttempt row."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    # When the next attempt is due (NULL once delivered, given up or cancelled).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Set while an attempt is under way: nobody else starts one before then. A worker that
    # dies mid-attempt only delays the delivery until this has passed.
    locked_until = models.DateTimeField(null=True, blank=True)
    # When a task for it was last sent: the sweep leaves recently queued ones alone.
    queued_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event"], name="webhook_delivery_once_per_endpoint"
            ),
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="webhook_delivery_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due")]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One POST of a delivery: when, how long, and the status code or the error."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    # The start of the receiver's answer, as text, for someone finding out why it failed.
    response = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.started_at:%Y-%m-%d %H:%M:%S} {self.status_code}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
