"""Every API endpoint, every scope, a key of another organisation, no key, a revoked and an
expired key, and the signed-in roles, from one table: a new endpoint without a line fails."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest
from django.core.files.base import ContentFile
from django.urls import URLPattern, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, ApiScope, Employee
from accounts.services import api_key_create, api_key_revoke, department_create
from api import urls as api_urls
from reports.models import Report, ReportStatus
from tests.factories import EmployeeFactory, MembershipFactory, OrganizationFactory, UserFactory
from tests.reports.report_fixtures import build_scored_campaign

pytestmark = pytest.mark.django_db

PUBLIC = {"schema", "docs"}  # the description of the API, no data
NO_STORE = {"results", "results_export", "report_download"}
ROLES = ("admin", "analyst", "manager", "viewer", "representative")


READ_DIRECTORY = (ApiScope.DIRECTORY_READ, ApiScope.DIRECTORY_WRITE)  # writing implies reading
READ_CAMPAIGNS = (ApiScope.CAMPAIGNS_READ, ApiScope.CAMPAIGNS_WRITE)
# Results and reports belong to campaigns: their scopes list campaigns too.
LIST_CAMPAIGNS = (*READ_CAMPAIGNS, ApiScope.RESULTS_READ, ApiScope.REPORTS_READ)
EVERYONE = ROLES


@dataclass(frozen=True)
class Line:
    name: str
    scopes: tuple[str, ...]  # the scopes that open it; every other scope gets 403
    kwargs: dict = field(default_factory=dict)  # "@name": the world's object of that name
    roles: tuple[str, ...] = ("admin",)  # signed-in roles allowed (the others get 403)
    detail: bool = False  # names one object: another organisation's key gets 404


TABLE = [
    Line("departments", READ_DIRECTORY),
    Line("department", READ_DIRECTORY, {"external_id": "D-OPS"}, detail=True),
    Line("employees", READ_DIRECTORY),
    Line("employee", READ_DIRECTORY, {"external_id": "E-1"}, detail=True),
    Line("campaigns", LIST_CAMPAIGNS, roles=EVERYONE),
    Line("campaign", LIST_CAMPAIGNS, {"pk": "@closed"}, roles=EVERYONE, detail=True),
    Line(
        "participation",
        READ_CAMPAIGNS,
        {"pk": "@closed"},
        roles=("admin", "analyst", "manager"),
        detail=True,
    ),
    Line("results", (ApiScope.RESULTS_READ,), {"pk": "@closed"}, roles=EVERYONE, detail=True),
    Line(
        "results_export",
        (ApiScope.RESULTS_READ,),
        {"pk": "@closed"},
        roles=("admin", "analyst", "manager"),
        detail=True,
    ),
    Line("reports", (ApiScope.REPORTS_READ,), {"pk": "@closed"}, roles=EVERYONE, detail=True),
    Line(
        "report_download",
        (ApiScope.REPORTS_READ,),
        {"report": "@pack"},
        roles=EVERYONE,
        detail=True,
    ),
]


def test_every_api_url_has_a_line():
    names = {p.name for p in api_urls.urlpatterns if isinstance(p, URLPattern)}
    assert names - PUBLIC == {line.name for line in TABLE}


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
    return {
        "keys": keys,
        "users": users,
        "organization": organization,
        "ops": ops,
        "scored": scored,
        "targets": {"closed": scored.campaign, "pack": _pack(scored)},
    }


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
    client = APIClient()
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    if user:
        client.force_login(user)
    kwargs = {
        name: world["targets"][value[1:]].pk if str(value).startswith("@") else value
        for name, value in line.kwargs.items()
    }
    return client.get(reverse(f"api:{line.name}", kwargs=kwargs))


@pytest.mark.parametrize("line", TABLE, ids=lambda line: line.name)
def test_each_key_and_role_gets_what_the_table_says(world, line):
    keys = world["keys"]
    response = _get(line, world)
    assert response.status_code == 401, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["type"].endswith("/unauthenticated")
    for scope in ApiScope.values:
        response = _get(line, world, key=keys[scope])
        expected = 200 if scope in line.scopes else 403
        assert response.status_code == expected, (scope, response.content)
        if expected == 200 and line.name in NO_STORE:
            assert "no-store" in response["Cache-Control"], line.name
        if expected == 403:
            assert all(s in response.json()["detail"] for s in line.scopes)
    for name in ("revoked", "expired"):
        assert _get(line, world, key=keys[name]).status_code == 401, name
    assert _get(line, world, key="plim_nothing.at-all").status_code == 401
    theirs = _get(line, world, key=keys["other"])
    if line.detail:
        assert theirs.status_code == 404
        assert theirs.json()["type"].endswith("/not-found")
    else:
        assert theirs.status_code == 200
        assert "Harbourside" not in theirs.content.decode()
        assert "D-OPS" not in theirs.content.decode() and "E-1" not in theirs.content.decode()
    for role, user in world["users"].items():
        response = _get(line, world, user=user)
        assert response.status_code == (200 if role in line.roles else 403), role


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
