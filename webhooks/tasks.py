"""Celery tasks for webhooks: thin wrappers that take ids and call one service. They run on
the `default` queue (config/celery.py routes only reports.* elsewhere).

Each is safe to run twice and late: the state lives on the rows, and the services re-check it
(a dispatched event is not fanned out again; a delivery not due or being tried is left alone).
"""

from celery import shared_task

from webhooks import services


@shared_task(name="webhooks.tasks.dispatch_event")
def dispatch_event(event_id: str) -> int:
    """Fan an outbox event out: one delivery per subscribed endpoint (accounts.services
    .event_record sends this, by name, when the change's transaction commits)."""
    return services.event_dispatch(event_id=event_id)


# One attempt: a connection and an answer take seconds (transport timeouts); the limits stop
# a receiver that trickles its answer byte by byte. The lease (services.ATTEMPT_LEASE) is longer.
@shared_task(name="webhooks.tasks.deliver", soft_time_limit=60, time_limit=75)
def deliver(delivery_id: int) -> str | None:
    delivery = services.delivery_attempt(delivery_id=delivery_id)
    return None if delivery is None else delivery.status


@shared_task(name="webhooks.tasks.sweep")
def sweep() -> dict:
    """Beat: dispatch events whose hand-over was lost, send deliveries that are due."""
    return services.webhooks_sweep()
