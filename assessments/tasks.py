"""Celery tasks for delivery: thin wrappers that take ids and call one service.

Opening and closing on schedule and scoring are in `results.tasks` (a close starts scoring).

Every task here is safe to run twice and safe to run late: the state it acts on is in the
database, and the services re-check it row by row.
"""

from celery import shared_task

from assessments import services


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
