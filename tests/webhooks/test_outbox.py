"""Events from the outbox to endpoints: written in the transaction of the change they announce
(a rolled-back change leaves none), thin, fanned out once per subscribed endpoint however often
dispatch runs, delivered after a broker outage by the sweep; test pings to one endpoint; a
rotated secret that keeps signing during its grace period."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts.models import AuditAction, AuditEntry, EventType, OutboxEvent
from accounts.services import event_record
from assessments.models import CampaignStatus
from reports.models import Report
from reports.services import report_render, report_request
from results.models import ResultRun
from results.services import campaign_close, campaigns_advance_schedule, result_run_execute
from tests.assessments.survey_fixtures import open_campaign
from tests.factories import OrganizationFactory
from tests.reports.report_fixtures import build_scored_campaign
from webhooks import services, tasks
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.services import (
    SECRET_GRACE,
    event_dispatch,
    webhook_endpoint_create,
    webhook_endpoint_update,
    webhook_ping,
    webhook_secret_rotate,
    webhooks_sweep,
)

pytestmark = pytest.mark.django_db


def broker_down(*args, **kwargs):
    raise ConnectionError("Error 111 connecting to redis:6379. Connection refused.")


LAUNCHED = {"campaign": {"id": 7, "name": "Spring pulse"}}


@pytest.fixture(autouse=True)
def _loopback_receivers_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True


def _events(**filters) -> list[tuple[str, dict]]:
    return list(OutboxEvent.objects.filter(**filters).values_list("type", "data"))


# --- Written where the change happens, in its transaction -----------------------------------


def test_a_launch_writes_campaign_launched_and_a_rolled_back_launch_writes_nothing(
    core_instrument,
):
    organization = OrganizationFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        open_campaign(organization, core_instrument, name="Rolled back")
        assert [t for t, _ in _events()] == [EventType.CAMPAIGN_LAUNCHED]  # inside: it exists
        raise RuntimeError("something later in the same request failed")
    assert _events() == []
    campaign = open_campaign(organization, core_instrument, name="Spring pulse")
    assert campaign.status == CampaignStatus.OPEN
    assert _events(organization=organization) == [
        (EventType.CAMPAIGN_LAUNCHED, {"campaign": {"id": campaign.pk, "name": "Spring pulse"}})
    ]


def test_a_scheduled_campaign_is_launched_once_not_again_when_it_opens(core_instrument):
    organization = OrganizationFactory()
    later = timezone.now() + dt.timedelta(hours=2)
    campaign = open_campaign(organization, core_instrument, opens_at=later)
    assert campaign.status == CampaignStatus.SCHEDULED
    campaigns_advance_schedule(now=later + dt.timedelta(minutes=1))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.OPEN
    assert [t for t, _ in _events()] == [EventType.CAMPAIGN_LAUNCHED]


def test_closing_by_hand_or_by_schedule_writes_campaign_closed(core_instrument):
    organization = OrganizationFactory()
    by_hand = open_campaign(organization, core_instrument, name="By hand")
    campaign_close(campaign=by_hand)
    on_time = open_campaign(organization, core_instrument, name="On time")
    campaigns_advance_schedule(now=on_time.closes_at + dt.timedelta(minutes=1))
    closed = _events(type=EventType.CAMPAIGN_CLOSED)
    assert closed == [
        (EventType.CAMPAIGN_CLOSED, {"campaign": {"id": by_hand.pk, "name": "By hand"}}),
        (EventType.CAMPAIGN_CLOSED, {"campaign": {"id": on_time.pk, "name": "On time"}}),
    ]


def test_results_are_published_when_a_run_becomes_current_and_a_report_when_it_is_done(
    core_instrument,
):
    scored = build_scored_campaign(core_instrument)
    campaign = scored.campaign
    published = _events(type=EventType.RESULTS_PUBLISHED)
    assert published == [
        (EventType.RESULTS_PUBLISHED, {"campaign": {"id": campaign.pk, "name": campaign.name}})
    ]
    result_run_execute(run_id=scored.run.pk)  # a finished run again: nothing new
    assert len(_events(type=EventType.RESULTS_PUBLISHED)) == 1
    department = scored.departments["beacon"]
    department.external_id = "D-BEACON"
    department.save(update_fields=["external_id"])
    pack = report_request(campaign=campaign, language="en", department=department)
    whole = report_request(campaign=campaign, language="en")
    for report in (pack, whole):
        assert report_render(report_id=report.pk).status == "done"
    report_render(report_id=pack.pk)  # done already: no second event
    ready = [data for _, data in _events(type=EventType.REPORT_READY)]
    assert ready == [
        {
            "report": {
                "id": pack.pk,
                "campaign_id": campaign.pk,
                "department_external_id": "D-BEACON",
                "kind": "department",
            }
        },
        {
            "report": {
                "id": whole.pk,
                "campaign_id": campaign.pk,
                "department_external_id": None,
                "kind": "organisation",
            }
        },
    ]
    assert Report.objects.filter(status="done").count() == 2


def test_a_failed_scoring_run_publishes_nothing(core_instrument, monkeypatch):
    from results import services as results_services

    organization = OrganizationFactory()
    campaign = open_campaign(organization, core_instrument)
    monkeypatch.setattr(results_services, "_compute", lambda campaign: 1 / 0)
    campaign_close(campaign=campaign)
    run = result_run_execute(run_id=ResultRun.objects.get(campaign=campaign).pk)
    assert run.status == "failed"
    assert _events(type=EventType.RESULTS_PUBLISHED) == []


# --- Fan-out ----------------------------------------------------------------------------------


def test_dispatch_makes_one_delivery_per_subscribed_active_endpoint_and_never_two():
    harbour, tidewater = OrganizationFactory(), OrganizationFactory()

    def endpoint(organization, events, url="https://hooks.example.com/a"):
        return webhook_endpoint_create(organization=organization, url=url, events=events)[0]

    launches = endpoint(harbour, [EventType.CAMPAIGN_LAUNCHED])
    everything = endpoint(harbour, services.SUBSCRIBABLE, url="https://b.example.com/")
    endpoint(harbour, [EventType.REPORT_READY])  # not subscribed to launches
    off = endpoint(harbour, [EventType.CAMPAIGN_LAUNCHED])
    webhook_endpoint_update(endpoint=off, is_active=False)
    endpoint(tidewater, [EventType.CAMPAIGN_LAUNCHED])  # another organisation's
    event = event_record(organization=harbour, type=EventType.CAMPAIGN_LAUNCHED, data=LAUNCHED)
    assert event_dispatch(event_id=str(event.pk)) == 2
    assert event_dispatch(event_id=str(event.pk)) == 0  # again: nothing more
    assert tasks.dispatch_event.delay(str(event.pk)).get() == 0
    deliveries = WebhookDelivery.objects.filter(event=event)
    assert {d.endpoint_id for d in deliveries} == {launches.pk, everything.pk}
    assert all(d.organization_id == harbour.pk for d in deliveries)
    event.refresh_from_db()
    assert event.dispatched_at is not None
    # An endpoint added later does not receive events that were dispatched before it.
    endpoint(harbour, [EventType.CAMPAIGN_LAUNCHED], url="https://late.example.com/")
    assert event_dispatch(event_id=str(event.pk)) == 0


def test_an_event_written_while_redis_is_down_is_delivered_by_the_sweep(
    receiver, monkeypatch, django_capture_on_commit_callbacks
):
    organization = OrganizationFactory()
    endpoint, secret = webhook_endpoint_create(
        organization=organization, url=receiver.url, events=[EventType.CAMPAIGN_LAUNCHED]
    )

    with monkeypatch.context() as patched, django_capture_on_commit_callbacks(execute=True):
        patched.setattr(tasks.dispatch_event, "delay", broker_down)
        # The commit goes through; the hand-over fails quietly.
        event = event_record(
            organization=organization, type=EventType.CAMPAIGN_LAUNCHED, data=LAUNCHED
        )
    event.refresh_from_db()
    assert event.dispatched_at is None and not WebhookDelivery.objects.exists()
    assert webhooks_sweep() == {"dispatched": 0, "sent": 0}  # too young: its task may be coming
    OutboxEvent.objects.filter(pk=event.pk).update(
        created_at=timezone.now() - dt.timedelta(minutes=2)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks_sweep() == {"dispatched": 1, "sent": 0}
    (got,) = receiver.got
    assert Webhook(secret).verify(got.body, got.headers)["data"] == LAUNCHED
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert webhooks_sweep() == {"dispatched": 0, "sent": 0}


def test_a_delivery_whose_task_was_lost_is_sent_by_the_sweep(
    receiver, monkeypatch, django_capture_on_commit_callbacks
):
    organization = OrganizationFactory()
    webhook_endpoint_create(
        organization=organization, url=receiver.url, events=[EventType.CAMPAIGN_LAUNCHED]
    )
    event = event_record(organization=organization, type=EventType.CAMPAIGN_LAUNCHED, data={})
    with monkeypatch.context() as patched:
        patched.setattr(tasks.deliver, "delay", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            event_dispatch(event_id=str(event.pk))
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.queued_at is None
    assert receiver.got == []
    with django_capture_on_commit_callbacks(execute=True):
        assert webhooks_sweep() == {"dispatched": 0, "sent": 1}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and len(receiver.got) == 1


def test_the_tasks_are_safe_to_run_twice(receiver, django_capture_on_commit_callbacks):
    organization = OrganizationFactory()
    webhook_endpoint_create(
        organization=organization, url=receiver.url, events=[EventType.CAMPAIGN_LAUNCHED]
    )
    event = event_record(organization=organization, type=EventType.CAMPAIGN_LAUNCHED, data={})
    with django_capture_on_commit_callbacks(execute=True):
        event_dispatch(event_id=str(event.pk))
    delivery = WebhookDelivery.objects.get()
    assert tasks.deliver.delay(delivery.pk).get() is None  # delivered already: left alone
    assert len(receiver.got) == 1
    assert tasks.sweep.delay().get() == {"dispatched": 0, "sent": 0}


# --- Pings and rotation -----------------------------------------------------------------------


def test_a_test_ping_goes_to_that_endpoint_only(receiver, django_capture_on_commit_callbacks):
    organization = OrganizationFactory()
    endpoint, secret = webhook_endpoint_create(
        organization=organization, url=receiver.url, events=[EventType.REPORT_READY]
    )
    webhook_endpoint_create(
        organization=organization,
        url=receiver.url.replace("plimsoll", "other"),
        events=services.SUBSCRIBABLE,
    )
    with django_capture_on_commit_callbacks(execute=True):
        delivery = webhook_ping(endpoint=endpoint)
    (got,) = receiver.got
    assert got.path == "/hooks/plimsoll"
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "webhook.ping"
    assert payload["data"] == {"endpoint": {"id": endpoint.pk}}
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.event.type == EventType.PING
    assert WebhookDelivery.objects.count() == 1
    assert delivery.event.dispatched_at is not None  # never fanned out by the sweep
    # Nobody can subscribe to pings.
    with pytest.raises(ValidationError, match=r"Unknown event 'webhook\.ping'"):
        webhook_endpoint_update(endpoint=endpoint, events=[EventType.PING])


def test_a_rotated_secret_keeps_signing_with_the_old_one_during_the_grace_period(
    receiver, django_capture_on_commit_callbacks
):
    organization = OrganizationFactory()
    endpoint, old = webhook_endpoint_create(
        organization=organization, url=receiver.url, events=[EventType.CAMPAIGN_LAUNCHED]
    )
    endpoint, new = webhook_secret_rotate(endpoint=endpoint, actor_label="API key ops")
    assert new != old and new.startswith("whsec_")
    assert endpoint.previous_secret_expires_at - timezone.now() > SECRET_GRACE * 0.99
    entry = AuditEntry.objects.get(action=AuditAction.WEBHOOK_SECRET_ROTATED)
    assert old not in str(entry.detail) and new not in str(entry.detail) + entry.subject
    with django_capture_on_commit_callbacks(execute=True):
        webhook_ping(endpoint=endpoint)
    got = receiver.got[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(got.body, got.headers)  # a receiver not switched yet
    Webhook(new).verify(got.body, got.headers)  # a receiver already switched
    # After the grace period, only the new secret signs.
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret_expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        webhook_ping(endpoint=endpoint)
    got = receiver.got[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(got.body, got.headers)


def test_a_campaign_launch_reaches_a_subscribed_endpoint_end_to_end(
    core_instrument, receiver, django_capture_on_commit_callbacks
):
    organization = OrganizationFactory()
    _endpoint, secret = webhook_endpoint_create(
        organization=organization, url=receiver.url, events=[EventType.CAMPAIGN_LAUNCHED]
    )
    with django_capture_on_commit_callbacks(execute=True):
        campaign = open_campaign(organization, core_instrument, name="Autumn check")
    (got,) = receiver.got
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["data"] == {"campaign": {"id": campaign.pk, "name": "Autumn check"}}
