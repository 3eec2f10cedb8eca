"""Webhook URLs are typed in by an organisation's admin, and Plimsoll runs inside the
organisation's network: unless WEBHOOK_ALLOW_PRIVATE_TARGETS is on, it calls only public
addresses, over HTTPS, checked on the address it actually connects to."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from standardwebhooks.webhooks import Webhook

from accounts.models import EventType
from tests.factories import OrganizationFactory
from tests.webhooks.conftest import TLS_HOST
from webhooks import transport
from webhooks.models import WebhookDelivery
from webhooks.services import delivery_attempt, webhook_endpoint_create, webhook_ping

pytestmark = pytest.mark.django_db

REFUSED = [
    ("http://hooks.example.com/plimsoll", "must use HTTPS"),
    ("ftp://hooks.example.com/plimsoll", "must start with https://"),
    ("https://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
    ("https://127.8.9.10:8443/hook", "127.8.9.10 is a loopback address"),
    ("https://[::1]:8443/hook", "::1 is a loopback address"),
    ("https://[::ffff:127.0.0.1]/hook", "is a loopback address"),
    ("https://10.20.30.40/hook", "10.20.30.40 is a private address"),
    ("https://192.168.1.5/hook", "192.168.1.5 is a private address"),
    ("https://[fd12:3456::1]/hook", "fd12:3456::1 is a private address"),
    ("https://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
    ("https://[fe80::1]/hook", "fe80::1 is a link-local address"),
    ("https://224.0.0.251/hook", "224.0.0.251 is a multicast address"),
    ("https://0.0.0.0/hook", "0.0.0.0 is an unspecified address"),
    ("https://240.1.2.3/hook", "240.1.2.3 is a reserved address"),
    ("https://100.64.1.1/hook", "100.64.1.1 is a non-public address"),
    ("https://[64:ff9b::a00:1]/hook", "is a private address"),  # NAT64 of 10.0.0.1
    ("https://localhost:8443/hook", "localhost is a local name"),
    ("https://printer.local/hook", "printer.local is a local name"),
    ("https://ops:secret@hooks.example.com/hook", "Leave user names and passwords out"),
    ("https://hooks.example.com:99999/hook", "port must be a number"),
    ("https:///hook", "needs a host name"),
    ("", "Enter the URL"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED, ids=[url or "empty" for url, _ in REFUSED])
def test_a_url_that_cannot_be_a_target_is_refused_with_the_reason(settings, url, why):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    problem = transport.url_problem(url, allow_private=False)
    assert why in problem, problem
    organization = OrganizationFactory()
    with pytest.raises(ValidationError) as refused:
        webhook_endpoint_create(
            organization=organization, url=url, events=[EventType.CAMPAIGN_LAUNCHED]
        )
    assert list(refused.value.message_dict) == ["url"]
    # The transport refuses it too, without touching the network.
    answer = transport.post(url, b"{}", {}, allow_private=False)
    assert answer.status_code is None and answer.error == problem


@pytest.mark.parametrize(
    "url", ["https://hooks.example.com/plimsoll?tenant=7", "https://93.184.215.14:8443/x"]
)
def test_a_public_https_url_is_accepted(url):
    assert transport.url_problem(url, allow_private=False) == ""


def test_the_setting_lets_a_receiver_on_the_same_host_or_network_in(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    for url in ("http://127.0.0.1:8080/hook", "https://10.0.0.5/hook", "http://localhost/x"):
        assert transport.url_problem(url, allow_private=True) == "", url
    endpoint, _ = webhook_endpoint_create(
        organization=OrganizationFactory(),
        url="http://127.0.0.1:8080/hook",
        events=[EventType.REPORT_READY],
    )
    assert endpoint.url == "http://127.0.0.1:8080/hook"


def _ping(url, settings, *, allow: bool):
    """An endpoint for `url` made while private targets are allowed, then a ping sent while
    they are allowed or not (the setting may have changed since the endpoint was made)."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    endpoint, secret = webhook_endpoint_create(
        organization=OrganizationFactory(), url=url, events=[EventType.REPORT_READY]
    )
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = allow
    delivery = webhook_ping(endpoint=endpoint)
    delivery_attempt(delivery_id=delivery.pk)
    return WebhookDelivery.objects.get(pk=delivery.pk), secret


