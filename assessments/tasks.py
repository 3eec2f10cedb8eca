"""Celery tasks for campaigns: thin wrappers that take ids and call one service."""

from celery import shared_task

from assessments.services import campaigns_advance_schedule


@shared_task(name="assessments.tasks.advance_campaign_schedules")
def advance_campaign_schedules() -> dict:
    """Beat task: open and close campaigns whose time has come. Safe to run twice."""
    result = campaigns_advance_schedule()
    return {"opened": result.opened, "closed": result.closed}
