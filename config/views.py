"""Views that belong to the deployment rather than to an app."""

import uuid

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.http import HttpRequest, JsonResponse


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for container healthchecks and load balancers.

    With `?ready=1` (or at /readyz) a readiness report: the database, the cache and the broker,
    each "ok" or what is wrong; 503 when any is not ok. Liveness never depends on Redis, since
    the survey does not.
    """
    if request.GET.get("ready"):
        return readyz(request)
    if not _database_ok():
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """Whether every service Plimsoll uses answers: database, cache, broker."""
    checks = {
        "database": "ok" if _database_ok() else "unreachable",
        "cache": _cache_state(),
        "broker": _broker_state(),
    }
    ready = all(state in ("ok", "in-process") for state in checks.values())
    status = 200 if ready else 503
    return JsonResponse({"status": "ok" if ready else "error", **checks}, status=status)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any database failure means "not healthy"
        return False
    return True


def _cache_state() -> str:
    key = f"readyz:{uuid.uuid4().hex}"
    try:
        cache = caches["default"]
        cache.set(key, 1, timeout=5)
        found = cache.get(key)
        cache.delete(key)
    except Exception:  # noqa: BLE001 - any cache failure
        return "unreachable"
    return "ok" if found == 1 else "not storing"


def _broker_state() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "in-process"  # the embedded default: tasks run in the web process
    from kombu import Connection

    try:
        # A fresh connection, not one from the pool: the question is whether it answers now.
        options = {"socket_connect_timeout": 2, "socket_timeout": 2}
        with Connection(
            settings.CELERY_BROKER_URL, connect_timeout=2, transport_options=options
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            # Redis connects lazily: ask it something.
            client = getattr(conn.default_channel, "client", None)
            if client is not None and hasattr(client, "ping"):
                client.ping()
    except Exception:  # noqa: BLE001 - any broker failure
        return "unreachable"
    return "ok"
