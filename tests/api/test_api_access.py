"""Every API endpoint, every scope, a key of another organisation, no key, a revoked and an
expired key, and the signed-in roles, from one table: a new endpoint without a line fails."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.urls import URLPattern, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, ApiScope, Employee
from accounts.services import api_key_create, api_key_revoke, department_create
from api import urls as api_urls
from reports.models import Report, ReportStatus
from tests.api import lines_campaigns, lines_directory, lines_webhooks
from tests.api.table import BASE_LINES, NO_STORE, PUBLIC, ROLES, Line
from tests.factories import EmployeeFactory, MembershipFactory, OrganizationFactory, UserFactory
from tests.reports.report_fixtures import build_scored_campaign

pytestmark = pytest.mark.django_db

AREAS = (lines_directory, lines_campaigns, lines_webhooks)
TABLE = [*BASE_LINES, *(line for area in AREAS for line in area.LINES)]
METHODS = ("get", "post", "put", "patch", "delete")


def test_every_api_url_and_method_has_a_line():
    served = {
        (p.name, method)
        for p in api_urls.urlpatterns
        if isinstance(p, URLPattern) and p.name not in PUBLIC
        for method in METHODS
        if hasattr(p.callback.cls, method)
    }
    assert served == {(line.name, line.method) for line in TABLE}
    assert len({line.id for line in TABLE}) == len(TABLE)


@pytest.fixture
def world(core_instrument):
    organization = OrganizationFactory(name="Harbourside", slug="harbourside")
    scored = build_scored_campaign(core_instrument, organization=organization)
    ops = department_create(organization=organization, name="Operations")
    ops.external_id = "D-OPS"
    ops.save(update_fields=["external_id"])
    EmployeeFactory(organization=organization, department=ops, external_id="E-1")
    other = OrganizationFactory(name="Tidewater", slug="tidewater")
    docks = department_create(organization=other, name="Docks")
    docks.external_id = "D-DOCKS"
    docks.save(update_fields=["external_id"])
    EmployeeFactory(organization=other, department=docks, external_id="T-1")
    every = list(ApiScope.values)
    keys = {
        scope: api_key_create(organization=organization, name=f"only {scope}", scopes=[scope])[1]
        for scope in every
    }
    keys["other"] = api_key_create(organization=other, name="theirs", scopes=every)[1]
    revoked, keys["revoked"] = api_key_create(
        organization=organization, name="revoked", scopes=every
    )
    api_key_revoke(key=revoked)
    expired, keys["expired"] = api_key_create(organization=organization, name="old", scopes=every)
    type(expired).objects.filter(pk=expired.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    users = {}
    for role in ROLES:
        users[role] = UserFactory()
        MembershipFactory(
            user=users[role],
            organization=organization,
            role=role,
            scope_department=scored.departments["quayside"] if role == "manager" else None,
        )
    world = {
        "keys": keys,
        "users": users,
        "organization": organization,
        "other": other,
        "ops": ops,
        "scored": scored,
        "targets": {"closed": scored.campaign, "pack": _pack(scored)},
    }
    for area in AREAS:  # each area adds the objects its lines name ("@name")
        world["targets"].update(area.targets(world))
    return world


def _pack(scored):
    """A finished PDF pack of Quayside Operations (the manager's department)."""
    report = Report.objects.create(
        organization=scored.organization,
        campaign=scored.campaign,
        department=scored.departments["quayside"],
        language="en",
        status=ReportStatus.DONE,
        result_run=scored.run,
    )
    report.file.save("quayside.pdf", ContentFile(b"%PDF-1.7 pack"))
    return report


def _get(line: Line, world, *, key: str | None = None, user=None):
    """Call the line's endpoint (GET, or its write with its body)."""
    client = APIClient()
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    if user:
        client.force_login(user)
    kwargs = {name: _target(world, value) for name, value in line.kwargs.items()}
    url = reverse(f"api:{line.name}", kwargs=kwargs)
    if line.method == "get":
        return client.get(url)
    body = line.body(world) if callable(line.body) else line.body
    return getattr(client, line.method)(url, body, format="json")


def _target(world, value):
    if not str(value).startswith("@"):
        return value
    target = world["targets"][value[1:]]
    return getattr(target, "pk", target)


def _allowed(line: Line, response) -> bool:
    if line.method == "get":
        return response.status_code == 200
    return response.status_code not in (401, 403, 404) and response.status_code < 500


@pytest.mark.parametrize("line", TABLE, ids=lambda line: line.id)
def test_each_key_and_role_gets_what_the_table_says(world, line):
    keys = world["keys"]
    response = _get(line, world)
    assert response.status_code == 401, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/unauthenticated")
    for scope in ApiScope.values:
        response = _get(line, world, key=keys[scope])
        if scope in line.scopes:
            assert _allowed(line, response), (scope, response.status_code, response.content)
        else:
            assert response.status_code == 403, (scope, response.content)
            assert all(s in response.json()["detail"] for s in line.scopes)
        if line.method == "get" and response.status_code == 200 and line.name in NO_STORE:
            assert "no-store" in response["Cache-Control"], line.name
    for name in ("revoked", "expired"):
        assert _get(line, world, key=keys[name]).status_code == 401, name
    assert _get(line, world, key="plim_nothing.at-all").status_code == 401
    theirs = _get(line, world, key=keys["other"])
    if line.detail:
        assert theirs.status_code == 404, theirs.content
        assert theirs.json()["type"].endswith("/not-found")
    elif line.method == "get":
        assert theirs.status_code == 200
        assert "Harbourside" not in theirs.content.decode()
        assert "D-OPS" not in theirs.content.decode() and "E-1" not in theirs.content.decode()
    else:
        assert _allowed(line, theirs), theirs.content
    for role, user in world["users"].items():
        response = _get(line, world, user=user)
        if role in line.roles:
            assert _allowed(line, response), (role, response.status_code, response.content)
        else:
            assert response.status_code == 403, (role, response.content)


def test_lists_are_cursor_paginated_and_filtered(world):
    organization, ops = world["organization"], world["ops"]
    for n in range(2, 5):
        EmployeeFactory(organization=organization, department=ops, external_id=f"E-{n}")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {world['keys'][ApiScope.DIRECTORY_READ]}")
    departments = client.get(reverse("api:departments"), {"page_size": 500}).json()["results"]
    assert "D-OPS" in [d["external_id"] for d in departments]
    seen, url, params = [], reverse("api:employees"), {"page_size": 3, "department": "D-OPS"}
    while url:
        page = client.get(url, params).json()
        assert len(page["results"]) <= 3
        seen += [e["external_id"] for e in page["results"]]
        url, params = page["next"], None
    assert sorted(seen) == ["E-1", "E-2", "E-3", "E-4"]
    bad = client.get(reverse("api:employees"), {"active": "perhaps"})
    assert bad.status_code == 400
    assert bad.json()["errors"] == [
        {"field": "active", "detail": "'perhaps' is not true or false."}
    ]
    unknown = client.get(reverse("api:employees"), {"department": "D-NONE"})
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "department"
    mine = client.get(reverse("api:employees"), {"department": "D-OPS", "active": "true"})
    assert len(mine.json()["results"]) == 4
    Employee.objects.bulk_create(
        Employee(
            organization=organization, department=ops, external_id=f"B-{n}",
            email=f"b{n}@harbourside.test",
        )
        for n in range(500)
    )  # fmt: skip
    capped = client.get(reverse("api:employees"), {"page_size": 100000}).json()
    assert len(capped["results"]) == 500 and capped["next"]  # at most 500, whatever is asked


def test_each_key_is_throttled_on_its_own(world):
    from unittest import mock

    from django.core.cache import cache

    from api.throttling import PerKeyThrottle

    keys = [world["keys"][ApiScope.DIRECTORY_READ], world["keys"][ApiScope.DIRECTORY_WRITE]]
    # Earlier tests may have spent the budgets of keys with the same ids this minute.
    cache.delete_many(
        [f"throttle_api_key-{pk}" for pk in ApiKey.objects.values_list("pk", flat=True)]
    )
    line = TABLE[0]
    with mock.patch.object(PerKeyThrottle, "THROTTLE_RATES", {"api": "2/minute"}):
        assert [_get(line, world, key=keys[0]).status_code for _ in range(2)] == [200, 200]
        refused = _get(line, world, key=keys[0])
        assert refused.status_code == 429
        assert int(refused["Retry-After"]) > 0
        assert refused.json()["type"].endswith("/throttled")
        assert _get(line, world, key=keys[1]).status_code == 200  # another key has its own budget
