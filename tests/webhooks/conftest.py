"""Webhook tests' fixtures: a real HTTP(S) receiver on the loopback interface, and a way to
make a host name resolve to it (the transport resolves names itself, at connect time)."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import pytest

from tests.webhooks.receiver import running
from webhooks import transport

TLS = Path(__file__).parent / "tls"
TLS_HOST = "hooks.example.test"  # the name tls/hooks.example.test.crt is made out to


@pytest.fixture
def receiver():
    """A plain HTTP receiver at 127.0.0.1 (tests switch WEBHOOK_ALLOW_PRIVATE_TARGETS on)."""
    with running() as found:
        yield found


@pytest.fixture
def receiver_v6():
    """The same receiver on the IPv6 loopback, [::1]."""
    with running(family=socket.AF_INET6, host="::1") as found:
        yield found


@pytest.fixture
def tls_receiver(monkeypatch):
    """An HTTPS receiver at 127.0.0.1 whose certificate names hooks.example.test; the
    transport trusts that certificate (and nothing else) and the receiver records the SNI it
    was sent. Reach it through `dns`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(TLS / f"{TLS_HOST}.crt", TLS / f"{TLS_HOST}.key")
    with running(tls=context) as found:
        context.sni_callback = lambda _sock, name, _ctx: found.sni.append(name)
        found.url = f"https://{TLS_HOST}:{found.port}/hooks/plimsoll"
        monkeypatch.setattr(
            transport,
            "tls_context",
            lambda: ssl.create_default_context(cafile=str(TLS / f"{TLS_HOST}.crt")),
        )
        yield found


@pytest.fixture
def dns(monkeypatch):
    """`dns["name"] = "address"` makes `name` resolve to `address` for the transport; other
    names resolve as usual."""
    table: dict[str, str] = {}
    real = transport.resolve
    monkeypatch.setattr(transport, "resolve", lambda host, port: real(table.get(host, host), port))
    return table
