"""A fixed-window rate limit on the shared cache (Redis in production, so all web processes
count together). Client addresses are hashed before they become cache keys."""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
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
    count = _count(key, window)
    if count > limit:
        return window - int(time.time()) % window or 1
    return None


_redis_clients: dict[int, object] = {}


def _count(key: str, window: int) -> int:
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        # One round trip: create the counter if missing, then increment it.
        full_key = backend.make_key(key)
        client = _redis_clients.get(id(backend))
        if client is None:
            client = _redis_clients.setdefault(id(backend), backend._cache.get_client(write=True))
        pipe = client.pipeline(transaction=False)
        pipe.set(full_key, 0, ex=window + 1, nx=True)
        pipe.incr(full_key)
        return int(pipe.execute()[1])
    # add() is atomic on every cache backend; incr() on an existing key is atomic on Redis and
    # within one process elsewhere.
    if backend.add(key, 1, timeout=window + 1):
        return 1
    try:
        return backend.incr(key)
    except ValueError:  # expired between add() and incr()
        backend.add(key, 1, timeout=window + 1)
        return 1
