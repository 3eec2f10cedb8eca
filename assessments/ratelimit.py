"""A fixed-window rate limit on the shared cache (Redis in production, so all web processes
count together). Client addresses are hashed before they become cache keys."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def parse_rate(rate: str) -> tuple[int, int]:
    """'300/60' → (300 requests, 60 seconds)."""
    try:
        count, seconds = (int(part) for part in rate.split("/"))
    except ValueError as exc:
        raise ValueError(
            f"SURVEY_RATE_LIMIT: expected '<requests>/<seconds>', got {rate!r}"
        ) from exc
    if count < 1 or seconds < 1:
        raise ValueError(f"SURVEY_RATE_LIMIT: both numbers must be positive, got {rate!r}")
    return count, seconds


def _client_key(request: HttpRequest, scope: str, window: int) -> str:
    address = request.META.get("REMOTE_ADDR", "")
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{address}".encode()).hexdigest()[:24]
    return f"ratelimit:{scope}:{digest}:{int(time.time() // window)}"


def rate_limited(request: HttpRequest, *, scope: str, rate: str | None = None) -> int | None:
    """Count this request; return seconds to wait if the client is over the limit, else None."""
    limit, window = parse_rate(rate or settings.SURVEY_RATE_LIMIT)
    key = _client_key(request, scope, window)
    # add() is atomic on every cache backend; incr() on an existing key is atomic on Redis.
    if cache.add(key, 1, timeout=window + 1):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add() and incr()
            cache.add(key, 1, timeout=window + 1)
            count = 1
    if count > limit:
        return window - int(time.time()) % window or 1
    return None
