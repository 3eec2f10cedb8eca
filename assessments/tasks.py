"""Celery tasks for campaigns: thin wrappers that take ids and call one service.

Every task here is safe to run twice and safe to run late: the state it acts on is in the
database, and the services re-check it row by row.
"""

from celery import shared_task

from assessments import services


@shared_task(name="assessments.tasks.advance_campaign_schedules")
def advance_campaign_schedules() -> dict:
    """Beat: open and close campaigns whose time has come, then start due reminder rounds."""
    result = services.campaigns_advance_schedule()
    reminders = services.reminders_schedule_due()
    return {"opened": result.opened, "closed": result.closed, "reminder_rounds": reminders}


@shared_task(name="assessments.tasks.send_invitations")
def send_invitations(campaign_id: int) -> dict:
    result = services.invitations_send_pending(campaign_id=campaign_id)
    return {"sent": result.sent, "failed": result.failed}


@shared_task(name="assessments.tasks.send_reminders")
def send_reminders(campaign_id: int) -> dict:
    result = services.reminders_send_owed(campaign_id=campaign_id)
    return {"sent": result.sent, "failed": result.failed}


@shared_task(name="assessments.tasks.sweep_deliveries")
def sweep_deliveries() -> list[int]:
    """Beat: re-enqueue delivery for open campaigns with unsent invitations or owed reminders.

    Covers a broker outage at launch time and a worker that died mid-batch.
    """
    campaign_ids = services.campaigns_needing_delivery()
    for campaign_id in campaign_ids:
        services.campaign_delivery_queue(campaign_id=campaign_id)
    return campaign_ids


@shared_task(name="assessments.tasks.score_campaign", acks_late=True)
def score_campaign(run_id: int) -> dict:
    """Score one ResultRun. Redelivered if the worker dies (see task_annotations)."""
    from reports.services import result_run_execute

    run = result_run_execute(run_id=run_id)
    return {"run": run.pk, "status": run.status}


@shared_task(name="assessments.tasks.sweep_result_runs")
def sweep_result_runs() -> list[int]:
    """Beat: re-enqueue scoring runs left pending (broker down at close) or abandoned."""
    from reports.services import result_runs_sweep

    return result_runs_sweep()
