"""The submission service: one transaction, two rows, or nothing at all."""

import datetime as dt

import pytest
from django.apps import apps
from django.utils import timezone

from assessments.answers import decode_answers
from assessments.models import CampaignStatus, Invitation, Response
from assessments.selectors import instrument_spec
from assessments.services import (
    AnswersInvalidError,
    CampaignNotOpenError,
    InvitationCompletedError,
    campaign_transition,
    response_submit,
)
from tests.assessments.survey_fixtures import full_answers, open_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(organization, core_instrument):
    return open_campaign(
        organization,
        core_instrument,
        people=2,
        attributes_used=["tenure_band"],
        employee_attributes={"tenure_band": "1-3 years", "site": "North"},
    )


@pytest.fixture
def invitation(campaign):
    invitation = campaign.invitations.select_related("employee").order_by("pk")[0]
    # Changed in the directory after launch: responses carry the launch snapshot.
    invitation.employee.attributes = {"tenure_band": "under 1 year", "site": "South"}
    invitation.employee.save()
    return invitation


def _row_counts():
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()}


def test_valid_submission_writes_the_response_and_the_completion_date_only(
    invitation, core_instrument
):
    answers = full_answers(core_instrument, 4)
    first_item = core_instrument.items.order_by("position")[0]
    answers[first_item.code] = "skip"
    before = _row_counts()
    invitation_before = Invitation.objects.filter(pk=invitation.pk).values().get()
    moment = timezone.now()

    response_id = response_submit(invitation_id=invitation.pk, answers=answers, now=moment)

    after = _row_counts()
    changed = {label for label in after if after[label] != before[label]}
    assert changed == {"assessments.Response"}
    assert after["assessments.Response"] == before["assessments.Response"] + 1
    stored = Response.objects.get(pk=response_id)
    assert stored.department_id == invitation.department_id
    # Only the attributes the campaign uses are copied.
    assert stored.attributes == {"tenure_band": "1-3 years"}
    values = decode_answers(bytes(stored.answers), instrument_spec(core_instrument.pk).scales)
    assert values[0] is None and set(values[1:]) == {4}
    invitation_after = Invitation.objects.filter(pk=invitation.pk).values().get()
    differences = {k for k in invitation_after if invitation_after[k] != invitation_before[k]}
    assert differences == {"completed_on"}
    assert invitation_after["completed_on"] == timezone.localdate(moment)


def test_second_submission_is_refused(invitation, core_instrument):
    response_submit(invitation_id=invitation.pk, answers=full_answers(core_instrument))
    with pytest.raises(InvitationCompletedError):
        response_submit(invitation_id=invitation.pk, answers=full_answers(core_instrument))
    assert Response.objects.count() == 1


def test_closed_campaign_refuses_at_once(campaign, invitation, core_instrument):
    campaign_transition(campaign=campaign, to=CampaignStatus.CLOSED)
    with pytest.raises(CampaignNotOpenError) as caught:
        response_submit(invitation_id=invitation.pk, answers=full_answers(core_instrument))
    assert caught.value.reason == "closed"
    assert not Response.objects.exists()


def test_past_closing_time_refuses_before_the_beat_closes_it(campaign, invitation, core_instrument):
    with pytest.raises(CampaignNotOpenError) as caught:
        response_submit(
            invitation_id=invitation.pk,
            answers=full_answers(core_instrument),
            now=campaign.closes_at + dt.timedelta(seconds=1),
        )
    assert caught.value.reason == "closed"


def test_not_yet_open_campaign_refuses(campaign, invitation, core_instrument):
    with pytest.raises(CampaignNotOpenError) as caught:
        response_submit(
            invitation_id=invitation.pk,
            answers=full_answers(core_instrument),
            now=campaign.opens_at - dt.timedelta(minutes=1),
        )
    assert caught.value.reason == "not_open_yet"


def test_invalid_answers_are_named_and_nothing_is_written(invitation, core_instrument):
    items = list(core_instrument.items.order_by("position"))
    answers = full_answers(core_instrument)
    del answers[items[2].code]  # missing
    answers[items[5].code] = "9"  # out of range
    answers[items[6].code] = "often"  # not a value
    answers["Q999"] = "3"  # not a question
    with pytest.raises(AnswersInvalidError) as caught:
        response_submit(invitation_id=invitation.pk, answers=answers)
    found = {(e.number, e.kind) for e in caught.value.errors}
    assert found == {(3, "missing"), (6, "out_of_range"), (7, "out_of_range"), (None, "unknown")}
    assert not Response.objects.exists()
    assert Invitation.objects.get(pk=invitation.pk).completed_on is None


def test_skip_is_refused_where_the_scale_does_not_offer_it(invitation, core_instrument):
    from assessments.selectors import instrument_spec

    spec = instrument_spec(core_instrument.pk)
    scale = dict(spec.items[0].scale, allow_skip=False)
    item = spec.items[0]
    object.__setattr__(item, "scale", scale)
    try:
        answers = full_answers(core_instrument)
        answers[item.code] = "skip"
        with pytest.raises(AnswersInvalidError) as caught:
            response_submit(invitation_id=invitation.pk, answers=answers)
        assert [(e.number, e.kind) for e in caught.value.errors] == [(1, "skip_not_allowed")]
    finally:
        instrument_spec.cache_clear()
