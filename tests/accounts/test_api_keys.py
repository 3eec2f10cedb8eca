"""API keys: created for one organisation and shown once, stored as a hash, scoped, revoked,
expired; what a key may do comes from its scopes alone, over the whole organisation."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.models import ApiKey, ApiScope, AuditAction, AuditEntry, Department, Employee
from accounts.permissions import (
    NO_ACCESS,
    SCOPE_PERMISSIONS,
    NotVisible,
    Permission,
    access_for_api_key,
)
from accounts.services import (
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    audit_record,
    department_create,
)
from tests.factories import EmployeeFactory, UserFactory

pytestmark = pytest.mark.django_db

P = Permission


def _create(organization, **overrides):
    fields = {"name": "HRIS sync", "scopes": [ApiScope.DIRECTORY_READ]} | overrides
    return api_key_create(organization=organization, **fields)


def test_the_key_is_returned_once_and_only_its_hash_is_stored(organization):
    admin = UserFactory()
    key, raw = _create(organization, created_by=admin)
    prefix, _, secret = raw.removeprefix("plim_").partition(".")
    assert raw.startswith("plim_") and len(prefix) == 8 and len(secret) >= 43
    stored = ApiKey.objects.get(pk=key.pk)
    assert stored.prefix == prefix
    assert stored.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    # The secret is nowhere in the row.
    row = ApiKey.objects.filter(pk=key.pk).values().get()
    assert not any(secret in str(value) for value in row.values())
    assert stored.organization_id == organization.pk and stored.created_by == admin
    assert stored.scopes == ["directory:read"] and stored.last_used_at is None
    # Two keys never share a prefix or a secret.
    _other, raw_two = _create(organization, name="Payroll")
    assert raw_two != raw and raw_two[:13] != raw[:13]


def test_the_default_expiry_is_a_year_ahead(organization, settings):
    key, _ = _create(organization)
    expected = timezone.now() + dt.timedelta(days=365)
    assert abs(key.expires_at - expected) < dt.timedelta(minutes=1)
    settings.API_KEY_DEFAULT_DAYS = 30
    key, _ = _create(organization, name="Short")
    assert abs(key.expires_at - (timezone.now() + dt.timedelta(days=30))) < dt.timedelta(minutes=1)


def test_authenticate_finds_the_key_and_refuses_anything_else(organization):
    key, raw = _create(organization)
    assert api_key_authenticate(raw) == key
    assert api_key_authenticate(f"  {raw} ") == key
    prefix, _, secret = raw.removeprefix("plim_").partition(".")
    wrong_secret = f"plim_{prefix}.{'A' * len(secret)}"
    for bad in (
        wrong_secret,
        f"plim_zzzzzzzz.{secret}",  # unknown prefix
        raw[:-1],
        raw + "x",
        raw.removeprefix("plim_"),
        f"plim_{prefix}",
        f"plim_{prefix}.",
        "",
        "Api-Key " + raw,
    ):
        assert api_key_authenticate(bad) is None, bad


def test_a_revoked_key_no_longer_opens_anything(organization):
    admin = UserFactory()
    key, raw = _create(organization)
    api_key_revoke(key=key, revoked_by=admin)
    assert key.revoked_at is not None and not key.is_active
    assert api_key_authenticate(raw) is None
    first = ApiKey.objects.get(pk=key.pk).revoked_at
    # Idempotent: the first revocation stands, and is recorded once.
    api_key_revoke(key=ApiKey.objects.get(pk=key.pk), revoked_by=admin)
    assert ApiKey.objects.get(pk=key.pk).revoked_at == first
    entries = AuditEntry.objects.filter(action=AuditAction.API_KEY_REVOKED)
    assert entries.count() == 1
    entry = entries.get()
    assert entry.subject == "HRIS sync" and entry.actor == admin
    assert entry.organization_id == organization.pk
    assert access_for_api_key(key) == NO_ACCESS


def test_an_expired_key_no_longer_opens_anything(organization):
    key, raw = _create(organization)
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert api_key_authenticate(raw) is None
    key.refresh_from_db()
    assert key.status == "expired" and access_for_api_key(key) == NO_ACCESS


def test_last_used_is_written_at_most_once_a_minute(organization, django_assert_num_queries):
    key, raw = _create(organization)
    assert api_key_authenticate(raw).last_used_at is not None
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None
    # Within the minute: one read, no write, and the stored time stays.
    with django_assert_num_queries(2):  # the lookup, and an UPDATE that matches nothing
        api_key_authenticate(raw)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first
    # A minute later it moves on.
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first - dt.timedelta(seconds=61))
    api_key_authenticate(raw)
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first - dt.timedelta(seconds=1)


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"name": ""}, "name", "name"),
        ({"name": "x" * 101}, "name", "100"),
        ({"scopes": []}, "scopes", "at least one scope"),
        ({"scopes": ["directory:read", "results:write"]}, "scopes", "'results:write'"),
        ({"scopes": ["admin"]}, "scopes", "'admin'"),
        ({"expires_at": "past"}, "expires_at", "future"),
        ({"expires_at": "three years"}, "expires_at", "two years"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_value(organization, fields, field, words):
    now = timezone.now()
    dates = {"past": now - dt.timedelta(days=1), "three years": now + dt.timedelta(days=3 * 365)}
    if "expires_at" in fields:
        fields = {"expires_at": dates[fields["expires_at"]]}
    with pytest.raises(ValidationError) as caught:
        _create(organization, **fields)
    messages = caught.value.message_dict
    assert field in messages, messages
    assert words in " ".join(messages[field]), messages
    assert not ApiKey.objects.exists() and not AuditEntry.objects.exists()


def test_two_years_ahead_is_still_accepted(organization):
    key, _ = _create(organization, expires_at=timezone.now() + dt.timedelta(days=730))
    assert key.is_active


def test_the_audit_trail_names_the_key_and_scopes_but_never_the_key(organization):
    admin = UserFactory()
    key, raw = _create(
        organization, scopes=[ApiScope.RESULTS_READ, ApiScope.DIRECTORY_READ], created_by=admin
    )
    api_key_revoke(key=key, revoked_by=admin)
    created = AuditEntry.objects.get(action=AuditAction.API_KEY_CREATED)
    assert created.subject == "HRIS sync" and created.actor_label == admin.email
    assert created.detail == {"scopes": ["directory:read", "results:read"]}
    secret = raw.partition(".")[2]
    for entry in AuditEntry.objects.all():
        text = f"{entry.subject} {entry.detail} {entry.actor_label}"
        assert raw not in text and secret not in text and key.prefix not in text
        assert key.key_hash not in text


@pytest.mark.parametrize("scope", ApiScope.values)
def test_each_scope_grants_exactly_its_permissions(organization, scope):
    key, _ = _create(organization, scopes=[scope])
    access = access_for_api_key(key)
    assert access.is_member and access.whole_organization
    assert access.permissions == SCOPE_PERMISSIONS[scope]
    for permission in Permission:
        assert access.can(permission) == (permission in SCOPE_PERMISSIONS[scope]), permission


def test_the_scope_table_says_what_the_issue_says():
    assert {scope: SCOPE_PERMISSIONS[scope] for scope in ApiScope.values} == {
        "directory:read": {P.VIEW_DIRECTORY},
        "directory:write": {P.VIEW_DIRECTORY, P.MANAGE_DIRECTORY},
        "campaigns:read": {P.VIEW_CAMPAIGNS, P.VIEW_PARTICIPATION},
        # Running campaigns includes the action plans that answer their results.
        "campaigns:write": {
            P.VIEW_CAMPAIGNS,
            P.VIEW_PARTICIPATION,
            P.MANAGE_CAMPAIGNS,
            P.VIEW_ACTIONS,
            P.MANAGE_ACTIONS,
        },
        # Results and reports belong to campaigns: reading them lists the campaigns too.
        "results:read": {P.VIEW_CAMPAIGNS, P.VIEW_RESULTS, P.EXPORT_RESULTS, P.VIEW_ACTIONS},
        "reports:read": {P.VIEW_CAMPAIGNS, P.VIEW_REPORTS, P.REQUEST_REPORTS},
        "webhooks:manage": {P.MANAGE_WEBHOOKS},
    }
    # Nothing a key can do that an admin could not: no user, role or API key management.
    granted = frozenset().union(*SCOPE_PERMISSIONS.values())
    assert not granted & {P.MANAGE_USERS, P.MANAGE_API_KEYS, P.VIEW_AUDIT}


def test_a_keys_access_is_the_union_of_its_scopes_and_refuses_the_rest(organization):
    key, _ = _create(organization, scopes=[ApiScope.CAMPAIGNS_READ, ApiScope.REPORTS_READ])
    access = access_for_api_key(key)
    assert access.permissions == {
        P.VIEW_CAMPAIGNS,
        P.VIEW_PARTICIPATION,
        P.VIEW_REPORTS,
        P.REQUEST_REPORTS,
    }
    assert access.role == "api" and access.api_key_id == key.pk
    assert access.label == "API key HRIS sync" and access.user_id is None
    access.require(P.VIEW_CAMPAIGNS)
    with pytest.raises(PermissionDenied, match="scopes do not allow"):
        access.require(P.VIEW_RESULTS)


def test_a_key_sees_its_whole_organisation_and_nothing_of_another(organization, other_organization):
    root = department_create(organization=organization, name="Head office")
    child = department_create(organization=organization, name="Warehouse", parent=root)
    EmployeeFactory(organization=organization, department=child)
    elsewhere = department_create(organization=other_organization, name="Docks")
    EmployeeFactory(organization=other_organization, department=elsewhere)
    key, _ = _create(organization, scopes=[ApiScope.DIRECTORY_READ])
    access = access_for_api_key(key)
    assert set(Department.objects.visible_to(access)) == {root, child}
    assert Employee.objects.visible_to(access).count() == 1
    assert access.covers(child) and access.covers(None)
    assert not access.covers(elsewhere)
    with pytest.raises(NotVisible):
        access.require_organization(other_organization.pk)
    # The other organisation's key sees only its own.
    their_key, _ = _create(other_organization, name="Theirs")
    assert set(Department.objects.visible_to(access_for_api_key(their_key))) == {elsewhere}


def test_audit_record_names_an_actor_without_a_user(organization):
    key, _ = _create(organization, scopes=[ApiScope.RESULTS_READ])
    access = access_for_api_key(key)
    entry = audit_record(
        organization=organization,
        actor=None,
        actor_label=access.label,
        action=AuditAction.RESULTS_EXPORTED,
        subject="Spring pulse",
    )
    assert entry.actor is None and entry.actor_label == "API key HRIS sync"
