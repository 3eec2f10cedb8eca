"""What the API keeps between requests: the responses of POSTs sent with an Idempotency-Key."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class IdempotentRequest(models.Model):
    """A POST sent with an `Idempotency-Key`, and what it was answered (once it was).

    `principal` tells apart who sent it (a SHA-256 of the API key header, or the signed-in
    user), so one client's keys never answer another's requests; `fingerprint` is a SHA-256 of
    the method, path, query and body, so the same key with another request is refused."""

    principal = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    # NULL while the first request with this key is still being answered.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=100, blank=True)
    location = models.CharField(max_length=500, blank=True)
    body = models.BinaryField(default=b"")
    # The answer showed a secret once (api.middleware.withheld): only that it happened is kept.
    secret_withheld = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status_code or 'in progress'})"
