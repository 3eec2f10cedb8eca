"""Directory sync runs on PostgreSQL and real workers: two runs of one organisation go one after
the other, and a run whose worker is killed mid-way comes back and is applied once."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from django.db import connection

from accounts import sync
from accounts.models import Employee, EventType, OutboxEvent, SyncRun, SyncRunStatus
from tests.integration.conftest import start_worker, stop, wait_for
from tests.integration.test_scoring_worker import _children

pytestmark = pytest.mark.django_db(transaction=True)

TREE = [{"external_id": "D-OPS", "name": "Operations"}]


def _staff(count: int) -> list[dict]:
    return [
        {"external_id": f"E-{n}", "email": f"e{n}@harbour.test", "department_external_id": "D-OPS"}
        for n in range(count)
    ]


def _run(organization, employees, *, departments=TREE, mode="full") -> SyncRun:
    # Written by hand, not through sync_run_request: nothing goes to the shared worker.
    return SyncRun.objects.create(
        organization=organization,
        mode=mode,
        payload={"departments": departments, "employees": employees},
        summary={"format": "json"},
        requested_by_label="API key test",
    )


def test_two_runs_of_one_organisation_are_applied_one_after_the_other(organization, monkeypatch):
    monkeypatch.setattr("accounts.services._send_event", lambda event_id: None)
    first = _run(organization, _staff(50))
    second = _run(organization, _staff(51))  # the same people and one more
    holding = threading.Event()
    spans: dict[int, list[float]] = {}
    real_plan = sync._plan

    def slow_plan(run):
        spans[run.pk] = [time.monotonic()]
        if run.pk == first.pk:
            holding.set()
            time.sleep(1.5)  # the second run arrives while the first holds the tree
        plan = real_plan(run)
        return plan

    monkeypatch.setattr(sync, "_plan", slow_plan)
    errors = []

    def execute(run_id):
        try:
            sync.sync_run_execute(run_id=run_id)
            spans[run_id].append(time.monotonic())
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=execute, args=(first.pk,))]
    threads[0].start()
    assert holding.wait(timeout=30)
    threads.append(threading.Thread(target=execute, args=(second.pk,)))
    threads[1].start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == SyncRunStatus.APPLIED
    # The second planned only after the first had written: it saw the fifty as existing.
    assert spans[second.pk][0] >= spans[first.pk][1] - 0.05
    assert len(first.changes["employees_created"]) == 50
    assert len(second.changes["employees_created"]) == 1
    assert Employee.objects.for_organization(organization).count() == 51


def test_a_run_whose_worker_is_killed_is_redelivered_and_applied_once(organization):
    run = _run(organization, _staff(40))
    worker, log = start_worker(
        "sync-kill", queues="sync-kill", pool="prefork", env={"SYNC_TEST_DELAY_SECONDS": "4"}
    )
    try:
        from accounts.tasks import sync_run_execute

        sync_run_execute.apply_async(args=[run.pk], queue="sync-kill")
        wait_for(lambda: SyncRun.objects.get(pk=run.pk).status == SyncRunStatus.RUNNING, timeout=30)
        (child,) = _children(worker.pid)
        os.kill(child, signal.SIGKILL)  # the process applying the run dies mid-way
        done = wait_for(
            lambda: SyncRun.objects.filter(pk=run.pk, status=SyncRunStatus.APPLIED).first(),
            timeout=90,
        )
    finally:
        stop(worker)
    assert done is not None, log.read_text()[-3000:]
    assert "WorkerLostError" in log.read_text() or "SIGKILL" in log.read_text()
    assert Employee.objects.for_organization(organization).count() == 40
    assert len(done.changes["employees_created"]) == 40
    completed = OutboxEvent.objects.filter(type=EventType.SYNC_COMPLETED)
    assert completed.count() == 1  # one application, one event
