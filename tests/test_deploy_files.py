"""The container deployment files say what the deployment needs.

These read docker-compose.yml, the Dockerfile and requirements.txt as text and YAML; they need
no database and no Docker. CI validates the compose file with `docker compose config` itself.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

LONG_RUNNING = ("postgres", "redis", "web", "worker", "reports-worker", "beat")
APP_SERVICES = ("migrate", "web", "worker", "reports-worker", "beat")
NEEDS_MEDIA = ("web", "worker", "reports-worker")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def _command(service: dict) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else command


def _depends_on(service: dict) -> dict:
    depends = service.get("depends_on", {})
    if isinstance(depends, list):  # the short form carries no condition
        return dict.fromkeys(depends, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in depends.items()}


def test_compose_uses_the_compose_spec_without_a_version_key(compose):
    assert "version" not in compose


def test_compose_defines_every_service(services):
    for name in (*LONG_RUNNING, "migrate"):
        assert name in services, f"docker-compose.yml has no {name!r} service"


def test_long_running_services_restart(services):
    for name in LONG_RUNNING:
        assert services[name].get("restart") == "unless-stopped", name


def test_long_running_services_have_a_healthcheck_except_beat(services):
    for name in LONG_RUNNING:
        if name == "beat":
            continue
        healthcheck = services[name].get("healthcheck") or {}
        assert healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), f"{name} disables its healthcheck"


def test_web_healthcheck_probes_healthz(services):
    assert "/healthz" in str(services["web"]["healthcheck"]["test"])


def test_worker_consumes_the_default_queue(services):
    assert re.search(r"(-Q|--queues)[ =]default\b", _command(services["worker"]))


def test_reports_worker_consumes_reports_and_recycles_big_children(services):
    command = _command(services["reports-worker"])
    assert re.search(r"(-Q|--queues)[ =]reports\b", command)
    assert re.search(r"--max-memory-per-child[ =]\d+", command)
    assert re.search(r"--concurrency[ =]1\b", command)


def test_beat_runs_celery_beat(services):
    assert "beat" in _command(services["beat"]).split()


def test_migrate_migrates_and_loads_instruments(services):
    command = _command(services["migrate"])
    assert "migrate --noinput" in command
    assert "load_instruments" in command
    assert services["migrate"].get("restart", "no") == "no"


def test_web_waits_for_healthy_postgres_and_redis_and_a_finished_migrate(services):
    depends = _depends_on(services["web"])
    assert depends.get("postgres") == "service_healthy"
    assert depends.get("redis") == "service_healthy"
    assert depends.get("migrate") == "service_completed_successfully"


def test_web_publishes_its_port_on_localhost_only(services):
    assert services["web"]["ports"] == ["127.0.0.1:8000:8000"]


def test_secret_key_is_required_not_defaulted(services):
    for name in APP_SERVICES:
        secret_key = services[name]["environment"]["SECRET_KEY"]
        assert secret_key.startswith("${SECRET_KEY:?"), f"{name}: SECRET_KEY must use :?"


def test_app_services_reach_postgres_and_redis_by_service_name(services):
    for name in APP_SERVICES:
        environment = services[name]["environment"]
        assert "@postgres:5432/" in environment["DATABASE_URL"], name
        assert environment["CELERY_BROKER_URL"].startswith("redis://redis:6379/"), name
        assert environment["MEDIA_ROOT"] == "/app/media", name


def test_media_volume_is_shared_by_web_and_workers(compose, services):
    assert "media" in compose["volumes"]
    for name in NEEDS_MEDIA:
        assert "media:/app/media" in services[name].get("volumes", []), name


def test_dockerfile_runs_as_a_non_root_user(dockerfile_instructions):
    users = [arguments for keyword, arguments in dockerfile_instructions if keyword == "USER"]
    assert users, "Dockerfile has no USER line"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_dockerfile_installs_pango_for_weasyprint(dockerfile_instructions):
    runs = " ".join(arguments for keyword, arguments in dockerfile_instructions if keyword == "RUN")
    assert re.search(r"apt-get install [^&]*--no-install-recommends[^&]*libpango-1\.0-0", runs)
    assert "rm -rf /var/lib/apt/lists/*" in runs


def test_dockerfile_keeps_the_build_secret_key_out_of_the_image(dockerfile_instructions):
    for keyword, arguments in dockerfile_instructions:
        if keyword in {"ENV", "ARG"}:
            assert "SECRET_KEY" not in arguments
    runs = [arguments for keyword, arguments in dockerfile_instructions if keyword == "RUN"]
    assert any("collectstatic" in run and "SECRET_KEY=" in run for run in runs)


def test_dockerfile_has_a_healthcheck(dockerfile_instructions):
    healthchecks = [args for keyword, args in dockerfile_instructions if keyword == "HEALTHCHECK"]
    assert healthchecks and "/healthz" in healthchecks[-1]


def test_dockerignore_keeps_secrets_and_local_state_out():
    patterns = (ROOT / ".dockerignore").read_text().split()
    for pattern in (".env", ".venv", ".git", "media", "staticfiles"):
        assert pattern in patterns, pattern


def test_every_runtime_requirement_is_pinned():
    pinned = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[^=<>~!,;\s]+$")
    requirements = [
        line.split("#")[0].strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert requirements
    for requirement in requirements:
        assert pinned.match(requirement), f"{requirement!r} is not pinned with =="


def test_compose_asks_for_email_url_instead_of_printing_links(services):
    for name in APP_SERVICES:
        value = services[name]["environment"]["EMAIL_URL"]
        assert value.startswith("${EMAIL_URL:?") and "consolemail" in value, name


def _python_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "EMAIL_URL"}
    # The project's own .env (written by `make demo`) must not stand in for the server's.
    env.update(
        {"SECRET_KEY": "deploy-test-not-secret", "DEBUG": "0", "READ_DOT_ENV_FILE": "0"}, **extra
    )
    return env


def test_a_server_without_email_url_refuses_to_start_and_says_why():
    refused = subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        cwd=ROOT, env=_python_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "EMAIL_URL is not set" in refused.stderr and "consolemail://" in refused.stderr
    started = subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        cwd=ROOT, env=_python_env(EMAIL_URL="consolemail://"), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr


def test_make_demo_sets_up_once_and_follows_the_port(tmp_path):
    plan = subprocess.run(
        ["make", "-n", "demo", "PORT=8001"], cwd=ROOT, capture_output=True, text=True, timeout=60
    ).stdout
    assert plan.count("manage.py migrate") == 1
    seed = next(line for line in plan.splitlines() if "seed_demo" in line)
    serve = next(line for line in plan.splitlines() if "gunicorn" in line)
    for line in (seed, serve):
        assert "SITE_URL=${SITE_URL:-http://127.0.0.1:8001}" in line, line
    assert "--bind 127.0.0.1:8001" in serve


def test_make_demo_writes_the_console_email_choice_into_env(tmp_path):
    (tmp_path / "Makefile").write_text((ROOT / "Makefile").read_text())
    subprocess.run(["make", "-s", "email-demo"], cwd=tmp_path, check=True, timeout=60)
    env = (tmp_path / ".env").read_text()
    assert "SECRET_KEY=" in env and "EMAIL_URL=consolemail://" in env
    subprocess.run(["make", "-s", "email-demo"], cwd=tmp_path, check=True, timeout=60)
    assert (tmp_path / ".env").read_text().count("EMAIL_URL=") == 1
