"""Celery application: queues, reliability settings and the beat schedule.

Work that must not be lost is a database row first and is enqueued on commit; a beat sweep
re-enqueues rows nobody picked up. These settings make a task that was started but not finished
come back rather than vanish.
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("plimsoll")
# Django settings prefixed CELERY_ supply what depends on the environment (broker URL, eager
# mode); everything set in app.conf.update below is fixed policy and wins over them.
app.config_from_object("django.conf:settings", namespace="CELERY")

# Seconds a message may stay unacknowledged before Redis hands it to another worker. Longer than
# the longest hard time limit, or a slow task would run twice at once.
VISIBILITY_TIMEOUT = 2 * 60 * 60
BROKER_SOCKET_TIMEOUT = 10

app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    # Job state lives on model rows (status, attempts, error); nobody reads results from Redis.
    task_ignore_result=True,
    # Acknowledge after the task ran, hand one message at a time to a worker process, so a crash
    # returns at most the message in hand to the queue.
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_soft_time_limit=10 * 60,
    task_time_limit=11 * 60,
    broker_connection_retry_on_startup=True,
    broker_connection_timeout=BROKER_SOCKET_TIMEOUT,
    broker_transport_options={
        "visibility_timeout": VISIBILITY_TIMEOUT,
        "socket_timeout": BROKER_SOCKET_TIMEOUT,
        "socket_connect_timeout": BROKER_SOCKET_TIMEOUT,
    },
    result_backend_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT},
    redis_socket_timeout=BROKER_SOCKET_TIMEOUT,
    redis_socket_connect_timeout=BROKER_SOCKET_TIMEOUT,
    task_default_queue="default",
    task_queues=(Queue("default"), Queue("reports")),
    # PDF rendering is memory-heavy and runs on its own workers; everything else (delivery,
    # scoring, sweeps) goes to `default`.
    task_routes={"reports.tasks.*": {"queue": "reports"}},
    task_annotations={
        # A scoring run killed mid-way (OOM, deploy) goes back to the queue instead of being
        # acknowledged as if it had finished; the run itself is idempotent.
        "results.tasks.score_run": {"reject_on_worker_lost": True},
        # Its name before scoring moved to `results`: messages queued before an upgrade.
        "assessments.tasks.score_campaign": {"reject_on_worker_lost": True},
        # A directory sync run is applied in one transaction and marked applied in it: a run
        # cut off by a dying worker comes back and is applied once.
        "accounts.tasks.sync_run_execute": {"reject_on_worker_lost": True},
    },
    beat_schedule={
        "advance-campaign-schedules": {
            "task": "results.tasks.advance_campaign_schedules",
            "schedule": 60.0,
            # A run that waited longer than its period is dropped: the next one comes anyway.
            "options": {"expires": 60.0},
        },
        "sweep-result-runs": {
            "task": "results.tasks.sweep_runs",
            "schedule": 60.0,
            # A run that waited longer than its period is dropped: the next one comes anyway.
            "options": {"expires": 60.0},
        },
        "sweep-reports": {
            "task": "reports.tasks.sweep_reports",
            "schedule": 5 * 60.0,
            # A run that waited longer than its period is dropped: the next one comes anyway.
            "options": {"expires": 5 * 60.0},
        },
        "sweep-sync-runs": {
            "task": "accounts.tasks.sweep_sync_runs",
            "schedule": 60.0,
            # A run that waited longer than its period is dropped: the next one comes anyway.
            "options": {"expires": 60.0},
        },
        "sweep-deliveries": {
            "task": "assessments.tasks.sweep_deliveries",
            "schedule": 5 * 60.0,
            # A run that waited longer than its period is dropped: the next one comes anyway.
            "options": {"expires": 5 * 60.0},
        },
        # Webhooks: events whose hand-over to Celery was lost, and deliveries due for a retry
        # (the first retry comes after about 30 s, so this runs that often).
        "sweep-webhooks": {
            "task": "webhooks.tasks.sweep",
            "schedule": 30.0,
            # A run that waited longer than its period is dropped: the next one comes anyway.
            "options": {"expires": 30.0},
        },
    },
)

app.autodiscover_tasks()
