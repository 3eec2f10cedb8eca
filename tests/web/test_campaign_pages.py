"""Setting up a campaign through the HR pages: the form, launch, edit, close, remind."""

import pytest
from django.urls import reverse

from accounts.services import department_create
from assessments.models import Campaign, CampaignStatus, Invitation
from results.models import ResultRun
from tests.factories import EmployeeFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def hr(client, organization, core_instrument):
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="analyst")
    client.force_login(user)
    root = department_create(organization=organization, name="Harbour")
    quay = department_create(organization=organization, name="Quayside", parent=root)
    tiny = department_create(organization=organization, name="Lighthouse", parent=root)
    for department, people in ((quay, 9), (tiny, 2)):
        for _ in range(people):
            EmployeeFactory(organization=organization, department=department)
    return {"root": root, "quay": quay, "tiny": tiny, "instrument": core_instrument}


def _url(organization, name, **kwargs):
    return reverse(f"web:{name}", kwargs={"org": organization.slug, **kwargs})


def _form(hr, **values):
    return {
        "name": "Spring check",
        "instrument": hr["instrument"].pk,
        "target_departments": [hr["root"].pk],
        "languages": ["en", "de"],
        "opens_at": "",
        "closes_at": "2099-06-30T17:00",
        "reminder_days": "7, 3",
        "min_group_size": "5",
        **values,
    }


def test_every_refusal_shows_next_to_its_field(client, hr, organization):
    page = client.post(
        _url(organization, "campaign_new"),
        _form(hr, opens_at="2099-07-01T09:00", reminder_days="7, soon", min_group_size="2"),
    )
    assert page.status_code == 400
    errors = page.context["form"].errors
    assert "soon" in errors["reminder_days"][0]
    assert "3" in errors["min_group_size"][0]
    assert not Campaign.objects.exists()
    page = client.post(_url(organization, "campaign_new"), _form(hr, opens_at="2099-07-01T09:00"))
    assert "after the opening time" in page.context["form"].errors["closes_at"][0]


def test_a_draft_is_created_launched_reminded_and_closed(
    client, hr, organization, django_capture_on_commit_callbacks
):
    page = client.post(
        _url(organization, "campaign_new"),
        _form(hr, target_departments=[hr["quay"].pk, hr["tiny"].pk]),
    )
    campaign = Campaign.objects.get()
    assert page["Location"] == _url(organization, "campaign", pk=campaign.pk)
    assert campaign.reminder_days == [3, 7] and campaign.status == CampaignStatus.DRAFT
    detail = client.get(page["Location"]).content.decode()
    assert "11 active employees" in detail and "Lighthouse (2)" in detail

    confirm = client.get(_url(organization, "campaign_launch", pk=campaign.pk)).content.decode()
    assert "11 people will be invited" in confirm and "Quayside: 9" in confirm
    assert not Invitation.objects.exists()  # the confirmation page sends nothing
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url(organization, "campaign_launch", pk=campaign.pk))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.OPEN
    assert Invitation.objects.filter(campaign=campaign).count() == 11

    # Once launched, k and the targets are fixed; the name can still change.
    edit = client.get(_url(organization, "campaign_edit", pk=campaign.pk))
    assert edit.context["form"].fields["min_group_size"].disabled
    client.post(
        _url(organization, "campaign_edit", pk=campaign.pk),
        _form(hr, name="Spring check 2099", min_group_size="9", target_departments=[hr["tiny"].pk]),
    )
    campaign.refresh_from_db()
    assert campaign.name == "Spring check 2099" and campaign.min_group_size == 5
    assert set(campaign.target_departments.all()) == {hr["quay"], hr["tiny"]}

    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url(organization, "campaign_remind", pk=campaign.pk))
    campaign.refresh_from_db()
    assert campaign.reminder_round == 1

    assert (
        "Close the campaign"
        in client.get(_url(organization, "campaign_close", pk=campaign.pk)).content.decode()
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url(organization, "campaign_close", pk=campaign.pk))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CLOSED
    assert ResultRun.objects.filter(campaign=campaign).exists()  # scoring started at once


def test_launch_refusals_are_shown_and_nothing_is_sent(client, hr, organization):
    client.post(_url(organization, "campaign_new"), _form(hr, target_departments=[]))
    # No targets: the form itself refuses.
    assert not Campaign.objects.exists()
    empty = department_create(organization=organization, name="Empty")
    client.post(_url(organization, "campaign_new"), _form(hr, target_departments=[empty.pk]))
    campaign = Campaign.objects.get()
    page = client.post(_url(organization, "campaign_launch", pk=campaign.pk))
    assert page.status_code == 400
    assert "No active employees" in page.content.decode()
    assert Campaign.objects.get().status == CampaignStatus.DRAFT


def test_the_questionnaire_preview_shows_every_language(client, hr, organization):
    page = client.get(_url(organization, "instrument", pk=hr["instrument"].pk)).content.decode()
    item = hr["instrument"].items.order_by("position").first()
    assert item.text["en"] in page and item.text["de"] in page
