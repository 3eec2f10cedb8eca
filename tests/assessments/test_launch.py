"""Launching a campaign: checks, invitations with a department snapshot, opening or scheduling."""

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.services import department_create, department_move
from assessments.models import Campaign, CampaignStatus, Invitation, InvitationToken
from assessments.services import IllegalTransitionError, campaign_launch
from tests.factories import CampaignFactory, EmployeeFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(organization):
    ops = department_create(organization=organization, name="Ops")
    north = department_create(organization=organization, name="North", parent=ops)
    sales = department_create(organization=organization, name="Sales")
    people = {
        "ops": EmployeeFactory(organization=organization, department=ops),
        "north": EmployeeFactory(organization=organization, department=north, language="de"),
        "north_fr": EmployeeFactory(organization=organization, department=north, language="fr"),
        "left": EmployeeFactory(organization=organization, department=north, is_active=False),
        "sales": EmployeeFactory(organization=organization, department=sales),
    }
    return {"ops": ops, "north": north, "sales": sales, "people": people}


def _draft(organization, instrument, targets, **fields):
    now = timezone.now()
    fields.setdefault("opens_at", now - dt.timedelta(minutes=1))
    fields.setdefault("closes_at", now + dt.timedelta(days=14))
    campaign = CampaignFactory(organization=organization, instrument=instrument, **fields)
    campaign.target_departments.set(targets)
    return campaign


def test_launch_invites_active_employees_of_the_target_subtrees(
    organization, core_instrument, tree, django_capture_on_commit_callbacks
):
    campaign = _draft(organization, core_instrument, [tree["ops"]])
    with django_capture_on_commit_callbacks(execute=True):
        launched = campaign_launch(campaign=campaign)
    assert launched.status == CampaignStatus.OPEN
    invited = {i.employee_id: i for i in Invitation.objects.filter(campaign=campaign)}
    people = tree["people"]
    assert set(invited) == {people["ops"].pk, people["north"].pk, people["north_fr"].pk}
    assert invited[people["north"].pk].department == tree["north"]
    assert invited[people["north"].pk].language == "de"
    # A language the campaign does not offer falls back to its first language.
    assert invited[people["north_fr"].pk].language == "en"
    # Opening sent the invitations (the task ran in-process after commit).
    assert len(mail.outbox) == 3
    assert InvitationToken.objects.count() == 3


def test_department_is_a_snapshot_taken_at_launch(organization, core_instrument, tree):
    campaign = campaign_launch(campaign=_draft(organization, core_instrument, [tree["ops"]]))
    employee = tree["people"]["north"]
    employee.department = tree["sales"]
    employee.save()
    department_move(department=tree["north"], new_parent=tree["sales"])
    invitation = Invitation.objects.get(campaign=campaign, employee=employee)
    assert invitation.department_id == tree["north"].pk


def test_future_opening_schedules_without_sending(
    organization, core_instrument, tree, django_capture_on_commit_callbacks
):
    later = timezone.now() + dt.timedelta(days=2)
    campaign = _draft(
        organization,
        core_instrument,
        [tree["sales"]],
        opens_at=later,
        closes_at=later + dt.timedelta(days=7),
    )
    with django_capture_on_commit_callbacks(execute=True):
        launched = campaign_launch(campaign=campaign)
    assert launched.status == CampaignStatus.SCHEDULED
    assert Invitation.objects.filter(campaign=campaign).count() == 1
    assert mail.outbox == []


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"targets": []}, "target_departments", "at least one target department"),
        ({"targets": "empty"}, "target_departments", "No active employees in Empty"),
        ({"closes_at": None}, "closes_at", "Set when the campaign closes"),
        ({"closes_at": "past"}, "closes_at", "already passed"),
        ({"languages": ["en", "fr"]}, "languages", "no text in fr"),
    ],
)
def test_launch_refuses_with_a_clear_error_and_writes_nothing(
    organization, core_instrument, tree, change, field, message
):
    targets = change.pop("targets", [tree["ops"]])
    if targets == "empty":
        targets = [department_create(organization=organization, name="Empty")]
    if change.get("closes_at") == "past":
        change["closes_at"] = timezone.now() - dt.timedelta(minutes=1)
        change["opens_at"] = timezone.now() - dt.timedelta(days=1)
    campaign = _draft(organization, core_instrument, targets, **change)
    with pytest.raises(ValidationError) as caught:
        campaign_launch(campaign=campaign)
    assert message in caught.value.message_dict[field][0]
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT
    assert not Invitation.objects.exists()


def test_launch_twice_is_refused(organization, core_instrument, tree):
    campaign = campaign_launch(campaign=_draft(organization, core_instrument, [tree["ops"]]))
    with pytest.raises(IllegalTransitionError, match="already launched"):
        campaign_launch(campaign=campaign)
    assert Invitation.objects.filter(campaign=campaign).count() == 3


def test_launch_command(organization, core_instrument, tree):
    from io import StringIO

    from django.core.management import call_command

    campaign = _draft(organization, core_instrument, [tree["ops"]])
    out = StringIO()
    call_command("launch_campaign", campaign.pk, stdout=out)
    assert "3 invitations" in out.getvalue()
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.OPEN
