"""A task travels through Redis to a real worker process and changes the database."""

import datetime as dt

import pytest
from django.utils import timezone

from assessments.models import Campaign, CampaignStatus
from assessments.services import campaign_transition
from results.models import ResultRun
from results.tasks import advance_campaign_schedules
from tests.factories import CampaignFactory, DepartmentFactory
from tests.integration.conftest import ROOT, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_worker_opens_and_closes_due_campaigns(celery_worker_process, core_instrument):
    department = DepartmentFactory()
    now = timezone.now()
    due_to_open = CampaignFactory(
        organization=department.organization,
        instrument=core_instrument,
        opens_at=now - dt.timedelta(minutes=5),
        closes_at=now + dt.timedelta(days=14),
    )
    campaign_transition(campaign=due_to_open, to=CampaignStatus.SCHEDULED)
    due_to_close = CampaignFactory(
        organization=department.organization,
        instrument=core_instrument,
        opens_at=now - dt.timedelta(days=20),
        closes_at=now - dt.timedelta(minutes=1),
    )
    campaign_transition(campaign=due_to_close, to=CampaignStatus.OPEN)
    not_yet = CampaignFactory(organization=department.organization, instrument=core_instrument)
    campaign_transition(campaign=not_yet, to=CampaignStatus.SCHEDULED)

    result = advance_campaign_schedules.delay()
    # The message went to the broker, not through the in-process eager path.
    assert result.__class__.__name__ == "AsyncResult"

    def statuses():
        current = dict(Campaign.objects.values_list("pk", "status"))
        done = (
            current[due_to_open.pk] == CampaignStatus.OPEN
            and current[due_to_close.pk] == CampaignStatus.CLOSED
        )
        return current if done else None

    final = wait_for(statuses, timeout=30)
    assert final[not_yet.pk] == CampaignStatus.SCHEDULED
    closed = Campaign.objects.get(pk=due_to_close.pk)
    assert closed.closed_at is not None
    # The close asked for its scoring run at once; the worker finishes it before the test ends
    # (and empties the database).
    assert ResultRun.objects.filter(campaign=closed).exists()
    wait_for(
        lambda: (
            not ResultRun.objects.filter(
                campaign=closed, status__in=["pending", "running"]
            ).exists()
            or None
        ),
        timeout=60,
    )
    # And it was the worker process that ran it.
    log = (ROOT / "test-results" / "celery-worker.log").read_text(errors="replace")
    assert f"results.tasks.advance_campaign_schedules[{result.id}] succeeded" in log


def test_messages_queued_under_the_old_task_names_still_run(celery_worker_process, core_instrument):
    """Scoring and the schedule moved from `assessments.tasks` to `results.tasks`; a message a
    previous version left in the queue under the old name is still taken and run."""
    from config.celery import app

    department = DepartmentFactory()
    now = timezone.now()
    due_to_open = CampaignFactory(
        organization=department.organization,
        instrument=core_instrument,
        opens_at=now - dt.timedelta(minutes=5),
        closes_at=now + dt.timedelta(days=14),
    )
    campaign_transition(campaign=due_to_open, to=CampaignStatus.SCHEDULED)
    result = app.send_task("assessments.tasks.advance_campaign_schedules")
    wait_for(
        lambda: Campaign.objects.get(pk=due_to_open.pk).status == CampaignStatus.OPEN or None,
        timeout=30,
    )
    log = (ROOT / "test-results" / "celery-worker.log").read_text(errors="replace")
    assert f"assessments.tasks.advance_campaign_schedules[{result.id}] succeeded" in log
