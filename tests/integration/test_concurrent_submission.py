"""Fifty browsers submit the same personal link at the same moment, on PostgreSQL."""

import http.client
import re
import threading
from urllib.parse import urlencode, urlsplit

import pytest

from assessments.models import Invitation, Response
from tests.assessments.survey_fixtures import full_answers, link_token, open_campaign

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 50


def _request(base, method, path, *, headers=None, body=None):
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read().decode()
    finally:
        connection.close()


def _cookies(headers) -> dict[str, str]:
    found = {}
    for name, value in headers:
        if name.lower() == "set-cookie":
            key, _, rest = value.partition("=")
            found[key] = rest.split(";", 1)[0]
    return found


def test_same_token_fifty_times_at_once_stores_exactly_one_response(
    live_server, organization, core_instrument, monkeypatch
):
    # No email task for the shared Celery worker: it could still be writing to this test's
    # invitation when the database is emptied afterwards.
    monkeypatch.setattr("assessments.services.delivery.enqueue_after_commit", lambda *a: None)
    campaign = open_campaign(organization, core_instrument, people=1)
    invitation, token = link_token(campaign)

    status, headers, _ = _request(live_server.url, "GET", f"/s/{token}/")
    assert status == 302
    cookies = _cookies(headers)
    status, headers, page = _request(
        live_server.url,
        "GET",
        "/s/questions/",
        headers={"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())},
    )
    assert status == 200
    cookies.update(_cookies(headers))
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urlencode({**full_answers(core_instrument), "csrfmiddlewaretoken": csrf})
    request_headers = {
        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
        "Content-Type": "application/x-www-form-urlencoded",
    }

    start = threading.Barrier(THREADS)
    statuses: list[int] = []
    lock = threading.Lock()

    def submit():
        start.wait()
        try:
            code = _request(
                live_server.url, "POST", "/s/questions/", headers=request_headers, body=body
            )[0]
        except Exception as exc:  # noqa: BLE001 - a dropped connection counts as a failure
            code = f"error: {exc!r}"
        with lock:
            statuses.append(code)

    threads = [threading.Thread(target=submit) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(statuses) == THREADS
    # One is stored; the others are told it was answered, or (past the per-link limit on
    # submissions) to wait.
    assert statuses.count(302) == 1, statuses
    assert set(statuses) <= {302, 409, 429}, statuses
    assert Response.objects.filter(campaign=campaign).count() == 1
    assert Invitation.objects.get(pk=invitation.pk).completed_on is not None
