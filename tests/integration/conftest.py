"""Integration tests run against real PostgreSQL, Redis and a Celery worker process.

Under the embedded default (SQLite, no broker) they are skipped with the reason; CI sets
DATABASE_URL and CELERY_BROKER_URL and fails the run if any test is skipped.
"""

import os
import socket
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


def start_worker(
    name: str, *, queues: str = "default,reports", pool: str = "solo", env: dict | None = None
) -> tuple[subprocess.Popen, Path]:
    """Start a `celery worker` against the test database; returns it and its log file."""
    environment = {
        **os.environ,
        "DATABASE_URL": _database_url_for_tests(),
        # The worker must not keep connections open across tests: transactional tests truncate.
        "CONN_MAX_AGE": "0",
        **(env or {}),
    }
    log_path = ROOT / "test-results" / f"{name}.log"
    log_path.parent.mkdir(exist_ok=True)
    command = [
        sys.executable, "-m", "celery", "-A", "config", "worker",
        "--pool", pool, "--concurrency", "1", "--queues", queues,
        "--hostname", f"{name}-{os.getpid()}@%h", "--loglevel", "INFO",
        "--without-heartbeat", "--without-mingle", "--without-gossip",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    _wait_until_ready(process, log_path)
    return process, log_path


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real `celery worker` process consuming both queues against the test database."""
    process, _ = start_worker("celery-worker")
    try:
        yield process
    finally:
        stop(process)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_redis(port: int) -> subprocess.Popen:
    """A private Redis server for tests that stop and restart their broker."""
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"redis-server did not start on port {port}")


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
