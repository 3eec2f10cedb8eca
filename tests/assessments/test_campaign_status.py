"""Campaign status moves only forward; k is at least 3 and frozen at launch."""

import datetime as dt
import itertools

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from assessments.models import Campaign, CampaignStatus
from assessments.services import (
    CampaignFrozenError,
    IllegalTransitionError,
    campaign_create,
    campaign_transition,
    campaign_update,
)
from results.services import campaigns_advance_schedule
from tests.factories import CampaignFactory, DepartmentFactory

pytestmark = pytest.mark.django_db

LEGAL = {
    ("draft", "scheduled"),
    ("draft", "open"),
    ("scheduled", "open"),
    ("open", "closed"),
}
STATUSES = ["draft", "scheduled", "open", "closed"]


@pytest.fixture
def campaign(organization, core_instrument):
    return CampaignFactory(organization=organization, instrument=core_instrument)


def _bring_to(campaign: Campaign, status: str) -> Campaign:
    path = {"draft": [], "scheduled": ["scheduled"], "open": ["open"], "closed": ["open", "closed"]}
    for step in path[status]:
        campaign = campaign_transition(campaign=campaign, to=step)
    return campaign


@pytest.mark.parametrize(("start", "to"), list(itertools.product(STATUSES, STATUSES)))
def test_transition_matrix(campaign, start, to):
    campaign = _bring_to(campaign, start)
    if (start, to) in LEGAL:
        moved = campaign_transition(campaign=campaign, to=to)
        assert moved.status == to
        assert Campaign.objects.get(pk=campaign.pk).status == to
    else:
        with pytest.raises(IllegalTransitionError) as caught:
            campaign_transition(campaign=campaign, to=to)
        message = caught.value.message_dict["status"][0]
        assert f"cannot move from {start} to {to}" in message
        assert Campaign.objects.get(pk=campaign.pk).status == start


def test_closed_campaign_never_reopens_and_says_what_to_do(campaign):
    campaign = _bring_to(campaign, "closed")
    with pytest.raises(IllegalTransitionError, match="never reopens; run a follow-up campaign"):
        campaign_transition(campaign=campaign, to=CampaignStatus.OPEN)


def test_unknown_status_is_named(campaign):
    with pytest.raises(IllegalTransitionError, match="Unknown status 'archived'"):
        campaign_transition(campaign=campaign, to="archived")


def test_stale_instance_cannot_skip_the_rules(campaign):
    stale = Campaign.objects.get(pk=campaign.pk)
    _bring_to(campaign, "closed")
    # The stale copy still says "draft"; the service reads the locked row, not the copy.
    with pytest.raises(IllegalTransitionError, match="from closed"):
        campaign_transition(campaign=stale, to=CampaignStatus.OPEN)


def test_scheduling_needs_dates(organization, core_instrument):
    campaign = CampaignFactory(
        organization=organization, instrument=core_instrument, opens_at=None, closes_at=None
    )
    with pytest.raises(IllegalTransitionError, match="needs opening and closing times"):
        campaign_transition(campaign=campaign, to=CampaignStatus.SCHEDULED)


def test_transitions_stamp_launch_and_close(campaign):
    moment = timezone.now()
    opened = campaign_transition(campaign=campaign, to=CampaignStatus.OPEN, now=moment)
    assert opened.launched_at == moment
    closed = campaign_transition(
        campaign=opened, to=CampaignStatus.CLOSED, now=moment + dt.timedelta(days=1)
    )
    assert closed.closed_at == moment + dt.timedelta(days=1)
    assert closed.launched_at == moment


def test_database_rejects_unknown_status(campaign):
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(status="archived")


def test_min_group_size_below_three_is_refused_by_service_and_database(
    organization, core_instrument
):
    department = DepartmentFactory(organization=organization)
    with pytest.raises(ValidationError) as caught:
        campaign_create(
            organization=organization,
            name="Too small",
            instrument=core_instrument,
            target_departments=[department],
            min_group_size=2,
        )
    assert "at least 3, got 2" in caught.value.message_dict["min_group_size"][0]
    campaign = CampaignFactory(organization=organization, instrument=core_instrument)
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(min_group_size=2)


