"""Nothing stored with a Response can link it to an invitation or an employee (rule 1)."""

import uuid

import pytest
from django.contrib import admin
from django.db import models

from accounts.models import Department, Employee, Organization, User
from assessments.models import Campaign, Invitation, Response
from tests.factories import ResponseFactory

# Relations a Response may have: the tenant, the campaign, and the department snapshot.
ALLOWED_RELATIONS = {Organization, Campaign, Department}
LINKING_NAMES = ("token", "invitation", "employee", "user", "ip", "agent", "email", "session")


def _fields(model):
    return [f for f in model._meta.get_fields() if f.concrete or f.is_relation]


def test_response_relates_only_to_tenant_campaign_and_department():
    for field in _fields(Response):
        if field.is_relation:
            assert field.related_model in ALLOWED_RELATIONS, (
                f"Response.{field.name} relates to {field.related_model.__name__}"
            )
    for model in (Invitation, Employee, User):
        related = {f.related_model for f in _fields(model) if f.is_relation}
        assert Response not in related, f"{model.__name__} has a relation to Response"


def test_response_has_no_time_finer_than_a_date():
    for field in Response._meta.concrete_fields:
        assert not isinstance(field, models.DateTimeField | models.TimeField), field.name
        if isinstance(field, models.DateField):
            assert not (field.auto_now or field.auto_now_add), field.name


def test_response_has_no_field_that_could_carry_identity():
    for field in Response._meta.concrete_fields:
        lowered = field.name.lower()
        assert not any(word in lowered for word in LINKING_NAMES), field.name
        assert not isinstance(field, models.GenericIPAddressField), field.name


def test_response_key_is_random_uuid_not_a_sequence():
    pk = Response._meta.pk
    assert isinstance(pk, models.UUIDField)
    assert pk.default is uuid.uuid4
    assert not any(isinstance(f, models.AutoField) for f in Response._meta.concrete_fields)


def test_response_is_not_ordered_by_anything():
    # A default ordering on a creation-ordered column would leak insertion order in listings.
    assert Response._meta.ordering == []


def test_completion_leaves_no_time_on_the_invitation():
    """Invitation changes only a date at submission, so times cannot be matched to responses."""
    for field in Invitation._meta.concrete_fields:
        if isinstance(field, models.DateTimeField | models.DateField):
            assert not (field.auto_now or field.auto_now_add), field.name
    completion = Invitation._meta.get_field("completed_on")
    assert type(completion) is models.DateField


def test_admin_does_not_register_responses():
    assert Response not in admin.site._registry


@pytest.mark.django_db
def test_admin_has_no_page_for_responses(client, core_instrument):
    staff = User.objects.create_superuser("root@example.test", "pw-not-used-elsewhere")
    client.force_login(staff)
    response = ResponseFactory(campaign__instrument=core_instrument)
    assert client.get("/admin/assessments/response/").status_code == 404
    assert client.get(f"/admin/assessments/response/{response.pk}/change/").status_code == 404
    index = client.get("/admin/").content.decode()
    assert "/admin/assessments/response/" not in index
