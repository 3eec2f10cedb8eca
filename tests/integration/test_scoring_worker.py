"""Scoring through real workers on Redis: end to end, a killed worker, and Redis down."""

import datetime as dt
import os
import signal
import subprocess
import sys

import pytest
from django.utils import timezone

from assessments.models import CampaignStatus
from results.models import DomainResult, ResultRun, RunStatus
from results.services import campaign_close, result_runs_sweep
from tests.integration.conftest import (
    ROOT,
    _database_url_for_tests,
    free_port,
    start_redis,
    start_worker,
    stop,
    wait_for,
)
from tests.reports.scoring_fixtures import build_tree, closed_campaign

pytestmark = pytest.mark.django_db(transaction=True)


def _complete(campaign):
    run = ResultRun.objects.filter(campaign=campaign, is_current=True).first()
    return run if run is not None and run.status == RunStatus.DONE else None


def _expected_cells(campaign) -> int:
    departments, domains = 4, 10  # Ops, North, Tiny, Sales; plimsoll-core's domains
    # Every department and the organisation, each domain plus the priority and respondents rows.
    return (departments + 1) * (domains + 2)


def test_closing_a_campaign_is_scored_by_the_worker(
    celery_worker_process, organization, core_instrument
):
    campaign = closed_campaign(organization, core_instrument, build_tree(organization))
    campaign_close(campaign=campaign)
    run = wait_for(lambda: _complete(campaign), timeout=60)
    assert run.response_count == 20
    assert DomainResult.objects.filter(run=run).count() == _expected_cells(campaign)


def _children(pid: int) -> list[int]:
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in result.stdout.split()]


def test_a_worker_killed_mid_run_is_redelivered_and_leaves_one_complete_run(
    organization, core_instrument
):
    campaign = closed_campaign(organization, core_instrument, build_tree(organization))
    campaign.status = CampaignStatus.CLOSED
    campaign.closed_at = timezone.now()
    campaign.save()
    # The run row is written by hand and sent to a queue only this test's worker reads, so the
    # shared worker cannot take it.
    run = ResultRun.objects.create(organization=organization, campaign=campaign)
    worker, log = start_worker(
        "scoring-kill", queues="scoring-kill", pool="prefork",
        env={"SCORING_TEST_DELAY_SECONDS": "4"},
    )  # fmt: skip
    try:
        from results.tasks import score_run

        score_run.apply_async(args=[run.pk], queue="scoring-kill")
        wait_for(lambda: ResultRun.objects.get(pk=run.pk).status == RunStatus.RUNNING, timeout=30)
        (child,) = _children(worker.pid)
        os.kill(child, signal.SIGKILL)  # the process doing the run dies mid-way
        done = wait_for(lambda: _complete(campaign), timeout=90)
    finally:
        stop(worker)
    assert done.pk == run.pk
    assert done.attempts >= 2, log.read_text()[-2000:]
    assert ResultRun.objects.filter(campaign=campaign).count() == 1
    assert ResultRun.objects.filter(campaign=campaign, is_current=True).count() == 1
    assert DomainResult.objects.filter(run=done).count() == _expected_cells(campaign)


def test_with_redis_down_the_run_waits_pending_then_completes_after_the_sweep(
    organization, core_instrument
):
    campaign = closed_campaign(organization, core_instrument, build_tree(organization))
    port = free_port()
    broker = f"redis://127.0.0.1:{port}/0"
    env = {**os.environ, "DATABASE_URL": _database_url_for_tests(), "CELERY_BROKER_URL": broker}
    # Close the campaign from a separate process whose broker is not running.
    closing = subprocess.run(
        [sys.executable, "manage.py", "close_campaign", str(campaign.pk)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert closing.returncode == 0, closing.stderr
    assert "the sweep will retry" in closing.stderr
    run = ResultRun.objects.get(campaign=campaign)
    assert run.status == RunStatus.PENDING

    redis = start_redis(port)
    try:
        worker, _ = start_worker("scoring-sweep", env={"CELERY_BROKER_URL": broker})
        try:
            later = (timezone.now() + dt.timedelta(minutes=5)).isoformat()
            sweep = subprocess.run(
                [sys.executable, "manage.py", "shell", "-c",
                 "import datetime as dt; from results.services import result_runs_sweep; "
                 f"print(result_runs_sweep(now=dt.datetime.fromisoformat('{later}')))"],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert sweep.returncode == 0, sweep.stderr
            assert str(run.pk) in sweep.stdout
            done = wait_for(lambda: _complete(campaign), timeout=60)
        finally:
            stop(worker)
    finally:
        redis.terminate()
        redis.wait(timeout=20)
    assert done.pk == run.pk
    assert done.response_count == 20


def test_sweep_leaves_fresh_and_finished_runs_alone(organization, core_instrument):
    campaign = closed_campaign(organization, core_instrument, build_tree(organization))
    fresh = ResultRun.objects.create(organization=organization, campaign=campaign)
    assert result_runs_sweep(now=timezone.now()) == []
    ResultRun.objects.filter(pk=fresh.pk).update(status=RunStatus.FAILED)
    assert result_runs_sweep(now=timezone.now() + dt.timedelta(hours=1)) == []