def test_default_k_is_five(organization, core_instrument):
    department = DepartmentFactory(organization=organization)
    campaign = campaign_create(
        organization=organization,
        name="Default",
        instrument=core_instrument,
        target_departments=[department],
    )
    assert campaign.min_group_size == 5
    assert campaign.status == CampaignStatus.DRAFT
    assert campaign.languages == ["en", "de"]


def test_k_can_change_in_draft_but_is_frozen_at_launch(campaign):
    campaign = campaign_update(campaign=campaign, min_group_size=7)
    assert campaign.min_group_size == 7
    for status in ("scheduled", "open"):
        launched = _bring_to(
            CampaignFactory(organization=campaign.organization, instrument=campaign.instrument),
            status,
        )
        with pytest.raises(CampaignFrozenError, match="min_group_size is frozen at launch"):
            campaign_update(campaign=launched, min_group_size=10)
        assert Campaign.objects.get(pk=launched.pk).min_group_size == 5
        # Unfrozen settings may still change while the campaign runs.
        renamed = campaign_update(campaign=launched, name="Renamed")
        assert renamed.name == "Renamed"


def test_update_validates_like_create(campaign):
    with pytest.raises(ValidationError) as caught:
        campaign_update(campaign=campaign, closes_at=campaign.opens_at - dt.timedelta(hours=1))
    assert "after the opening time" in caught.value.message_dict["closes_at"][0]
    with pytest.raises(ValidationError, match="'status' cannot be changed here"):
        campaign_update(campaign=campaign, status="closed")


def test_create_reports_each_bad_field(organization, other_organization, core_instrument):
    foreign = DepartmentFactory(organization=other_organization, name="Elsewhere")
    now = timezone.now()
    with pytest.raises(ValidationError) as caught:
        campaign_create(
            organization=organization,
            name="",
            instrument=core_instrument,
            target_departments=[foreign],
            languages=["fr"],
            opens_at=now,
            closes_at=now - dt.timedelta(days=1),
            reminder_days=[0],
        )
    errors = caught.value.message_dict
    assert set(errors) == {"name", "target_departments", "languages", "closes_at", "reminder_days"}
    assert "Elsewhere" in errors["target_departments"][0]
    assert "fr" in errors["languages"][0]
    assert not Campaign.objects.exists()


def test_schedule_sweep_opens_and_closes_what_is_due(organization, core_instrument):
    now = timezone.now()
    due = _bring_to(
        CampaignFactory(
            organization=organization,
            instrument=core_instrument,
            opens_at=now - dt.timedelta(hours=1),
            closes_at=now + dt.timedelta(days=7),
        ),
        "scheduled",
    )
    later = _bring_to(
        CampaignFactory(organization=organization, instrument=core_instrument), "scheduled"
    )
    ending = _bring_to(
        CampaignFactory(
            organization=organization,
            instrument=core_instrument,
            opens_at=now - dt.timedelta(days=7),
            closes_at=now - dt.timedelta(minutes=1),
        ),
        "open",
    )
    result = campaigns_advance_schedule(now=now)
    assert (result.opened, result.closed) == (1, 1)
    status = dict(Campaign.objects.values_list("pk", "status"))
    assert status == {due.pk: "open", later.pk: "scheduled", ending.pk: "closed"}
    # Running it again changes nothing.
    again = campaigns_advance_schedule(now=now)
    assert (again.opened, again.closed) == (0, 0)


def test_database_keeps_launch_and_close_times_and_no_self_follow_up(campaign):
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(status="open")
    opened = campaign_transition(campaign=campaign, to=CampaignStatus.OPEN)
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=opened.pk).update(status="closed")
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.filter(pk=opened.pk).update(previous_campaign=opened.pk)
