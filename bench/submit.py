"""`make bench-submit`: survey submissions per second on PostgreSQL, against a floor.

One run: a fresh database, `migrate` and `load_instruments`, one open plimsoll-core campaign
with many invitations, gunicorn on a free loopback port, then the same load twice from a
separate process (bench/load.py): first the real submit (POST /s/questions/), then a minimal
view that stores a comparable row (bench/views.py). Both phases use the same server, settings
and request bodies. Afterwards every accepted submission must be stored exactly once.

Environment (all optional):
    BENCH_SECONDS=30  BENCH_CLIENTS=32  BENCH_WARMUP=3  BENCH_TIMEOUT=10
    BENCH_INVITATIONS=40000  BENCH_DEPARTMENTS=50
    BENCH_WORKER_CLASS=sync  BENCH_WORKERS=4  BENCH_THREADS=1
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/plimsoll_bench  (dropped and recreated)
    BENCH_CACHE_URL=redis://127.0.0.1:6379/1
The database has its own variable, not DATABASE_URL, so that a DATABASE_URL exported for the
integration tests or a real instance can never be the one dropped.

Exits 1 when a correctness target fails (errors, lost rows), 2 when the bench cannot run, and
0 otherwise; a missed speed target only prints a warning.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from unittest import mock

import environ
import psycopg

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

TARGET_RATIO = 0.5
TARGET_P99_MS = 250.0
SUBMIT_PATH = "/s/questions/"
FLOOR_PATH = "/bench/floor/"
THANKS_PATH = "/s/thanks/"
ANSWER_BODIES = 64  # distinct answer sets, cycled over the invitations
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The bench could not run (as opposed to the app failing it)."""


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def say(text: str = "") -> None:
    print(text, flush=True)


# --- Database -------------------------------------------------------------------------------


def database_reset(url: str, *, create: bool) -> None:
    """Drop the bench database (and create it again when `create`)."""
    config = environ.Env.db_url_config(url)
    name = config["NAME"]
    # This drops a whole database: refuse anything that is not obviously the bench's own.
    if "bench" not in name:
        raise BenchError(f"refusing to drop database {name!r}: its name must contain 'bench'")
    connection = psycopg.connect(
        host=config.get("HOST") or "127.0.0.1",
        port=int(config.get("PORT") or 5432),
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )
    with connection:
        quoted = '"' + name.replace('"', '""') + '"'
        connection.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        if create:
            connection.execute(f"CREATE DATABASE {quoted}")


def manage(*args: str) -> None:
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=BASE_DIR, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")


# --- Data -----------------------------------------------------------------------------------


def seed(invitations: int, departments: int, workdir: Path) -> tuple[int, list[str], Path]:
    """An open campaign with `invitations` unanswered, delivered invitations.

    Returns the campaign id, the answer field names in item order and a file of
    "<invitation id>\\t<survey cookie>" lines.
    """
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Employee, Organization
    from accounts.services import department_create
    from assessments import services
    from assessments.models import DeliveryStatus, Instrument, Invitation
    from assessments.selectors import instrument_spec
    from assessments.services import delivery
    from assessments.views import cookie_value

    rng = random.Random(1)
    organization = Organization.objects.create(name="Bench Ltd", slug="bench")
    root = department_create(organization=organization, name="Bench Ltd")
    units = [root] + [
        department_create(organization=organization, name=f"Unit {n:02}", parent=root)
        for n in range(1, departments)
    ]
    Employee.objects.bulk_create(
        [
            Employee(
                organization=organization,
                external_id=f"E{n:06}",
                email=f"e{n}@bench.example",
                department=units[n % len(units)],
                language="de" if n % 5 == 0 else "en",
                attributes={
                    "site": rng.choice(["north", "south", "east"]),
                    "tenure_band": rng.choice(["under 1 year", "1-3 years", "3-10 years"]),
                },
            )
            for n in range(invitations)
        ],
        batch_size=5000,
    )
    instrument = Instrument.objects.filter(code="plimsoll-core").order_by("-version").first()
    if instrument is None:
        raise BenchError("load_instruments did not load plimsoll-core")
    campaign = services.campaign_create(
        organization=organization,
        name="Bench campaign",
        instrument=instrument,
        target_departments=[root],
        closes_at=timezone.now() + dt.timedelta(days=14),
        attributes_used=["site", "tenure_band"],
    )
    # Opening a campaign emails everyone; the bench marks the invitations sent instead.
    with mock.patch.object(delivery, "enqueue_after_commit"), transaction.atomic():
        campaign = services.campaign_launch(campaign=campaign)
        Invitation.objects.filter(campaign=campaign).update(delivery_status=DeliveryStatus.SENT)

    cookies = workdir / "cookies.tsv"
    # Random order, so that consecutive submissions touch scattered rows as real people would.
    # The same cookie the personal link sets (assessments.views.cookie_value).
    rows = Invitation.objects.filter(campaign=campaign).order_by("?")
    with cookies.open("w", encoding="ascii") as handle:
        for invitation in rows.select_related("campaign", "employee").iterator(chunk_size=2000):
            value = cookie_value(invitation, invitation.language)
            handle.write(f"{invitation.pk}\t{value}\n")
    codes = [item.code for item in instrument_spec(instrument.pk).items]
    return campaign.pk, codes, cookies


