"""Schemathesis over the committed OpenAPI description: for every operation, requests generated
from the schema (valid and not) against the app in-process, with a key of every scope on an
organisation that has a scored campaign. No answer may be a server error, and every answer must
match what the schema says of it (status code, content type, body)."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.models import ApiScope
from accounts.services import api_key_create
from api.throttling import PerKeyThrottle
from tests.factories import OrganizationFactory
from tests.reports.report_fixtures import build_scored_campaign

pytestmark = pytest.mark.django_db

SCHEMA = Path(__file__).resolve().parents[2] / "api" / "openapi.yaml"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Examples per operation: enough to reach every parameter and error path of an operation on the
# 2-core CI in a minute or two for the whole API.
EXAMPLES = 20


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Requests go straight to Django's WSGI handler, whose end-of-request hook would close
    the database connection holding the test's transaction; Django's own test client
    unhooks it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_key(core_instrument, monkeypatch):
    monkeypatch.setattr(PerKeyThrottle, "THROTTLE_RATES", {"api": "1000000/minute"})
    organization = OrganizationFactory(name="Harbourside", slug="harbourside")
    build_scored_campaign(core_instrument, organization=organization)
    _, raw = api_key_create(organization=organization, name="fuzz", scopes=list(ApiScope.values))
    return raw


schema = schemathesis.openapi.from_path(SCHEMA)
schema.app = WSGIHandler()


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    # The same examples on every run, so CI is reproducible; raise EXAMPLES (or drop this
    # locally) to search wider.
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)
def test_no_server_error_and_no_answer_outside_the_schema(case, api_key):
    case.call_and_validate(headers={"Authorization": f"Api-Key {api_key}"}, checks=CHECKS)
