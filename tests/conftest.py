"""Shared fixtures: organisations, personas and the shipped instrument."""

import io

import pytest
from django.core.management import call_command

from assessments.models import Instrument
from tests import factories


@pytest.fixture
def organization(db):
    return factories.OrganizationFactory()


@pytest.fixture
def other_organization(db):
    return factories.OrganizationFactory()


@pytest.fixture
def core_instrument(db) -> Instrument:
    """plimsoll-core as shipped, loaded through the real command."""
    call_command("load_instruments", stdout=io.StringIO())
    return Instrument.objects.get(code="plimsoll-core", version=1)


@pytest.fixture(autouse=True)
def _tasks_run_in_process(request):
    """Outside integration tests, a task sent with .delay() runs in the test process.

    With CELERY_BROKER_URL set (as in CI) Celery would otherwise publish to Redis, where only the
    integration tests' worker listens, against a database that the test has not committed.
    """
    if request.node.get_closest_marker("integration"):
        yield
        return
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Real hashing costs ~0.3 s a user; tests check behaviour, not key stretching.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_instrument_cache():
    # Rolled-back test data lets SQLite reuse primary keys; a cached structure must not outlive
    # the test that built it.
    from assessments.selectors import instrument_spec

    instrument_spec.cache_clear()
    yield
    instrument_spec.cache_clear()


@pytest.fixture(autouse=True)
def _media_in_a_temporary_folder(settings, tmp_path):
    # Rendered reports are files; tests must not leave them in the project's media folder.
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fresh_rate_counts():
    # Rate-limit and throttle counters live in the cache and are keyed by ids that rolled-back
    # test data lets the next test reuse: each test starts with none spent.
    from django.core.cache import cache

    cache.clear()
    yield