def answer_bodies(codes: list[str], csrf: str) -> list[str]:
    """Complete, valid form bodies in question order, some with "prefer not to answer"."""
    rng = random.Random(2)
    bodies = []
    for _ in range(ANSWER_BODIES):
        fields = [f"csrfmiddlewaretoken={csrf}"]
        for code in codes:
            value = "skip" if rng.random() < 0.03 else str(rng.randint(1, 5))
            fields.append(f"{code}={value}")
        bodies.append("&".join(fields))
    return bodies


# --- Server ---------------------------------------------------------------------------------


class Gunicorn:
    """The app server, configured once for both phases (BENCH_WORKER_CLASS and friends)."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.worker_class = os.environ.get("BENCH_WORKER_CLASS", "sync")
        self.workers = env_int("BENCH_WORKERS", 4)
        self.threads = env_int("BENCH_THREADS", 1)
        self.process: subprocess.Popen | None = None

    def describe(self) -> str:
        threads = f" threads={self.threads}" if self.worker_class == "gthread" else ""
        return (
            f"gunicorn config.wsgi:application worker_class={self.worker_class} "
            f"workers={self.workers}{threads} timeout=60 access log on (bench.settings, "
            "DEBUG off, CONN_MAX_AGE=60, Redis cache)"
        )

    def start(self) -> None:
        command = [
            str(Path(PYTHON).parent / "gunicorn"),
            "config.wsgi:application",
            f"--bind=127.0.0.1:{self.port}",
            f"--worker-class={self.worker_class}",
            f"--workers={self.workers}",
            f"--threads={self.threads}",
            "--timeout=60",
            f"--access-logfile={self.workdir / 'access.log'}",
            "--error-logfile=-",
        ]
        # gunicorn.conf.py in the project folder is read too, as in production.
        with (self.workdir / "server.log").open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=BASE_DIR, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.process.returncode}:\n{self.log()}")
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            except OSError:
                pass
            finally:
                connection.close()
            time.sleep(0.2)
        raise BenchError(f"gunicorn did not answer /healthz within 60 s:\n{self.log()}")

    def log(self, lines: int = 40) -> str:
        path = self.workdir / "server.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class CpuMeter:
    """CPU seconds used by each party of the bench, to tell where a submission's cost goes.

    The machine is shared (2 cores), so "other" shows how much unrelated processes took.
    Processes are polled during the phase because PostgreSQL backends come and go with
    CONN_MAX_AGE; a backend's last reading before it exits counts.
    """

    INTERVAL = 0.5

    def __init__(self, server: Gunicorn, database: str) -> None:
        self.server = server
        # A backend's title is "postgres: <user> <database> <client> <state>".
        self.backend_marker = f" {database} "
        self.first: dict[str, dict[int, float]] = {}
        self.last: dict[str, dict[int, float]] = {}
        self.stop_polling = threading.Event()
        self.poller = threading.Thread(target=self._poll, daemon=True)

    def _scan(self) -> dict[str, dict[int, float]]:
        found: dict[str, dict[int, float]] = {"gunicorn": {}, "postgres": {}, "redis": {}}
        master = self.server.process.pid if self.server.process else -1
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                head, tail = (entry / "stat").read_text().rsplit(")", 1)
                fields = tail.split()
                pid = int(entry.name)
                if pid == master or int(fields[1]) == master:
                    party = "gunicorn"
                elif head.endswith("(redis-server"):
                    party = "redis"
                elif head.endswith("(postgres"):
                    title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    if not (title.startswith("postgres: ") and self.backend_marker in title):
                        continue
                    party = "postgres"
                else:
                    continue
            except (OSError, ValueError, IndexError):
                continue  # the process exited while being read
            found[party][pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
        return found

    def _record(self, found: dict[str, dict[int, float]]) -> None:
        for party, readings in found.items():
            for pid, cpu in readings.items():
                # A process that started during the phase counts from zero.
                self.first[party].setdefault(pid, 0.0)
                self.last[party][pid] = cpu

    def _poll(self) -> None:
        while not self.stop_polling.wait(self.INTERVAL):
            self._record(self._scan())

    def _machine(self) -> tuple[float, float, float]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy = (sum(values[:8]) - values[3] - values[4]) / CLOCK_TICKS
        return busy, sum(values[:8]) / CLOCK_TICKS, children.ru_utime + children.ru_stime

    def __enter__(self) -> CpuMeter:
        self.first = self._scan()
        self.last = {party: dict(readings) for party, readings in self.first.items()}
        self.machine_before = self._machine()
        self.poller.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_polling.set()
        self.poller.join()
        self._record(self._scan())
        self.machine_after = self._machine()

    def used(self) -> dict[str, float]:
        used = {
            party: sum(cpu - self.first[party][pid] for pid, cpu in readings.items())
            for party, readings in self.last.items()
        }
        after, before = self.machine_after, self.machine_before
        busy, total, load = (a - b for a, b in zip(after, before, strict=True))
        used["load generator"] = load
        used["other"] = busy - sum(used.values())
        used["machine"] = total
        return used


# --- Load -----------------------------------------------------------------------------------


def run_load(
    name: str,
    path: str,
    *,
    server: Gunicorn,
    database: str,
    bodies: list[str],
    cookies: Path,
    workdir: Path,
) -> dict:
    """One phase: warm-up and measured load from a separate process, with CPU accounting."""
    config = {
        "host": "127.0.0.1",
        "port": server.port,
        "path": path,
        "seconds": env_float("BENCH_SECONDS", 30),
        "warmup": env_float("BENCH_WARMUP", 3),
        "clients": env_int("BENCH_CLIENTS", 32),
        "timeout": env_float("BENCH_TIMEOUT", 10),
        "csrf": bodies[0].split("&", 1)[0].split("=", 1)[1],
        "bodies": bodies,
        "cookies_file": str(cookies),
        "accepted_location": THANKS_PATH,
        # The floor ignores the cookie, so its rate must not be capped by the invitation count.
        "reuse_cookies": path == FLOOR_PATH,
    }
    config_path = workdir / f"{name}.json"
    config_path.write_text(json.dumps(config))
    with CpuMeter(server, database) as meter:
        result = subprocess.run(
            [PYTHON, "-m", "bench.load", str(config_path)],
            cwd=BASE_DIR,
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise BenchError(f"load generator failed:\n{result.stderr}")
    outcome = json.loads(result.stdout)
    # Over the whole phase, warm-up included, hence per request of the whole phase.
    outcome["cpu"] = meter.used()
    return outcome


def report_phase(label: str, outcome: dict) -> None:
    kinds = ", ".join(f"{k}: {v}" for k, v in sorted(outcome["error_kinds"].items()))
    say(
        f"{label:<10} {outcome['rps']:8.1f} submissions/s  p50 {outcome['p50_ms']:6.1f} ms  "
        f"p90 {outcome['p90_ms']:6.1f} ms  p99 {outcome['p99_ms']:6.1f} ms  "
        f"max {outcome['max_ms']:6.1f} ms  errors {outcome['errors']}"
        + (f" ({kinds})" if kinds else "")
    )
    warmup_kinds = ", ".join(f"{k}: {v}" for k, v in sorted(outcome["warmup_error_kinds"].items()))
    say(
        f"{'':<10} {outcome['accepted']} accepted in {outcome['elapsed']:.1f} s after "
        f"{outcome['warmup_accepted']} in the warm-up (errors {outcome['warmup_errors']}"
        + (f": {warmup_kinds})" if warmup_kinds else ")")
    )
    cpu = outcome["cpu"]
    requests = len(outcome["accepted_ids"]) + outcome["errors"] + outcome["warmup_errors"]
    parties = ("gunicorn", "postgres", "redis", "load generator")
    shares = ", ".join(f"{p} {cpu[p] * 1000 / max(requests, 1):.2f}" for p in parties)
    say(
        f"{'':<10} CPU ms per request: {shares}; other processes took "
        f"{cpu['other'] / max(cpu['machine'], 1e-9) * 100:.0f}% of the machine"
    )


# --- Checks ---------------------------------------------------------------------------------


def check_submissions(campaign_id: int, outcome: dict) -> tuple[int, int, int, list[str]]:
    """Lost rows, extra rows, invitations in the wrong state, and what went wrong, of the
    submit phase against what the clients saw accepted."""
    from assessments.models import Invitation, Response

    accepted_ids = outcome["accepted_ids"]
    accepted = len(accepted_ids)
    stored = Response.objects.filter(campaign_id=campaign_id).count()
    completed = set(
        Invitation.objects.filter(campaign_id=campaign_id, completed_on__isnull=False).values_list(
            "pk", flat=True
        )
    )
    problems = []
    duplicates = accepted - len(set(accepted_ids))
    if duplicates:
        problems.append(f"{duplicates} invitation(s) were accepted more than once")
    not_marked = set(accepted_ids) - completed
    if not_marked:
        problems.append(f"{len(not_marked)} accepted invitation(s) are not marked completed")
    unexpected = completed - set(accepted_ids)
    if unexpected:
        problems.append(f"{len(unexpected)} invitation(s) completed without an accepted response")
    say(
        f"stored     submit: {stored} responses, {len(completed)} invitations completed, "
        f"{accepted} accepted (warm-up included)"
    )
    wrong = duplicates + len(not_marked) + len(unexpected)
    return max(accepted - stored, 0), max(stored - accepted, 0), wrong, problems


def check_floor(campaign_id: int, before: int, outcome: dict) -> tuple[int, int]:
    from assessments.models import Response

    accepted = len(outcome["accepted_ids"])
    stored = Response.objects.filter(campaign_id=campaign_id).count() - before
    say(f"stored     floor: {stored} responses, {accepted} accepted (warm-up included)")
    return max(accepted - stored, 0), max(stored - accepted, 0)


# --- Main -----------------------------------------------------------------------------------


def main() -> int:
    database_url = os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/plimsoll_bench"
    )
    # Explicit values for everything the run depends on, so a developer's .env or exported
    # DATABASE_URL cannot leak into it.
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "0",
            "CONN_MAX_AGE": "60",
            "SURVEY_RATE_LIMIT": "100000000/60",
            "CACHE_URL": os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/1"),
            "CELERY_BROKER_URL": "",
            "EMAIL_URL": "dummymail://",
        }
    )
    database = environ.Env.db_url_config(database_url)["NAME"]
    invitations = env_int("BENCH_INVITATIONS", 40000)
    departments = env_int("BENCH_DEPARTMENTS", 50)
    workdir = Path(tempfile.mkdtemp(prefix="plimsoll-bench-"))
    server = Gunicorn(free_port(), workdir)
    keep_workdir = False
    server_log = ""
    try:
        started = time.monotonic()
        database_reset(database_url, create=True)
        manage("migrate", "--noinput")
        manage("load_instruments")
        import django

        django.setup()
        campaign_id, codes, cookies = seed(invitations, departments, workdir)
        csrf = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
        bodies = answer_bodies(codes, csrf)
        say(
            f"bench-submit: {invitations} invitations in {departments} departments, "
            f"{len(codes)} questions, set up in {time.monotonic() - started:.1f} s"
        )
        os.environ["BENCH_CAMPAIGN_ID"] = str(campaign_id)
        server.start()
        say(f"server     {server.describe()}")
        say(
            f"load       {env_int('BENCH_CLIENTS', 32)} clients, "
            f"{env_float('BENCH_SECONDS', 30):g} s after a {env_float('BENCH_WARMUP', 3):g} s "
            "warm-up, one distinct invitation per submission"
        )

        phase = {
            "server": server,
            "database": database,
            "bodies": bodies,
            "cookies": cookies,
            "workdir": workdir,
        }
        submit = run_load("submit", SUBMIT_PATH, **phase)
        report_phase("submit", submit)
        lost, extra, wrong, problems = check_submissions(campaign_id, submit)

        from assessments.models import Response

        before_floor = Response.objects.filter(campaign_id=campaign_id).count()
        floor = run_load("floor", FLOOR_PATH, **phase)
        report_phase("floor", floor)
        floor_lost, floor_extra = check_floor(campaign_id, before_floor, floor)
    except BenchError as exc:
        keep_workdir = True
        say(f"bench-submit: could not run: {exc}")
        return 2
    except Exception:  # noqa: BLE001 - any failure to set up or measure is "could not run"
        keep_workdir = True
        traceback.print_exc()
        say("bench-submit: could not run (see the traceback above)")
        return 2
    finally:
        server.stop()
        server_log = server.log()
        from django.db import connections

        connections.close_all()
        try:
            database_reset(database_url, create=False)
        except Exception as exc:  # noqa: BLE001 - report, but do not hide the run's outcome
            say(f"bench-submit: could not drop the bench database: {exc}")
        if keep_workdir:
            say(f"bench-submit: logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    lost += floor_lost
    # A row stored for a request the client counted as failed (a timeout) shows up as an extra
    # row; it is an error either way.
    errors = sum(o["errors"] + o["warmup_errors"] for o in (submit, floor))
    errors += extra + floor_extra + wrong
    for label, count in (("submit", extra), ("floor", floor_extra)):
        if count:
            problems.append(f"{label}: {count} more row(s) stored than accepted")
    if lost:
        problems.append(f"{lost} accepted submission(s) were not stored")
    ratio = submit["rps"] / floor["rps"] if floor["rps"] else 0.0
    say(f"ratio      {ratio:.2f} (targets: ratio >= {TARGET_RATIO}, p99 <= {TARGET_P99_MS:g} ms)")

    http_errors = sum(o["errors"] + o["warmup_errors"] for o in (submit, floor))
    if http_errors:
        problems.insert(0, f"{http_errors} request(s) were not accepted (error counts above)")
        say(f"server log (last lines):\n{server_log}")
    for problem in problems:
        say(f"FAILED: {problem}")
    for outcome in (submit, floor):
        busy_elsewhere = outcome["cpu"]["other"] / max(outcome["cpu"]["machine"], 1e-9)
        if busy_elsewhere > 0.1:
            say(
                f"WARNING: other processes took {busy_elsewhere * 100:.0f}% of the CPU during a "
                "phase; the rates are lower and noisier than on an idle machine"
            )
            break
    for outcome in (submit, floor):
        if outcome["exhausted"]:
            say("WARNING: the invitations ran out before the time was up; raise BENCH_INVITATIONS")
            break
    if ratio < TARGET_RATIO:
        say(f"WARNING: speed target missed: ratio {ratio:.2f} < {TARGET_RATIO}")
    if submit["p99_ms"] > TARGET_P99_MS:
        say(f"WARNING: speed target missed: p99 {submit['p99_ms']:.0f} ms > {TARGET_P99_MS:g} ms")
    say(
        f"bench-submit: rps={submit['rps']:.0f} floor_rps={floor['rps']:.0f} ratio={ratio:.2f} "
        f"p99_ms={submit['p99_ms']:.0f} errors={errors} lost={lost}"
    )
    return 1 if errors or lost else 0


if __name__ == "__main__":
    sys.exit(main())
