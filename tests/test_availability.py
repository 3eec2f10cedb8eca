"""Answering never depends on Redis; readiness says what is down; the client address comes
from a configured number of trusted proxies; one survey link cannot hammer submissions."""

import logging
import socket

import pytest
from django.core.cache import cache
from django.test import Client, RequestFactory, override_settings

from assessments import ratelimit
from assessments.models import Response
from assessments.ratelimit import client_address
from tests.assessments.survey_fixtures import full_answers, link_token, open_campaign

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the socket is


def _cache_at(port: int) -> dict:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


@pytest.fixture(autouse=True)
def _fresh_limits():
    cache.clear()
    ratelimit._cache_down = False
    yield
    ratelimit._cache_down = False


@pytest.fixture
def campaign(organization, core_instrument):
    return open_campaign(organization, core_instrument, people=3)


def test_survey_answers_with_the_cache_down_and_warns_once(client, campaign, caplog):
    _invitation, token = link_token(campaign)
    with override_settings(CACHES=_cache_at(_closed_port())), caplog.at_level(logging.WARNING):
        assert client.get(f"/s/{token}/").status_code == 302
        assert client.get("/s/").status_code == 200
        assert client.get("/s/questions/").status_code == 200
        done = client.post("/s/questions/", full_answers(campaign.instrument))
        assert done.status_code == 302, done.content[:300]
    assert Response.objects.filter(campaign=campaign).count() == 1
    warnings = [r for r in caplog.records if "Rate limit not applied" in r.getMessage()]
    assert len(warnings) == 1


def test_readiness_reports_each_service(client):
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["database"] == "ok" and ready.json()["cache"] == "ok"
    assert ready.json()["broker"] in ("ok", "in-process")
    with override_settings(CACHES=_cache_at(_closed_port())):
        down = client.get("/healthz?ready=1")
        assert down.status_code == 503
        assert down.json()["cache"] == "unreachable" and down.json()["database"] == "ok"
        # Liveness does not depend on the cache.
        assert client.get("/healthz").status_code == 200


def test_readiness_reports_an_unreachable_broker(client):
    closed = f"redis://127.0.0.1:{_closed_port()}/0"
    with override_settings(CELERY_TASK_ALWAYS_EAGER=False, CELERY_BROKER_URL=closed):
        down = client.get("/readyz")
    assert down.status_code == 503 and down.json()["broker"] == "unreachable"


@pytest.mark.parametrize(
    ("trusted", "forwarded", "expected"),
    [
        (0, "203.0.113.7", "10.0.0.2"),  # never trusted by default
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the client wrote the first entry
        (2, "203.0.113.7, 10.0.0.9", "203.0.113.7"),
        (2, "10.0.0.9", "10.0.0.2"),  # fewer entries than proxies: the connection's address
    ],
)
def test_client_address_behind_trusted_proxies(trusted, forwarded, expected):
    request = RequestFactory().get("/s/", HTTP_X_FORWARDED_FOR=forwarded, REMOTE_ADDR="10.0.0.2")
    with override_settings(TRUSTED_PROXY_COUNT=trusted):
        assert client_address(request) == expected


@override_settings(TRUSTED_PROXY_COUNT=1, SURVEY_RATE_LIMIT="3/60")
def test_behind_the_proxy_each_client_has_its_own_bucket(client, campaign):
    for _ in range(3):
        assert client.get("/s/", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code != 429
    assert client.get("/s/", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 429
    assert client.get("/s/", HTTP_X_FORWARDED_FOR="203.0.113.8").status_code != 429


@override_settings(TRUSTED_PROXY_COUNT=1, SURVEY_SUBMIT_RATE_LIMIT="2/60")
def test_one_link_cannot_hammer_submissions_from_many_addresses(client, campaign):
    _invitation, token = link_token(campaign)
    assert client.get(f"/s/{token}/").status_code == 302
    statuses = [
        client.post("/s/questions/", {}, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(3)
    ]
    assert statuses == [400, 400, 429]


@pytest.mark.parametrize("url", ["/s/questions/", "/admin/login/", "/reports/1/download/", "/"])
@pytest.mark.parametrize("charset", ["utf-16", "utf-32", "latin-1", "no-such-charset"])
def test_a_form_in_another_charset_gets_400_and_one_log_line(url, charset, caplog):
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    client.cookies["csrftoken"] = "x" * 32
    # An unknown charset cannot encode anything: send UTF-16 bytes under its name.
    body = "a=1".encode("utf-16" if charset == "no-such-charset" else charset)
    with caplog.at_level(logging.INFO):
        response = client.generic(
            "POST",
            url,
            data=body,
            content_type=f"application/x-www-form-urlencoded; charset={charset}",
        )
    assert response.status_code == 400
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1 and not any(r.exc_info for r in errors)


def test_a_utf8_form_still_passes(client):
    response = client.post(
        "/s/questions/", "a=1", content_type="application/x-www-form-urlencoded; charset=UTF-8"
    )
    assert b"Forms must be sent in UTF-8" not in response.content
