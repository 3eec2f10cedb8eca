"""Integration tests run against real PostgreSQL, Redis and a Celery worker process.

Under the embedded default (SQLite, no broker) they are skipped with the reason; CI sets
DATABASE_URL and CELERY_BROKER_URL and fails the run if any test is skipped.
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.servers import basehttp

ROOT = Path(__file__).resolve().parents[2]

# Django's test server accepts 10 waiting connections; the concurrency tests open 50 at once
# and must see every one of them answered, not reset by the kernel.
basehttp.WSGIServer.request_queue_size = 128


def _missing_services() -> str:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "needs PostgreSQL: set DATABASE_URL=postgres://user@host:5432/dbname"
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"):
        return "needs Redis as the Celery broker: set CELERY_BROKER_URL=redis://host:6379/0"
    return ""


def pytest_collection_modifyitems(config, items):
    reason = _missing_services()
    for item in items:
        if "integration" in item.nodeid.split("::")[0]:
            item.add_marker(pytest.mark.integration)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


def _database_url_for_tests() -> str:
    """DATABASE_URL pointing at the test database pytest-django created."""
    db = settings.DATABASES["default"]
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or 5432
    return f"postgres://{credentials}@{host}:{port}/{db['NAME']}"


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real `celery worker` process consuming both queues against the test database."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_for_tests(),
        # The worker must not keep connections open across tests: transactional tests truncate.
        "CONN_MAX_AGE": "0",
    }
    log_path = ROOT / "test-results" / "celery-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "solo",
                "--queues",
                "default,reports",
                "--hostname",
                f"pytest-{os.getpid()}@%h",
                "--loglevel",
                "INFO",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_ready(process, log_path)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_ready(process: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited early:\n{log_path.read_text()[-4000:]}")
        if "ready." in log_path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"celery worker not ready after {timeout}s:\n{log_path.read_text()[-4000:]}")


def wait_for(predicate, *, timeout: float = 30, interval: float = 0.2):
    """Poll until predicate() is truthy; fail with the last value after the timeout."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    assert value, f"condition not met within {timeout}s"
    return value
