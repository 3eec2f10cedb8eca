"""Invitation and reminder emails: batches, failures, retries, languages, schedules."""

import datetime as dt
import re

import pytest
from django.core import mail
from django.utils import timezone

from assessments.models import CampaignStatus, DeliveryStatus, Invitation, InvitationToken
from assessments.services import (
    IllegalTransitionError,
    campaign_remind_now,
    campaign_transition,
    campaigns_needing_delivery,
    invitations_send_pending,
    reminders_schedule_due,
    reminders_send_owed,
    token_hash,
)
from tests.assessments.survey_fixtures import open_campaign

pytestmark = pytest.mark.django_db

BOUNCING = "tests.support.mail.BouncingBackend"


@pytest.fixture
def campaign(organization, core_instrument):
    # Launched inside the test transaction: on-commit sending does not run, so each test
    # drives delivery itself.
    return open_campaign(organization, core_instrument, people=4)


def _token_in(message) -> str:
    return re.search(r"/s/([A-Za-z0-9_\-]{43})/", message.body).group(1)


def test_batch_sends_everyone_and_a_refused_address_fails_alone(campaign, settings):
    settings.EMAIL_BACKEND = BOUNCING
    settings.EMAIL_BATCH_SIZE = 3  # two batches for four invitations
    bouncing = campaign.invitations.order_by("pk")[1]
    bouncing.employee.email = "bounce@example.test"
    bouncing.employee.save()

    result = invitations_send_pending(campaign_id=campaign.pk)

    assert (result.sent, result.failed) == (3, 1)
    assert len(mail.outbox) == 3
    failed = Invitation.objects.get(pk=bouncing.pk)
    assert failed.delivery_status == DeliveryStatus.FAILED
    assert "SMTPRecipientsRefused" in failed.delivery_error
    assert not failed.tokens.exists(), "a token whose email never left must not exist"
    assert set(
        campaign.invitations.exclude(pk=bouncing.pk).values_list("delivery_status", flat=True)
    ) == {DeliveryStatus.SENT}
    # Each email carries a working personal link, stored only as a hash.
    for message in mail.outbox:
        token = _token_in(message)
        assert InvitationToken.objects.filter(token_hash=token_hash(token)).exists()
        assert not InvitationToken.objects.filter(token_hash=token).exists()


def test_retried_batch_sends_nothing_twice(campaign):
    invitations_send_pending(campaign_id=campaign.pk)
    assert len(mail.outbox) == 4
    again = invitations_send_pending(campaign_id=campaign.pk)
    assert (again.sent, again.failed) == (0, 0)
    assert len(mail.outbox) == 4
    assert InvitationToken.objects.count() == 4


def test_email_has_text_and_html_and_says_what_is_stored(campaign):
    invitations_send_pending(campaign_id=campaign.pk)
    message = mail.outbox[0]
    html = message.alternatives[0][0]
    assert message.alternatives[0][1] == "text/html"
    assert campaign.name in message.body and campaign.name in html
    assert "at least 5 people" in message.body
    assert _token_in(message) in html
    first = campaign.invitations.order_by("pk").select_related("employee")[0]
    assert message.to == [first.employee.email]


def test_german_employee_gets_a_german_invitation(organization, core_instrument):
    campaign = open_campaign(organization, core_instrument, people=1, employee_language="de")
    invitations_send_pending(campaign_id=campaign.pk)
    (message,) = mail.outbox
    assert message.subject.endswith("Ihre anonyme Befragung zu Arbeit und Belastung")
    assert "Ihr persönlicher Link" in message.body
    assert "mindestens 5 Personen" in message.body
    assert 'lang="de"' in message.alternatives[0][0]


def test_reminders_skip_completed_and_failed_invitations_and_are_not_repeated(campaign):
    invitations_send_pending(campaign_id=campaign.pk)
    first, second, third, fourth = campaign.invitations.order_by("pk")
    Invitation.objects.filter(pk=first.pk).update(completed_on=timezone.localdate())
    Invitation.objects.filter(pk=second.pk).update(delivery_status=DeliveryStatus.FAILED)
    mail.outbox.clear()

    campaign_remind_now(campaign=campaign)
    result = reminders_send_owed(campaign_id=campaign.pk)

    assert (result.sent, result.failed) == (2, 0)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        [third.employee.email, fourth.employee.email]
    )
    assert "still open" in mail.outbox[0].body
    assert reminders_send_owed(campaign_id=campaign.pk).sent == 0
    assert len(mail.outbox) == 2
    # The reminder's link works too, and the invitation's first link stays valid.
    assert Invitation.objects.get(pk=third.pk).tokens.count() == 2


def test_no_reminders_after_close(campaign):
    invitations_send_pending(campaign_id=campaign.pk)
    campaign_remind_now(campaign=campaign)
    campaign_transition(campaign=campaign, to=CampaignStatus.CLOSED)
    mail.outbox.clear()
    assert reminders_send_owed(campaign_id=campaign.pk).sent == 0
    assert mail.outbox == []
    with pytest.raises(IllegalTransitionError, match="is closed: no reminders"):
        campaign_remind_now(campaign=campaign)


def test_no_reminders_once_the_closing_time_has_passed(campaign):
    invitations_send_pending(campaign_id=campaign.pk)
    campaign_remind_now(campaign=campaign)
    type(campaign).objects.filter(pk=campaign.pk).update(closes_at=timezone.now())
    mail.outbox.clear()
    assert reminders_send_owed(campaign_id=campaign.pk).sent == 0


def test_scheduled_reminder_rounds_start_once_when_due(
    campaign, django_capture_on_commit_callbacks
):
    type(campaign).objects.filter(pk=campaign.pk).update(reminder_days=[3, 7])
    invitations_send_pending(campaign_id=campaign.pk)
    mail.outbox.clear()
    opened = campaign.opens_at
    assert reminders_schedule_due(now=opened + dt.timedelta(days=2)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders_schedule_due(now=opened + dt.timedelta(days=3, minutes=1)) == 1
    assert len(mail.outbox) == 4
    assert reminders_schedule_due(now=opened + dt.timedelta(days=4)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert reminders_schedule_due(now=opened + dt.timedelta(days=8)) == 1
    assert len(mail.outbox) == 8
    assert set(campaign.invitations.values_list("reminders_sent", flat=True)) == {2}


def test_sweep_finds_campaigns_with_unsent_work(campaign):
    assert campaigns_needing_delivery() == [campaign.pk]
    invitations_send_pending(campaign_id=campaign.pk)
    assert campaigns_needing_delivery() == []
    campaign_remind_now(campaign=campaign)
    assert campaigns_needing_delivery() == [campaign.pk]


def test_without_email_url_invitations_fail_visibly_instead_of_being_printed(campaign, settings):
    settings.EMAIL_BACKEND = "config.email.UnconfiguredEmailBackend"
    result = invitations_send_pending(campaign_id=campaign.pk)
    assert (result.sent, result.failed) == (0, 4)
    errors = set(campaign.invitations.values_list("delivery_error", flat=True))
    assert len(errors) == 1 and "EMAIL_URL is not set" in errors.pop()
    assert not mail.outbox
