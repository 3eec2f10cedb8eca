"""Background work that stops cleanly: a batch that runs out of time blames no address, failed
deliveries can be retried, scoring gives up after a few lost attempts, sweeps do not pile up
copies of the same message, and beat tasks expire."""

import datetime as dt

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from assessments.models import Campaign, CampaignStatus, DeliveryStatus, Invitation
from assessments.services import (
    campaigns_needing_delivery,
    invitations_retry_failed,
    invitations_send_pending,
)
from config.celery import app
from reports.models import Report
from reports.services import reports_sweep
from results.models import ResultRun, RunStatus
from results.services import result_run_execute, result_runs_sweep
from tests.assessments.survey_fixtures import open_campaign
from tests.reports.scoring_fixtures import build_tree, closed_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(organization, core_instrument):
    return open_campaign(organization, core_instrument, people=3)


def test_a_batch_out_of_time_stops_without_blaming_the_address(campaign, monkeypatch):
    from django.core.mail.backends.locmem import EmailBackend

    real = EmailBackend.send_messages
    calls = []

    def slow(self, messages):
        calls.append(1)
        if len(calls) == 2:
            raise SoftTimeLimitExceeded()
        return real(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", slow)
    with pytest.raises(SoftTimeLimitExceeded):
        invitations_send_pending(campaign_id=campaign.pk)
    statuses = list(campaign.invitations.order_by("pk").values_list("delivery_status", flat=True))
    assert statuses == [DeliveryStatus.SENT, DeliveryStatus.PENDING, DeliveryStatus.PENDING]
    second = campaign.invitations.order_by("pk")[1]
    assert second.delivery_error == "" and not second.tokens.exists()
    # The sweep finds the campaign and the next batch sends the rest.
    monkeypatch.setattr(EmailBackend, "send_messages", real)
    assert campaign.pk in campaigns_needing_delivery()
    assert invitations_send_pending(campaign_id=campaign.pk).sent == 2


def test_failed_deliveries_can_be_retried(campaign, django_capture_on_commit_callbacks):
    Invitation.objects.filter(campaign=campaign).update(
        delivery_status=DeliveryStatus.FAILED, delivery_error="SMTPRecipientsRefused: ..."
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert invitations_retry_failed(campaign=campaign) == 3
    assert set(campaign.invitations.values_list("delivery_status", flat=True)) == {
        DeliveryStatus.SENT
    }
    assert len(mail.outbox) == 3


def test_the_admin_action_retries_failed_deliveries(client, campaign):
    admin = User.objects.create_superuser("root@example.test", "a-long-test-password")
    client.force_login(admin)
    Invitation.objects.filter(campaign=campaign).update(delivery_status=DeliveryStatus.FAILED)
    page = client.post(
        reverse("admin:assessments_campaign_changelist"),
        {"action": "retry_failed_deliveries", "_selected_action": [campaign.pk]},
        follow=True,
    )
    assert "are being sent again" in page.content.decode()
    assert not campaign.invitations.filter(delivery_status=DeliveryStatus.FAILED).exists()


def test_scoring_gives_up_after_the_allowed_attempts(organization, core_instrument, settings):
    settings.SCORING_MAX_ATTEMPTS = 3
    campaign = closed_campaign(organization, core_instrument, build_tree(organization))
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.CLOSED, closed_at=timezone.now()
    )
    run = ResultRun.objects.create(
        organization=organization, campaign=campaign, status=RunStatus.RUNNING, attempts=3
    )
    run = result_run_execute(run_id=run.pk)
    assert run.status == RunStatus.FAILED and "started 3 times" in run.error
    assert result_run_execute(run_id=run.pk).attempts == 3  # a late copy changes nothing


def test_sweeps_leave_recently_queued_rows_alone(organization, core_instrument, campaign):
    closed = closed_campaign(organization, core_instrument, build_tree(organization))
    old = timezone.now() - dt.timedelta(minutes=30)
    run = ResultRun.objects.create(organization=organization, campaign=closed)
    ResultRun.objects.filter(pk=run.pk).update(created_at=old, queued_at=timezone.now())
    assert result_runs_sweep() == []
    ResultRun.objects.filter(pk=run.pk).update(queued_at=old)
    assert result_runs_sweep() == [run.pk]
    assert result_runs_sweep() == []  # just queued again

    report = Report.objects.create(
        organization=organization, campaign=closed, language="en", result_run=run
    )
    Report.objects.filter(pk=report.pk).update(created_at=old, queued_at=timezone.now())
    assert reports_sweep() == []
    Report.objects.filter(pk=report.pk).update(queued_at=old)
    assert reports_sweep() == [report.pk]

    Campaign.objects.filter(pk=campaign.pk).update(delivery_queued_at=timezone.now())
    assert campaign.pk not in campaigns_needing_delivery()
    Campaign.objects.filter(pk=campaign.pk).update(delivery_queued_at=old)
    assert campaign.pk in campaigns_needing_delivery()


def test_every_beat_task_expires_within_its_period():
    for name, entry in app.conf.beat_schedule.items():
        expires = entry.get("options", {}).get("expires")
        assert expires is not None and 0 < expires <= entry["schedule"], name
