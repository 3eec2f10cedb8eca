"""Celery tasks for reports. Routed to the `reports` queue (see config/celery.py), whose worker
restarts its child process after a memory ceiling: PDF rendering is memory-heavy."""

from celery import shared_task

from reports import services


@shared_task(name="reports.tasks.render_report", acks_late=True)
def render_report(report_id: int) -> dict:
    report = services.report_render(report_id=report_id)
    return {"report": report.pk, "status": report.status}


@shared_task(name="reports.tasks.sweep_reports")
def sweep_reports() -> list[int]:
    """Beat: re-enqueue reports left queued (for example while the broker was down)."""
    return services.reports_sweep()
