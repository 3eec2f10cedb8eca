"""Submissions hammer a campaign while it closes, on PostgreSQL: no response commits after the
close, so the frozen population is exactly the responses of the open period."""

import threading
import time

import pytest
from django.db import connection

from assessments.models import Invitation, Response
from assessments.services import (
    CampaignNotOpenError,
    response_submit,
)
from assessments.services import submission as services
from results.models import ResultRun
from results.selectors import published_respondents
from results.services import campaign_close, result_run_execute
from tests.assessments.survey_fixtures import full_answers, open_campaign

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8


def test_no_response_commits_after_the_close(organization, core_instrument, monkeypatch):
    # Nothing is sent to the shared Celery worker: it would still be updating this test's
    # invitations (sending their emails) when the test's database is emptied afterwards.
    monkeypatch.setattr("assessments.services.delivery.enqueue_after_commit", lambda *a: None)
    campaign = open_campaign(organization, core_instrument, people=120)
    answers = full_answers(core_instrument)
    pending = list(Invitation.objects.filter(campaign=campaign).values_list("pk", flat=True))
    real_insert = services._insert_response

    def slow_insert(**values):
        # Widen the window between claiming the invitation and storing the answers, so that
        # the close lands inside many submissions.
        time.sleep(0.03)
        real_insert(**values)

    monkeypatch.setattr(services, "_insert_response", slow_insert)
    # The run is executed below, here: the shared worker must not score it at the same time
    # and still be writing when the test's database is emptied.
    monkeypatch.setattr("results.services._enqueue", lambda run_id: None)
    lock = threading.Lock()
    stored, refused, failures = [], [], []

    def hammer():
        try:
            while True:
                with lock:
                    if not pending:
                        return
                    invitation_id = pending.pop()
                try:
                    stored.append(response_submit(invitation_id=invitation_id, answers=answers))
                except CampaignNotOpenError:
                    refused.append(invitation_id)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=hammer) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    time.sleep(0.25)
    campaign_close(campaign=campaign)
    at_close = Response.objects.filter(campaign=campaign).count()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert 0 < at_close < 120, "the close should land while answers are still coming in"
    assert refused, "some submissions should have come after the close"
    # Every submission that was told "stored" is in the population counted at the close.
    assert Response.objects.filter(campaign=campaign).count() == at_close == len(stored)
    assert Invitation.objects.filter(campaign=campaign, completed_on__isnull=False).count() == (
        at_close
    )
    run = result_run_execute(run_id=ResultRun.objects.get(campaign=campaign).pk)
    assert published_respondents(run=run) == at_close
