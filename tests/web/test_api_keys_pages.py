"""The API keys page: admins create a key and see it once, list keys by their prefix only, and
revoke them; no other role reaches the page, and another organisation's keys answer 404."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApiKey, AuditAction, AuditEntry
from accounts.services import api_key_authenticate, api_key_create, department_create
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

KEY = re.compile(r"plim_[A-Za-z0-9_-]{8}\.[A-Za-z0-9_-]{40,}")


@pytest.fixture
def admin(client, organization):
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="admin")
    client.force_login(user)
    return user


def _url(organization, name="web:api_keys", **kwargs):
    return reverse(name, kwargs={"org": organization.slug, **kwargs})


def _in_a_year() -> str:
    return (timezone.localdate() + dt.timedelta(days=365)).isoformat()


def _create(client, organization, **overrides):
    data = {
        "name": "HRIS sync",
        "scopes": ["directory:read", "directory:write"],
        "expires_at": _in_a_year(),
    } | overrides
    return client.post(_url(organization), data)


def test_an_admin_creates_a_key_and_sees_it_once(client, admin, organization):
    page = client.get(_url(organization))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="scopes" value="results:read"' in body
    assert f'value="{_in_a_year()}"' in body  # a year ahead by default
    response = _create(client, organization)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = unescape(response.content.decode())
    (raw,) = set(KEY.findall(body))
    assert "will not be shown again" in body
    key = ApiKey.objects.get()
    assert key.organization == organization and key.created_by == admin
    assert key.scopes == ["directory:read", "directory:write"]
    assert key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert api_key_authenticate(raw) == key
    # Not in a URL, a cookie or the session.
    assert raw not in response.get("Location", "")
    assert raw not in str(dict(client.session)) and raw not in str(response.cookies)
    # Reloading shows the key by its prefix only.
    again = client.get(_url(organization)).content.decode()
    assert raw not in again and not KEY.search(again)
    assert f"plim_{key.prefix}" in again and "HRIS sync" in again
    assert "will not be shown again" not in again
    entry = AuditEntry.objects.get(action=AuditAction.API_KEY_CREATED)
    assert entry.subject == "HRIS sync" and raw.partition(".")[2] not in str(entry.detail)


def test_the_list_shows_status_scopes_and_who_created_each_key(client, admin, organization):
    live, _ = api_key_create(
        organization=organization, name="Payroll", scopes=["results:read"], created_by=admin
    )
    old, _ = api_key_create(organization=organization, name="Old export", scopes=["reports:read"])
    ApiKey.objects.filter(pk=old.pk).update(expires_at=timezone.now() - dt.timedelta(days=1))
    body = client.get(_url(organization)).content.decode()
    assert "Payroll" in body and "results:read" in body and admin.email in body
    assert 'class="status active"' in body and 'class="status expired"' in body
    assert live.key_hash not in body and old.key_hash not in body


def test_revoking_a_key_stops_it_at_once(client, admin, organization):
    key, raw = api_key_create(organization=organization, name="Payroll", scopes=["results:read"])
    response = client.post(_url(organization, "web:api_key_revoke", pk=key.pk))
    assert response.status_code == 302 and response["Location"] == _url(organization)
    key.refresh_from_db()
    assert key.revoked_at is not None and api_key_authenticate(raw) is None
    body = client.get(_url(organization)).content.decode()
    assert 'class="status revoked"' in body
    assert _url(organization, "web:api_key_revoke", pk=key.pk) not in body  # no button left
    entry = AuditEntry.objects.get(action=AuditAction.API_KEY_REVOKED)
    assert entry.subject == "Payroll" and entry.actor == admin
    # GET changes nothing.
    other, _ = api_key_create(organization=organization, name="Other", scopes=["results:read"])
    assert client.get(_url(organization, "web:api_key_revoke", pk=other.pk)).status_code == 405
    assert ApiKey.objects.get(pk=other.pk).revoked_at is None


@pytest.mark.parametrize("role", ["analyst", "manager", "viewer", "representative"])
def test_other_roles_are_refused(client, organization, role):
    scope = department_create(organization=organization, name="Quay") if role == "manager" else None
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role=role, scope_department=scope)
    client.force_login(user)
    key, _ = api_key_create(organization=organization, name="Payroll", scopes=["results:read"])
    assert client.get(_url(organization)).status_code == 403
    assert _create(client, organization).status_code == 403
    assert client.post(_url(organization, "web:api_key_revoke", pk=key.pk)).status_code == 403
    assert ApiKey.objects.count() == 1 and ApiKey.objects.get().revoked_at is None
    home = client.get(reverse("web:org_home", kwargs={"org": organization.slug}))
    assert _url(organization).encode() not in home.content


def test_the_nav_offers_the_page_to_admins(client, admin, organization):
    home = client.get(reverse("web:org_home", kwargs={"org": organization.slug}))
    assert _url(organization).encode() in home.content


def test_another_organisations_key_answers_404(client, admin, organization):
    elsewhere = OrganizationFactory(name="Tidewater")
    theirs, raw = api_key_create(
        organization=elsewhere, name="Tidewater sync", scopes=["results:read"]
    )
    response = client.post(_url(organization, "web:api_key_revoke", pk=theirs.pk))
    assert response.status_code == 404
    assert ApiKey.objects.get(pk=theirs.pk).revoked_at is None
    body = client.get(_url(organization)).content.decode()
    assert "Tidewater" not in body and theirs.prefix not in body
    # Their slug: 404 as well.
    assert client.get(_url(elsewhere)).status_code == 404
    assert api_key_authenticate(raw) == theirs


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"name": ""}, "name", "required"),
        ({"scopes": []}, "scopes", "required"),
        ({"scopes": ["directory:read", "everything"]}, "scopes", "everything"),
        ({"expires_at": "2001-01-01"}, "expires_at", "future"),
        ({"expires_at": "2999-01-01"}, "expires_at", "two years"),
        ({"expires_at": "not a date"}, "expires_at", "valid date"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    client, admin, organization, data, field, words
):
    response = _create(client, organization, **data)
    assert response.status_code == 400
    assert "no-store" in response["Cache-Control"]
    form = response.context["form"]
    assert field in form.errors, form.errors
    assert words in " ".join(form.errors[field]), form.errors
    assert not ApiKey.objects.exists() and not AuditEntry.objects.exists()
    assert not KEY.search(response.content.decode())
