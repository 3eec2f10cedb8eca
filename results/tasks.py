"""Celery tasks for scoring and the campaign schedule: thin wrappers that take ids and call one
service. Scoring runs on the `default` queue (see config/celery.py).

Task names are part of the stored messages: the names these tasks had before they moved here
stay registered as aliases, so messages queued by an earlier version still run after an upgrade.
"""

from celery import shared_task

from assessments.services import reminders_schedule_due
from results import services


def _score_run(run_id: int) -> dict:
    """Score one ResultRun. Redelivered if the worker dies (see task_annotations)."""
    run = services.result_run_execute(run_id=run_id)
    return {"run": run.pk, "status": run.status}


def _sweep_runs() -> list[int]:
    """Beat: re-enqueue scoring runs left pending (broker down at close) or abandoned, and ask
    for a run of any closed campaign without one."""
    return services.result_runs_sweep()


def _advance_campaign_schedules() -> dict:
    """Beat: open and close campaigns whose time has come (a close starts its scoring), then
    start due reminder rounds."""
    result = services.campaigns_advance_schedule()
    reminders = reminders_schedule_due()
    return {"opened": result.opened, "closed": result.closed, "reminder_rounds": reminders}


score_run = shared_task(name="results.tasks.score_run", acks_late=True)(_score_run)
sweep_runs = shared_task(name="results.tasks.sweep_runs")(_sweep_runs)
advance_campaign_schedules = shared_task(name="results.tasks.advance_campaign_schedules")(
    _advance_campaign_schedules
)

# The same work under the names these tasks had when they lived in `assessments.tasks`.
LEGACY_NAMES = {
    "assessments.tasks.score_campaign": "results.tasks.score_run",
    "assessments.tasks.sweep_result_runs": "results.tasks.sweep_runs",
    "assessments.tasks.advance_campaign_schedules": "results.tasks.advance_campaign_schedules",
}
legacy_score_campaign = shared_task(name="assessments.tasks.score_campaign", acks_late=True)(
    _score_run
)
legacy_sweep_result_runs = shared_task(name="assessments.tasks.sweep_result_runs")(_sweep_runs)
legacy_advance_campaign_schedules = shared_task(
    name="assessments.tasks.advance_campaign_schedules"
)(_advance_campaign_schedules)
