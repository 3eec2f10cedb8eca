"""Nothing stored with a Response can link it to an invitation or an employee (rule 1)."""

import uuid

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import models

from accounts.models import Department, Organization, User
from assessments.models import Campaign, Invitation, InvitationToken, Response
from tests.factories import ResponseFactory

# Relations a Response may have: the tenant, the campaign, and the department snapshot.
ALLOWED_RELATIONS = {Organization, Campaign, Department}
LINKING_NAMES = ("token", "invitation", "employee", "user", "ip", "agent", "email", "session")


def _fields(model):
    return [f for f in model._meta.get_fields() if f.concrete or f.is_relation]


def test_response_has_exactly_the_reviewed_columns():
    # A new column on Response is an anonymity decision: add it here only after review.
    columns = {f.name for f in Response._meta.concrete_fields}
    assert columns == {"id", "organization", "campaign", "department", "answers", "attributes"}


def test_response_relates_only_to_tenant_campaign_and_department():
    for field in _fields(Response):
        if field.is_relation:
            assert field.related_model in ALLOWED_RELATIONS, (
                f"Response.{field.name} relates to {field.related_model.__name__}"
            )
    # And no model anywhere points at a Response (a join table would link it to a person).
    for model in apps.get_models():
        if model is Response:
            continue
        forward = [
            f
            for f in model._meta.get_fields()
            if f.is_relation and not f.auto_created and (f.concrete or f.many_to_many)
        ]
        assert Response not in {f.related_model for f in forward}, (
            f"{model.__name__} has a relation to Response"
        )


def test_response_and_invitation_share_no_time_at_all():
    """Not even a day: the invitation keeps its completion day, so a day on the response
    would pair it with the only person of its department who answered that day."""
    for field in Response._meta.concrete_fields:
        assert not isinstance(field, models.DateField | models.TimeField), field.name


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


def test_response_listings_follow_the_random_key_not_insertion_order():
    assert Response._meta.ordering == ["id"]
    assert Response._meta.pk.name == "id"


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


@pytest.mark.django_db
def test_attack_pairing_responses_with_completions_by_shared_columns(organization, core_instrument):
    """An attacker holding both tables tries every column the two rows share.

    Two people of one department answer on different days; for each response, the invitations
    that agree with it on every shared column must still be both of them.
    """
    import datetime as dt

    from django.utils import timezone

    from assessments.services import invitation_token_issue, response_submit
    from tests.assessments.survey_fixtures import full_answers, open_campaign

    campaign = open_campaign(organization, core_instrument, people=2)
    first, second = campaign.invitations.order_by("pk")
    for token_owner in (first, second):
        invitation_token_issue(invitation=token_owner)
    day_one = timezone.now()
    response_submit(invitation_id=first.pk, answers=full_answers(core_instrument, 1), now=day_one)
    response_submit(
        invitation_id=second.pk,
        answers=full_answers(core_instrument, 5),
        now=day_one + dt.timedelta(days=1),
    )
    invitation_rows = list(Invitation.objects.filter(campaign=campaign).values())
    for response in Response.objects.filter(campaign=campaign).values():
        for column, value in response.items():
            if column in ("id", "answers", "attributes"):
                continue
            # Keys are compared with the same key; any other value with any column of the
            # invitation that holds the same kind of value (a day with a day, and so on).
            targets = (
                [column]
                if column.endswith("_id")
                else [name for name in invitation_rows[0] if not name.endswith("id")]
            )
            for target in targets:
                matches = [
                    row
                    for row in invitation_rows
                    if type(row[target]) is type(value) and row[target] == value
                ]
                assert len(matches) != 1, f"Response.{column} pairs with Invitation.{target}"
        # Nor does any value of the response carry an invitation's key or token.
        values = {str(response[name]) for name in ("id", "answers", "attributes")}
        for row in invitation_rows:
            assert str(row["id"]) not in values
        assert not any(
            token_hash in values
            for token_hash in InvitationToken.objects.values_list("token_hash", flat=True)
        )
