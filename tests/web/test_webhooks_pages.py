"""The webhooks pages: admins add an endpoint and see its secret once, change it, switch it off,
rotate its secret (shown once), send a test ping, read the deliveries with each attempt and
redeliver; every change is in the audit trail; no other role reaches the pages, and another
organisation's endpoints and deliveries answer 404."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse
from standardwebhooks.webhooks import Webhook

from accounts.models import AuditAction, AuditEntry, EventType
from accounts.services import department_create, event_record
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.webhooks.receiver import running
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.services import event_dispatch, webhook_endpoint_create

pytestmark = pytest.mark.django_db

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{40,}")


@pytest.fixture(autouse=True)
def _loopback_receivers_allowed(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True


@pytest.fixture
def receiver():
    """A real HTTP receiver at 127.0.0.1 (tests/webhooks/receiver.py)."""
    with running() as found:
        yield found


@pytest.fixture
def admin(client, organization):
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="admin")
    client.force_login(user)
    return user


def _url(organization, name="web:webhooks", **kwargs):
    return reverse(name, kwargs={"org": organization.slug, **kwargs})


def _create(client, organization, url, **overrides):
    data = {
        "url": url,
        "description": "HRIS",
        "events": [EventType.CAMPAIGN_LAUNCHED, EventType.REPORT_READY],
    } | overrides
    return client.post(_url(organization), data)


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(
    client, admin, organization, receiver, django_capture_on_commit_callbacks
):
    page = client.get(_url(organization))
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    body = page.content.decode()
    assert 'value="campaign.launched"' in body and 'value="webhook.ping"' not in body
    nav = client.get(reverse("web:org_home", kwargs={"org": organization.slug})).content
    assert _url(organization).encode() in nav
    response = _create(client, organization, receiver.url)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    body = unescape(response.content.decode())
    (secret,) = set(SECRET.findall(body))
    assert "will not be shown again" in body
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == secret and endpoint.created_by == admin
    assert endpoint.organization == organization and endpoint.description == "HRIS"
    assert endpoint.events == ["campaign.launched", "report.ready"]
    assert secret not in str(dict(client.session)) and secret not in str(response.cookies)
    # Later pages never show it.
    for url in (
        _url(organization),
        _url(organization, "web:webhook", pk=endpoint.pk),
        _url(organization, "web:webhook_deliveries", pk=endpoint.pk),
    ):
        again = client.get(url).content.decode().replace("<wbr>", "")
        assert not SECRET.search(again) and receiver.url in again, url
    entry = AuditEntry.objects.get(action=AuditAction.WEBHOOK_CREATED)
    assert entry.actor == admin and receiver.url in entry.subject and secret not in str(entry)
    assert secret not in str(entry.detail)


def test_a_bad_endpoint_comes_back_with_the_reason_next_to_the_field(
    client, admin, organization, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = _create(client, organization, "http://10.0.0.8/hook", events=[])
    assert response.status_code == 400
    body = unescape(response.content.decode())
    assert "must use HTTPS" in body and "This field is required." in body
    response = _create(client, organization, "https://10.0.0.8/hook")
    assert response.status_code == 400
    assert "10.0.0.8 is a private address" in unescape(response.content.decode())
    assert not WebhookEndpoint.objects.exists()


def test_an_admin_changes_switches_off_and_deletes_an_endpoint(client, admin, organization):
    endpoint, _ = webhook_endpoint_create(
        organization=organization, url="https://a.example.com/x", events=["report.ready"]
    )
    page = client.get(_url(organization, "web:webhook", pk=endpoint.pk))
    assert page.status_code == 200
    assert re.search(
        r'<input type="checkbox" name="is_active"[^>]* checked>', page.content.decode()
    )
    response = client.post(
        _url(organization, "web:webhook", pk=endpoint.pk),
        {"url": "https://b.example.com/y", "description": "Bot", "events": ["campaign.closed"]},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description, endpoint.events, endpoint.is_active) == (
        "https://b.example.com/y",
        "Bot",
        ["campaign.closed"],
        False,  # the box was not ticked
    )
    entry = AuditEntry.objects.get(action=AuditAction.WEBHOOK_UPDATED)
    assert entry.actor == admin
    assert entry.detail["changed"] == ["url", "description", "events", "is_active"]
    body = client.get(_url(organization)).content.decode()
    assert 'class="status revoked"' in body
    bad = client.post(
        _url(organization, "web:webhook", pk=endpoint.pk),
        {"url": "ftp://b.example.com/y", "events": ["campaign.closed"], "is_active": "on"},
    )
    assert bad.status_code == 400 and "must start with https://" in bad.content.decode()
    response = client.post(_url(organization, "web:webhook_delete", pk=endpoint.pk))
    assert response.status_code == 302 and response["Location"] == _url(organization)
    assert not WebhookEndpoint.objects.exists()
    assert AuditEntry.objects.filter(action=AuditAction.WEBHOOK_DELETED, actor=admin).exists()


def test_rotating_shows_the_new_secret_once(client, admin, organization):
    endpoint, old = webhook_endpoint_create(
        organization=organization, url="https://a.example.com/x", events=["report.ready"]
    )
    response = client.post(_url(organization, "web:webhook_rotate", pk=endpoint.pk))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    body = unescape(response.content.decode())
    (new,) = set(SECRET.findall(body))
    endpoint.refresh_from_db()
    assert new == endpoint.secret != old and endpoint.previous_secret == old
    assert "signed with the old secret too" in body
    again = client.get(_url(organization, "web:webhook", pk=endpoint.pk)).content.decode()
    assert not SECRET.search(again) and "the previous one signs too" in again
    assert AuditEntry.objects.filter(action=AuditAction.WEBHOOK_SECRET_ROTATED).count() == 1
    assert client.get(_url(organization, "web:webhook_rotate", pk=endpoint.pk)).status_code == 405


@pytest.mark.django_db(transaction=True)  # commits as in production: the result is known
def test_a_test_ping_and_a_redelivery_from_the_deliveries_page(
    client, admin, organization, receiver
):
    receiver.answers = [503, 200]
    endpoint, secret = webhook_endpoint_create(
        organization=organization, url=receiver.url, events=["campaign.launched"]
    )
    response = client.post(_url(organization, "web:webhook_ping", pk=endpoint.pk))
    deliveries = _url(organization, "web:webhook_deliveries", pk=endpoint.pk)
    assert response.status_code == 302 and response["Location"] == deliveries
    (got,) = receiver.got
    assert Webhook(secret).verify(got.body, got.headers)["type"] == "webhook.ping"
    page = client.get(deliveries)
    body = page.content.decode()
    assert "the attempt failed (HTTP 503 Service Unavailable)" in unescape(body)
    assert "HTTP 503 Service Unavailable" in body and "next attempt" in body
    assert "webhook.ping" in body
    delivery = WebhookDelivery.objects.get()
    response = client.post(_url(organization, "web:webhook_redeliver", pk=delivery.pk))
    assert response.status_code == 302 and response["Location"] == deliveries
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED and delivery.attempts == 2
    assert [g.headers["webhook-id"] for g in receiver.got] == [str(delivery.event_id)] * 2
    body = unescape(client.get(deliveries).content.decode())
    assert "delivered, the endpoint answered 200" in body
    assert "2 attempts" in body and "HTTP 503 Service Unavailable" in body
    entry = AuditEntry.objects.get(action=AuditAction.WEBHOOK_REDELIVERED)
    assert entry.actor == admin and entry.detail["type"] == "webhook.ping"
    # The list shows the last delivery and the latest deliveries.
    overview = client.get(_url(organization)).content.decode()
    assert 'class="status done"' in overview and "webhook.ping" in overview


def test_an_endpoint_switched_off_by_410_says_why(
    client, admin, organization, receiver, django_capture_on_commit_callbacks
):
    receiver.answers = [410]
    endpoint, _ = webhook_endpoint_create(
        organization=organization, url=receiver.url, events=["campaign.launched"]
    )
    event = event_record(organization=organization, type="campaign.launched", data={})
    with django_capture_on_commit_callbacks(execute=True):
        event_dispatch(event_id=str(event.pk))
    body = client.get(_url(organization)).content.decode()
    assert "410 Gone" in body and 'class="status failed"' in body
    page = client.get(_url(organization, "web:webhook", pk=endpoint.pk)).content.decode()
    assert "410 Gone" in page and _url(organization, "web:webhook_ping", pk=endpoint.pk) not in page
    delivery = WebhookDelivery.objects.get()
    response = client.post(_url(organization, "web:webhook_redeliver", pk=delivery.pk))
    assert response.status_code == 302
    follow = client.get(response["Location"]).content.decode()
    assert "switched off" in unescape(follow)
    assert WebhookDelivery.objects.get().attempts == 1 and len(receiver.got) == 1


@pytest.mark.parametrize("role", ["analyst", "manager", "viewer", "representative"])
def test_other_roles_are_refused(client, organization, role):
    scope = department_create(organization=organization, name="Quay") if role == "manager" else None
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role=role, scope_department=scope)
    client.force_login(user)
    endpoint, _ = webhook_endpoint_create(
        organization=organization, url="https://a.example.com/x", events=["report.ready"]
    )
    assert client.get(_url(organization)).status_code == 403
    assert _create(client, organization, "https://b.example.com/").status_code == 403
    for name in ("web:webhook_rotate", "web:webhook_ping", "web:webhook_delete", "web:webhook"):
        assert client.post(_url(organization, name, pk=endpoint.pk)).status_code == 403
    endpoint.refresh_from_db()
    assert WebhookEndpoint.objects.count() == 1 and endpoint.url == "https://a.example.com/x"
    home = client.get(reverse("web:org_home", kwargs={"org": organization.slug}))
    assert _url(organization).encode() not in home.content


def test_another_organisations_endpoints_and_deliveries_answer_404(client, admin, organization):
    other = OrganizationFactory(name="Tidewater")
    theirs, their_secret = webhook_endpoint_create(
        organization=other, url="https://tidewater.example.com/x", events=["report.ready"]
    )
    event = event_record(organization=other, type="report.ready", data={})
    event_dispatch(event_id=str(event.pk))
    delivery = WebhookDelivery.objects.get()
    for name in ("web:webhook", "web:webhook_deliveries"):
        assert client.get(_url(organization, name, pk=theirs.pk)).status_code == 404
    for name in ("web:webhook", "web:webhook_rotate", "web:webhook_ping", "web:webhook_delete"):
        assert client.post(_url(organization, name, pk=theirs.pk)).status_code == 404
    assert client.post(_url(organization, "web:webhook_redeliver", pk=delivery.pk)).status_code == (
        404
    )
    body = client.get(_url(organization)).content.decode()
    assert "tidewater" not in body.lower()
    theirs.refresh_from_db()
    assert theirs.secret == their_secret and WebhookEndpoint.objects.filter(pk=theirs.pk).exists()


def test_the_pages_take_a_fixed_number_of_queries(
    client, admin, organization, django_assert_max_num_queries
):
    for n in range(12):
        webhook_endpoint_create(
            organization=organization, url=f"https://h{n}.example.com/", events=["report.ready"]
        )
    for _ in range(30):
        event = event_record(organization=organization, type="report.ready", data={})
        event_dispatch(event_id=str(event.pk))
    endpoint = WebhookEndpoint.objects.first()
    for url in (
        _url(organization),
        _url(organization, "web:webhook", pk=endpoint.pk),
        _url(organization, "web:webhook_deliveries", pk=endpoint.pk),
    ):
        with django_assert_max_num_queries(14):
            assert client.get(url).status_code == 200
