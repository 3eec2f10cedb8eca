"""The beat sweep gives lost report renderings another go, and never doubles a live one."""

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone

from reports.models import Report, ReportStatus
from reports.services import STALE_PENDING, STALE_RENDERING, reports_sweep
from reports.tasks import render_report
from results.models import ResultRun, RunStatus
from tests.factories import CampaignFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def make_report(organization, core_instrument):
    campaign = CampaignFactory(organization=organization, instrument=core_instrument)
    run = ResultRun.objects.create(
        organization=organization, campaign=campaign, status=RunStatus.DONE
    )

    def make(status, *, created_ago=dt.timedelta(0), started_ago=None):
        now = timezone.now()
        return Report.objects.create(
            organization=organization,
            campaign=campaign,
            result_run=run,
            status=status,
            created_at=now - created_ago,
            started_at=None if started_ago is None else now - started_ago,
        )

    return make


def test_stale_queued_and_abandoned_running_reports_are_enqueued_again(make_report):
    minute = dt.timedelta(minutes=1)
    lost_in_queue = make_report(ReportStatus.QUEUED, created_ago=STALE_PENDING + minute)
    just_queued = make_report(ReportStatus.QUEUED)
    worker_died = make_report(
        ReportStatus.RUNNING, created_ago=STALE_RENDERING * 3, started_ago=STALE_RENDERING + minute
    )
    # Queued for long (broker down), started a minute ago: alive, not to be doubled.
    rendering_now = make_report(
        ReportStatus.RUNNING, created_ago=STALE_RENDERING * 3, started_ago=minute
    )
    finished = make_report(ReportStatus.DONE, created_ago=STALE_RENDERING * 3)
    failed = make_report(ReportStatus.FAILED, created_ago=STALE_RENDERING * 3)

    with mock.patch.object(render_report, "delay") as delay:
        swept = reports_sweep()

    assert sorted(swept) == sorted([lost_in_queue.pk, worker_died.pk])
    assert sorted(call.args[0] for call in delay.call_args_list) == sorted(swept)
    for untouched in (just_queued, rendering_now, finished, failed):
        assert untouched.pk not in swept
