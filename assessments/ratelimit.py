"""A fixed-window rate limit on the shared cache (Redis in production, so all web processes
count together). Client addresses are hashed before they become cache keys.

The limit fails open: when the cache cannot be reached, requests pass (and one warning is
logged until it is back), so answering a survey never depends on Redis.
"""

from __future__ import annotations

import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest

logger = logging.getLogger(__name__)


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


def client_address(request: HttpRequest) -> str:
    """The address of the client, behind `TRUSTED_PROXY_COUNT` reverse proxies.

    Each proxy appends the address it received the request from to X-Forwarded-For, so with
    N trusted proxies the client is the N-th entry from the right; anything further left was
    written by the client and is not trusted. With no trusted proxy (the default) the header is
    ignored and the connection's own address counts.
    """
    trusted = settings.TRUSTED_PROXY_COUNT
    if trusted > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= trusted:
            return forwarded[-trusted]
    return request.META.get("REMOTE_ADDR", "")


def _key(scope: str, who: str, window: int) -> str:
    digest = hashlib.sha256(f"{settings.SECRET_KEY}:{who}".encode()).hexdigest()[:24]
    return f"ratelimit:{scope}:{digest}:{int(time.time() // window)}"


def rate_limited(
    request: HttpRequest, *, scope: str, rate: str | None = None, who: str | None = None
) -> int | None:
    """Count this request; return seconds to wait if over the limit, else None.

    Counted per client address, or per `who` (for example one survey link) when given.
    """
    limit, window = parse_rate(rate or settings.SURVEY_RATE_LIMIT)
    key = _key(scope, client_address(request) if who is None else f"{scope}:{who}", window)
    global _cache_down
    try:
        count = _count(key, window)
    except Exception:
        if not _cache_down:
            logger.warning(
                "Rate limit not applied: the cache cannot be reached; requests pass until "
                "it is back",
                exc_info=True,
            )
        _cache_down = True
        return None
    if _cache_down:
        logger.info("Rate limit applied again: the cache is back")
        _cache_down = False
    if count > limit:
        return window - int(time.time()) % window or 1
    return None


# Whether the last attempt to reach the cache failed: the warning is logged once per outage.
_cache_down = False


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
