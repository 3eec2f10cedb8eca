"""What the API tests share: a client holding a fresh key, and a scored campaign whose
departments have HRIS ids."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.services import api_key_create
from tests.reports.report_fixtures import build_scored_campaign


def key_client(organization, *scopes, name: str = "HRIS") -> APIClient:
    """An API client sending a new key of `organization` with `scopes` (named `name`)."""
    _row, raw = api_key_create(organization=organization, name=name, scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.fixture
def scored(core_instrument):
    """The scored campaign of the report tests (three actions: overdue in Lighthouse Crew,
    planned in Quayside Operations, overdue in Beacon Finance), its departments given HRIS ids
    Q-<key> (Q-quayside…)."""
    scored = build_scored_campaign(core_instrument)
    for key, department in scored.departments.items():
        department.external_id = f"Q-{key}"
        department.save(update_fields=["external_id"])
    return scored