def test_a_host_name_that_resolves_to_loopback_is_refused_when_connecting(
    settings, tls_receiver, dns
):
    """hooks.example.test passes every check that can be made on the URL; it resolves to
    127.0.0.1, which is found out when connecting, before anything is sent."""
    dns[TLS_HOST] = "127.0.0.1"
    assert transport.url_problem(tls_receiver.url, allow_private=False) == ""
    delivery, _ = _ping(tls_receiver.url, settings, allow=False)
    assert delivery.last_status_code is None
    assert delivery.last_error == (
        f"{TLS_HOST} resolves to 127.0.0.1 is a loopback address: not called"
    )
    assert tls_receiver.got == [] and tls_receiver.sni == []  # not even a TLS handshake


def test_a_host_name_with_one_private_address_among_public_ones_is_refused(settings, monkeypatch):
    """Every address is checked: a name that resolves to a public and a private address could
    otherwise be connected to either."""
    real = transport.resolve
    monkeypatch.setattr(
        transport,
        "resolve",
        lambda host, port: real("93.184.215.14", port) + real("10.1.1.1", port),
    )
    answer = transport.post("https://hooks.example.com/x", b"{}", {}, allow_private=False)
    assert answer.status_code is None
    assert answer.error == "hooks.example.com resolves to 10.1.1.1 is a private address: not called"


def test_a_host_name_that_resolves_to_ipv6_loopback_is_refused(settings, dns, receiver_v6):
    dns["v6.example.test"] = "::1"
    url = f"https://v6.example.test:{receiver_v6.port}/hooks/plimsoll"
    answer = transport.post(url, b"{}", {}, allow_private=False)
    assert answer.error == "v6.example.test resolves to ::1 is a loopback address: not called"
    assert receiver_v6.got == []
    # The IPv6 receiver itself works once private targets are allowed.
    allowed = transport.post(receiver_v6.url, b"{}", {}, allow_private=True)
    assert allowed.status_code == 200 and len(receiver_v6.got) == 1


def test_the_connection_goes_to_the_checked_address_under_the_host_s_name(
    settings, tls_receiver, dns, monkeypatch
):
    """With private targets allowed (the receiver is on loopback), the same host name is
    delivered to: the host is resolved once per attempt, by the transport, and the socket
    goes to that address while the Host header, SNI and certificate check name the host. A
    second DNS answer (a rebinding) has nowhere to go."""
    dns[TLS_HOST] = "127.0.0.1"
    lookups = []
    resolving = transport.resolve
    monkeypatch.setattr(
        transport, "resolve", lambda host, port: lookups.append(host) or resolving(host, port)
    )
    delivery, secret = _ping(tls_receiver.url, settings, allow=True)
    assert delivery.last_status_code == 200, delivery.last_error
    assert lookups == [TLS_HOST]
    (got,) = tls_receiver.got
    assert got.headers["host"] == f"{TLS_HOST}:{tls_receiver.port}"
    assert tls_receiver.sni == [TLS_HOST]
    assert Webhook(secret).verify(got.body, got.headers)["type"] == EventType.PING


def test_a_certificate_for_another_name_is_refused(settings, tls_receiver, dns):
    dns["other.example.test"] = "127.0.0.1"
    url = tls_receiver.url.replace(TLS_HOST, "other.example.test")
    answer = transport.post(url, b"{}", {}, allow_private=True)
    assert answer.status_code is None and answer.error.startswith("TLS failed")
    assert tls_receiver.got == []
