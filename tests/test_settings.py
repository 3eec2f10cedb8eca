"""Settings read from the environment, and the embedded default."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]


def _start_django(**env_changes: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings;"
            " print(settings.DEBUG, settings.CELERY_TASK_ALWAYS_EAGER)",
        ],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT), "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_secret_key_with_debug_off_stops_startup_with_a_clear_message():
    # An empty value counts as missing, and keeps a developer's .env file from supplying one.
    result = _start_django(SECRET_KEY="", DEBUG=None)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_must_be_asked_for():
    result = _start_django(SECRET_KEY="x" * 50, DEBUG=None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "False"
    asked = _start_django(SECRET_KEY="", DEBUG="1")
    assert asked.returncode == 0, asked.stderr
    assert asked.stdout.split()[0] == "True"


def test_no_broker_means_tasks_run_in_process():
    result = _start_django(SECRET_KEY="x" * 50, CELERY_BROKER_URL="")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1] == "True"
    with_broker = _start_django(SECRET_KEY="x" * 50, CELERY_BROKER_URL="redis://127.0.0.1:6379/0")
    assert with_broker.stdout.split()[1] == "False"


def test_embedded_default_database_is_sqlite_in_the_project_folder():
    if "DATABASE_URL" in os.environ:
        assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    else:
        assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"


def test_celery_reliability_settings():
    from config.celery import VISIBILITY_TIMEOUT, app

    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.accept_content == ["json"]
    assert conf.task_serializer == "json"
    assert conf.task_time_limit > conf.task_soft_time_limit > 0
    assert conf.broker_transport_options["visibility_timeout"] == VISIBILITY_TIMEOUT
    assert conf.task_time_limit < VISIBILITY_TIMEOUT
    assert conf.broker_transport_options["socket_timeout"] > 0
    assert conf.task_annotations["results.tasks.score_run"]["reject_on_worker_lost"]
    # Its name before the move to `results`, for messages queued before an upgrade.
    assert conf.task_annotations["assessments.tasks.score_campaign"]["reject_on_worker_lost"]
    assert {q.name for q in conf.task_queues} == {"default", "reports"}
    assert app.amqp.router.route({}, "reports.tasks.render_report")["queue"].name == "reports"


def test_every_task_is_registered_routed_and_scheduled_by_a_name_that_exists():
    """Scoring runs on `default`, PDFs on `reports`; the beat only names registered tasks; the
    names scoring and the schedule had before they moved to `results` still resolve."""
    from config.celery import app
    from results.tasks import LEGACY_NAMES

    app.loader.import_default_modules()
    router = app.amqp.router
    for name in ("results.tasks.score_run", "results.tasks.sweep_runs", *LEGACY_NAMES):
        assert name in app.tasks, name
        assert router.route({}, name)["queue"].name == "default", name
    for name in ("reports.tasks.render_report", "reports.tasks.sweep_reports"):
        assert router.route({}, name)["queue"].name == "reports", name
    for entry in app.conf.beat_schedule.values():
        assert entry["task"] in app.tasks, entry["task"]
    for old, new in LEGACY_NAMES.items():
        assert app.tasks[old].run is app.tasks[new].run
