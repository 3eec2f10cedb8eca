"""Celery tasks for directory sync runs: thin wrappers that take ids and call one service."""

from celery import shared_task

from accounts import sync


@shared_task(name="accounts.tasks.sync_run_execute", acks_late=True)
def sync_run_execute(run_id: int) -> dict:
    """Check and apply one sync run. Redelivered if the worker dies (see task_annotations)."""
    run = sync.sync_run_execute(run_id=run_id)
    return {"run": run.pk, "status": run.status}


@shared_task(name="accounts.tasks.sweep_sync_runs")
def sweep_sync_runs() -> list[int]:
    """Beat: hand over again the sync runs whose message or worker was lost."""
    return sync.sync_runs_sweep()
