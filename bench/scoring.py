"""`make bench-scoring`: scoring a closed campaign of a million responses, against a floor.

One run: a fresh database, `migrate` and `load_instruments`, one organisation with 1,000
departments in a five-level tree (1 → 4 → 16 → 64 → 915) and two closed plimsoll-core
campaigns over the same tree: 1,000,000 responses and 100,000 responses. Every department
has respondents; a few have fewer than k, so suppression has work. Answers are generated with
numpy (department and person effects, reverse-keyed items, about 3% unanswered) and loaded
with one binary COPY per campaign.

The measurement runs in its own process (`python -m bench.scoring --measure`, configuration
on stdin), started before any data is generated so that its peak RSS is the scoring's own:

- end to end: `results.services.result_run_execute` on a PENDING run made by
  `result_run_request` (only its hand-off to Celery suppressed): load, compute, suppress,
  persist, with no trends (no earlier campaign has results yet);
- floor: the same stored answers read into an int8 matrix and nothing else, through the same
  Django connection: one string_agg of the campaign's answers and np.frombuffer;
- each BENCH_REPEAT times (default 3) back to back, no separate warm-up, the best counts (every
  run is printed, the first being the coldest); the large campaign, then the floor, then the
  small campaign, then one informative run of the large campaign with trends;
- peak RSS: ru_maxrss of the measuring process right after the large campaign's runs.

Environment (all optional):
    BENCH_RESPONSES=1000000  BENCH_RESPONSES_SMALL=100000  BENCH_REPEAT=3  BENCH_SEED=1
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/plimsoll_bench_scoring
        (dropped and recreated; its own name so it never collides with bench-submit's)
    BENCH_KEEP=1  keep the database afterwards (to profile against it)

Exits 1 when the scoring fails or its results are incomplete or wrong, 2 when the bench cannot
run, and 0 otherwise; a missed speed target only prints a warning.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import resource
import secrets
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import environ
import numpy as np

from bench.submit import BASE_DIR, PYTHON, BenchError, database_reset, env_int, manage, say

TARGET_SECONDS = 10.0
TARGET_RATIO = 3.0
TARGET_RSS_MB = 1500
TARGET_SMALL_SECONDS = 1.5
K = 5
# Children per department, level by level: 1 + 4 + 16 + 64 + 915 = 1,000 departments.
FAN_OUT = (4, 4, 4)
LEAVES = 915
SMALL_LEAVES = 8  # leaves with 1..4 respondents
SMALL_INNER = 4  # inner departments with 1..4 people attached directly
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def database_settings(default_name: str = "plimsoll_bench_scoring") -> str:
    """Point this process (and the children it starts) at the bench database only."""
    url = os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{default_name}")
    # Explicit values for everything the run depends on, so a developer's .env or exported
    # DATABASE_URL cannot leak into it. Without a broker Celery runs tasks eagerly, which the
    # measurement relies on never happening (the enqueue is suppressed).
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DEBUG": "0",
            "CONN_MAX_AGE": "60",
            "CELERY_BROKER_URL": "",
            "EMAIL_URL": "dummymail://",
            "SCORING_TEST_DELAY_SECONDS": "0",
        }
    )
    return url


# --- Data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    ids: np.ndarray  # department id per index, parents before children
    parent: np.ndarray  # parent index per index, -1 for the top
    leaf: np.ndarray  # bool per index


def fan_out_parents(fan_out: tuple[int, ...], leaves: int) -> np.ndarray:
    """The parent index of every node (-1: the root) of a tree with `fan_out` children per
    node level by level, and then `leaves` spread as evenly as possible over the last level."""
    parent = [-1]
    level = [0]
    for children in fan_out:
        below = []
        for node in level:
            for _ in range(children):
                below.append(len(parent))
                parent.append(node)
        level = below
    for node, share in zip(level, np.array_split(np.arange(leaves), len(level)), strict=True):
        parent.extend([node] * len(share))
    return np.array(parent, dtype=np.int64)


def insert_tree(organization_id: int, parent_index: np.ndarray, name) -> Tree:
    """The departments of `parent_index` in one INSERT, ids reserved from the sequence and
    paths and depths computed here; `name(index, depth)` names each."""
    from django.db import connection

    from accounts.models import Department

    count = len(parent_index)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [Department._meta.db_table, count],
        )
        ids = np.array([row[0] for row in cursor.fetchall()], dtype=np.int64)
    paths: list[str] = []
    depths: list[int] = []
    for index in range(count):
        above = parent_index[index]
        paths.append(f"{paths[above] if above >= 0 else '/'}{ids[index]}/")
        depths.append(0 if above < 0 else depths[above] + 1)
    Department.objects.bulk_create(
        [
            Department(
                id=int(ids[index]),
                organization_id=organization_id,
                name=name(index, depths[index]),
                parent_id=int(ids[parent_index[index]]) if parent_index[index] >= 0 else None,
                path=paths[index],
                depth=depths[index],
            )
            for index in range(count)
        ],
        batch_size=1000,
    )
    leaf = np.ones(count, dtype=bool)
    leaf[parent_index[parent_index >= 0]] = False
    return Tree(ids=ids, parent=parent_index, leaf=leaf)


def build_tree(organization_id: int) -> Tree:
    """1,000 departments (915 leaves spread over the 64 departments of the fourth level)."""
    return insert_tree(
        organization_id, fan_out_parents(FAN_OUT, LEAVES), lambda index, _depth: f"Unit {index:04}"
    )


def department_sizes(tree: Tree, total: int, rng: np.random.Generator) -> np.ndarray:
    """Respondents attached directly to each department, summing to `total`.

    Inner departments hold a handful of people directly (their heads and staff units), leaves
    the rest with a skewed spread; a few of each have fewer than k.
    """
    count = len(tree.ids)
    sizes = np.zeros(count, dtype=np.int64)
    inner = np.flatnonzero(~tree.leaf)
    leaves = np.flatnonzero(tree.leaf)
    small_inner = rng.choice(inner[1:], SMALL_INNER, replace=False)
    small_leaves = rng.choice(leaves, SMALL_LEAVES, replace=False)
    sizes[inner] = rng.integers(K, 60, len(inner))
    sizes[small_inner] = rng.integers(1, K, SMALL_INNER)
    sizes[small_leaves] = rng.integers(1, K, SMALL_LEAVES)
    big = np.setdiff1d(leaves, small_leaves)
    remaining = total - sizes.sum() - K * len(big)
    if remaining < 0:
        raise BenchError(f"{total} responses are too few for {count} departments")
    weights = rng.lognormal(0.0, 0.8, len(big))
    sizes[big] = K + rng.multinomial(remaining, weights / weights.sum())
    return sizes


def answer_model():
    """Per item: domain index, whether reverse-keyed; per domain: whether higher is worse."""
    from assessments.models import Instrument
    from assessments.selectors import instrument_spec

    instrument = Instrument.objects.filter(code="plimsoll-core").order_by("-version").first()
    if instrument is None:
        raise BenchError("load_instruments did not load plimsoll-core")
    spec = instrument_spec(instrument.pk)
    domain_index = {domain.code: d for d, domain in enumerate(spec.domains)}
    item_domain = np.array([domain_index[item.domain_code] for item in spec.items])
    reverse = np.array([item.reverse for item in spec.items])
    worse = np.array([domain.direction == "higher_is_worse" for domain in spec.domains])
    for item in spec.items:
        if item.scale["min"] != 1 or item.scale["max"] != 5:
            raise BenchError(f"item {item.code}: the generator assumes a 1..5 scale")
    return instrument, item_domain, reverse, worse


def generate_answers(
    tree: Tree,
    sizes: np.ndarray,
    item_domain: np.ndarray,
    reverse: np.ndarray,
    worse: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Answer codes (int8, 0 = not answered) and the department index of each response,
    in a random order as submissions would arrive."""
    count, domains = len(tree.ids), len(worse)
    # Departments resemble their parents: climates are inherited and then vary.
    climate = np.zeros((count, domains))
    for node in range(count):
        inherited = climate[tree.parent[node]] * 0.6 if tree.parent[node] >= 0 else 0.0
        climate[node] = inherited + rng.normal(0.0, 0.45, domains)
    department = rng.permutation(np.repeat(np.arange(count), sizes))
    rows = len(department)
    # One general strain per person pushes the "worse" domains up and the others down.
    sign = np.where(worse, 1.0, -1.0).astype(np.float32)
    strain = rng.standard_normal(rows, dtype=np.float32)[:, None] * 0.55 * sign
    domain_level = rng.normal(3.1, 0.25, domains).astype(np.float32)
    latent = domain_level + climate[department].astype(np.float32) + strain
    latent += rng.standard_normal((rows, domains), dtype=np.float32) * 0.45
    score = latent[:, item_domain]
    score += rng.standard_normal(score.shape, dtype=np.float32) * 0.7
    codes = np.clip(np.rint(score), 1, 5).astype(np.int8)
    codes[:, reverse] = 6 - codes[:, reverse]  # stored as ticked; the scoring reverses back
    # About 3% unanswered: a little everywhere, and a few people who skip a lot.
    skip = rng.random(codes.shape, dtype=np.float32) < 0.026
    skippers = rng.random(rows) < 0.01
    skip[skippers] |= rng.random((int(skippers.sum()), codes.shape[1]), dtype=np.float32) < 0.4
    codes[skip] = 0
    return codes, department


def attribute_json(values: np.ndarray | None) -> np.ndarray:
    """Each response's attributes as jsonb in COPY's binary form (version byte, then JSON
    text), one row per response: uint8 of fixed width, since every value is one character."""
    if values is None:
        return np.broadcast_to(np.frombuffer(b"\x01{}", dtype=np.uint8), (1, 3))
    template = "\x01{" + ", ".join(f'"{name}": "?"' for name in ATTRIBUTES) + "}"
    encoded = np.frombuffer(template.encode(), dtype=np.uint8)
    out = np.repeat(encoded[None, :], len(values), axis=0)
    slots = [i for i, byte in enumerate(encoded) if byte == ord("?")]
    for column, slot in enumerate(slots):
        out[:, slot] = values[:, column]
    return out


# Three breakdown attributes, correlated through the directory as real ones are: each
# department works mostly at one site; night shifts are more common at some sites; tenure
# bands are independent. Values are one character each (see attribute_json).
ATTRIBUTES = ("site", "shift", "tenure")


def generate_attributes(tree: Tree, department: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(responses, 3) ASCII codes of site (a-d), shift (d/n) and tenure band (1-4)."""
    rows = len(department)
    home = rng.integers(0, 4, len(tree.ids))[department]
    elsewhere = rng.random(rows) < 0.1
    site = np.where(elsewhere, rng.integers(0, 4, rows), home)
    night = rng.random(rows) < np.array([0.05, 0.3, 0.5, 0.0])[site]
    tenure = rng.choice(4, rows, p=[0.15, 0.3, 0.35, 0.2])
    return np.stack(
        [ord("a") + site, np.where(night, ord("n"), ord("d")), ord("1") + tenure], axis=1
    ).astype(np.uint8)


def copy_responses(
    *,
    organization_id: int,
    campaign_id: int,
    department_ids: np.ndarray,
    codes: np.ndarray,
    attributes: np.ndarray | None = None,
) -> None:
    """All rows in one binary COPY, the stream built as a numpy record array."""
    from django.db import connection

    from assessments.models import Response

    rows, width = codes.shape
    stored = attribute_json(attributes)
    layout = np.dtype(
        [
            ("fields", ">i2"),
            ("id_len", ">i4"),
            ("id", "u1", 16),
            ("organization_len", ">i4"),
            ("organization", ">i8"),
            ("campaign_len", ">i4"),
            ("campaign", ">i8"),
            ("department_len", ">i4"),
            ("department", ">i8"),
            ("answers_len", ">i4"),
            ("answers", "i1", width),
            ("attributes_len", ">i4"),
            ("attributes", "u1", stored.shape[1]),
        ]
    )
    records = np.empty(rows, dtype=layout)
    records["fields"] = 6
    records["id_len"] = 16
    # Random version 4 UUIDs, a million at a time.
    ids = np.frombuffer(os.urandom(16 * rows), dtype=np.uint8).reshape(rows, 16).copy()
    ids[:, 6] = (ids[:, 6] & 0x0F) | 0x40
    ids[:, 8] = (ids[:, 8] & 0x3F) | 0x80
    records["id"] = ids
    for name, value in (
        ("organization", organization_id),
        ("campaign", campaign_id),
        ("department", department_ids),
    ):
        records[f"{name}_len"] = 8
        records[name] = value
    records["answers_len"] = width
    records["answers"] = codes
    records["attributes_len"] = stored.shape[1]
    records["attributes"] = stored

    table = Response._meta.db_table
    columns = "id, organization_id, campaign_id, department_id, answers, attributes"
    connection.ensure_connection()
    raw = connection.connection
    with raw.cursor() as cursor:
        # The rows are valid by construction; replica mode skips the per-row foreign key
        # triggers, which would take longer than the load itself. Session-local, reset below.
        cursor.execute("SET session_replication_role = replica")
        try:
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8))
                step = 100_000
                for start in range(0, rows, step):
                    copy.write(records[start : start + step].tobytes())
                copy.write(b"\xff\xff")
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def create_campaign(
    organization,
    instrument,
    root_id: int,
    *,
    name: str,
    closed_days_ago: int,
    attributes_used: tuple[str, ...] = (),
):
    from django.utils import timezone

    from assessments.models import Campaign, CampaignStatus

    closed_at = timezone.now() - dt.timedelta(days=closed_days_ago)
    opened_at = closed_at - dt.timedelta(days=14)
    campaign = Campaign.objects.create(
        organization=organization,
        name=name,
        instrument=instrument,
        languages=["en", "de"],
        opens_at=opened_at,
        closes_at=closed_at,
        min_group_size=K,
        attributes_used=list(attributes_used),
        status=CampaignStatus.CLOSED,
        launched_at=opened_at,
        closed_at=closed_at,
    )
    campaign.target_departments.set([root_id])
    return campaign


def seed(responses: int, small_responses: int, seed_value: int) -> dict:
    """The organisation, its tree and both campaigns with their responses."""
    from django.db import connection, transaction

    from accounts.models import Department, Organization
    from assessments.models import Response
    from assessments.services import campaign_population_freeze

    rng = np.random.default_rng(seed_value)
    instrument, item_domain, reverse, worse = answer_model()
    with transaction.atomic():
        organization = Organization.objects.create(name="Bench Scoring Ltd", slug="bench-scoring")
        tree = build_tree(organization.pk)
    campaigns = {}
    # The small campaign closed earlier, so it is the "previous" campaign of the large one; it
    # is scored only after the large one's measurements, so those compute no trends.
    # The campaign with breakdowns closed on its own day, with no previous campaign nearer
    # than the small one; it is measured before the small one has results, so no trends.
    for label, total, closed_days_ago, breakdowns in (
        ("large", responses, 1, ()),
        ("small", small_responses, 200, ()),
        ("attributes", responses, 2, ATTRIBUTES),
    ):
        started = time.monotonic()
        sizes = department_sizes(tree, total, rng)
        codes, department = generate_answers(tree, sizes, item_domain, reverse, worse, rng)
        values = generate_attributes(tree, department, rng) if breakdowns else None
        generated = time.monotonic() - started
        with transaction.atomic():
            campaign = create_campaign(
                organization,
                instrument,
                int(tree.ids[0]),
                name=f"Bench {label} campaign",
                closed_days_ago=closed_days_ago,
                attributes_used=breakdowns,
            )
            copy_responses(
                organization_id=organization.pk,
                campaign_id=campaign.pk,
                department_ids=tree.ids[department],
                codes=codes,
                attributes=values,
            )
            # Its frozen population, as its launch would have recorded it.
            campaign_population_freeze(campaign=campaign)
        copied = time.monotonic() - started - generated
        unanswered = float((codes == 0).mean())
        say(
            f"generated  {label}: {total} responses in {generated:.2f} s (numpy), "
            f"COPY {copied:.2f} s; {unanswered:.1%} unanswered; departments with < {K} "
            f"respondents attached directly: {int((sizes < K).sum())}"
        )
        campaigns[label] = {"id": campaign.pk, "responses": total, "breakdowns": breakdowns}
        del codes, department, values
    started = time.monotonic()
    table = Response._meta.db_table
    with connection.cursor() as cursor:
        # What autovacuum would have done long before anyone scores a closed campaign; done
        # now so that it cannot start during the measurement, and so that the first read does
        # not pay for setting hint bits on a million fresh rows.
        cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute("CHECKPOINT")
        # The rows were loaded without foreign key checks: make sure they would have passed.
        cursor.execute(
            f"SELECT count(*) FROM {table} r LEFT JOIN {Department._meta.db_table} d "
            "ON d.id = r.department_id WHERE d.id IS NULL OR d.organization_id <> "
            "r.organization_id"
        )
        orphans = cursor.fetchone()[0]
    if orphans:
        raise BenchError(f"{orphans} generated responses point at no department of theirs")
    say(f"prepared   VACUUM (ANALYZE) and CHECKPOINT in {time.monotonic() - started:.2f} s")
    return {"campaigns": campaigns, "departments": len(tree.ids)}


# --- Measurement (in its own process) -------------------------------------------------------


class CpuClock:
    """Wall time and the CPU seconds of this process, its PostgreSQL backend and the machine,
    to tell where the time goes and whether other processes competed for the 2 cores."""

    def __init__(self, backend_pid: int) -> None:
        self.backend_stat = Path(f"/proc/{backend_pid}/stat")

    def _backend(self) -> float:
        try:
            fields = self.backend_stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")  # PostgreSQL in another container: not visible here
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    @staticmethod
    def _machine() -> float:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return (sum(values[:8]) - values[3] - values[4]) / CLOCK_TICKS

    def read(self) -> tuple[float, float, float, float]:
        # This process and the children it has waited for (a report's rendering processes).
        own = sum(
            usage.ru_utime + usage.ru_stime
            for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        )
        return time.perf_counter(), own, self._backend(), self._machine()

    @staticmethod
    def spent(before, after) -> dict:
        wall, own, backend, machine = (a - b for a, b in zip(after, before, strict=True))
        return {
            "seconds": wall,
            "python_cpu": own,
            "postgres_cpu": backend,
            "other_cpu": machine - own - (0.0 if math.isnan(backend) else backend),
        }


def measure_scoring(campaign, clock: CpuClock) -> tuple[dict, int]:
    from results import services

    # The request is made as the close of a campaign makes it; only the hand-off to Celery is
    # left out (eager without a broker, it would run the scoring inside the request).
    with mock.patch.object(services, "_enqueue") as enqueue:
        run = services.result_run_request(campaign=campaign)
    if enqueue.call_count != 1:
        raise BenchError("result_run_request did not enqueue its run exactly once")
    before = clock.read()
    run = services.result_run_execute(run_id=run.pk)
    return CpuClock.spent(before, clock.read()), run.pk


FLOOR_SQL = "SELECT string_agg(answers, ''::bytea) FROM {table} WHERE campaign_id = %s"
# With breakdowns the same data includes each response's attribute values: the floor reads
# them with the answers, in one pass grouped by them (as the scoring reads them).
FLOOR_SQL_ATTRIBUTES = (
    "SELECT attributes, string_agg(answers, ''::bytea) FROM {table} WHERE campaign_id = %s "
    "GROUP BY department_id, attributes"
)


def measure_floor(
    campaign_id: int, width: int, clock: CpuClock, *, attributes: bool = False
) -> tuple[dict, np.ndarray]:
    from django.db import connection

    from assessments.models import Response

    table = Response._meta.db_table
    before = clock.read()
    with connection.cursor() as cursor:
        if attributes:
            cursor.execute(FLOOR_SQL_ATTRIBUTES.format(table=table), [campaign_id])
            rows = cursor.fetchall()
            blob = b"".join(bytes(blob) for _, blob in rows)
        else:
            cursor.execute(FLOOR_SQL.format(table=table), [campaign_id])
            blob = cursor.fetchone()[0]
    matrix = np.frombuffer(blob, dtype=np.int8).reshape(-1, width)
    return CpuClock.spent(before, clock.read()), matrix


def expected_organisation_cells(matrix: np.ndarray, spec) -> dict[str, tuple[int, float]]:
    """n and mean of every domain for the whole organisation, computed independently of the
    engine from the raw codes and the instrument's scale values."""
    found = {}
    for domain in spec.domains:
        columns = [item.position for item in domain.items]
        codes = matrix[:, columns].astype(np.int64)
        values = np.zeros(codes.shape)
        for j, item in enumerate(domain.items):
            scale = list(item.scale["values"])
            if item.reverse:
                scale = scale[::-1]
            table = np.array([0.0, *scale])
            values[:, j] = table[codes[:, j]]
        answered = (codes > 0).sum(axis=1)
        enough = answered >= domain.min_answered
        person = values[enough].sum(axis=1) / answered[enough]
        found[domain.code] = (int(enough.sum()), float(person.mean()))
    return found


def check_run(run_id: int, campaign, expected: dict, departments: int, floor) -> list[str]:
    """What is wrong with a finished run: status, counts, completeness and the organisation's
    figures against an independent computation. Empty when it is right."""
    from accounts.models import Department
    from assessments.selectors import instrument_spec
    from results.models import DomainResult, ResultRun, RunStatus
    from results.scoring import OVERALL, RESPONDENTS

    run = ResultRun.objects.get(pk=run_id)
    problems = []
    if run.status != RunStatus.DONE:
        first_line = run.error.partition("\n")[0]
        problems.append(f"run {run_id} is {run.status}: {first_line}")
        return problems
    if not run.is_current:
        problems.append(f"run {run_id} is done but not current")
    if run.response_count != expected["responses"]:
        problems.append(
            f"run {run_id}: response_count {run.response_count}, expected {expected['responses']}"
        )
    spec = instrument_spec(campaign.instrument_id)
    codes = {d.code for d in spec.domains} | {OVERALL, RESPONDENTS}
    every_row = list(
        DomainResult.objects.filter(run_id=run_id).values_list(
            "department_id", "domain_code", "breakdown_attribute", "suppressed", "n", "mean"
        )
    )
    rows = [row for row in every_row if not row[2]]
    cells = {(department, code) for department, code, *_rest in rows}
    organisation_departments = set(
        Department.objects.for_organization(campaign.organization_id).values_list("pk", flat=True)
    )
    wanted = {(d, c) for d in [None, *organisation_departments] for c in codes}
    if len(organisation_departments) != departments:
        problems.append(f"{len(organisation_departments)} departments, expected {departments}")
    if len(rows) != len(wanted) or cells != wanted:
        problems.append(
            f"run {run_id}: {len(rows)} rows, {len(cells)} distinct cells; expected "
            f"{len(wanted)} (missing {len(wanted - cells)}, unexpected {len(cells - wanted)})"
        )
    breakdown = [row for row in every_row if row[2]]
    if bool(breakdown) != bool(expected["breakdowns"]):
        problems.append(
            f"run {run_id}: {len(breakdown)} breakdown rows for attributes {expected['breakdowns']}"
        )
    if expected["breakdowns"] and not any(not row[3] for row in breakdown):
        problems.append(f"run {run_id}: no breakdown cell published at all")
    if any(not suppressed and (n is None or n < K) for _, _, _, suppressed, n, _ in every_row):
        problems.append(f"run {run_id}: a published cell has fewer than k respondents")
    if floor is not None:
        stored = {
            code: (n, mean)
            for department, code, _, suppressed, n, mean in rows
            if department is None and code not in (OVERALL, RESPONDENTS) and not suppressed
        }
        for code, (n, mean) in expected_organisation_cells(floor, spec).items():
            got = stored.get(code)
            if got is None or got[0] != n or abs(got[1] - mean) > 1e-9 * max(1.0, abs(mean)):
                problems.append(
                    f"run {run_id}: organisation {code} is {got}, expected n={n} mean={mean:.12f}"
                )
    return problems


def score_repeatedly(campaign, expected: dict, clock: CpuClock) -> tuple[list[dict], list[int]]:
    runs, run_ids = [], []
    for _ in range(expected["repeat"]):
        spent, run_id = measure_scoring(campaign, clock)
        runs.append(spent)
        run_ids.append(run_id)
    return runs, run_ids


def runs_done(run_ids: list[int]) -> list[str]:
    """Every run finished; only the last is current (each one replaced the one before)."""
    from results.models import ResultRun, RunStatus

    problems = []
    for run in ResultRun.objects.filter(pk__in=run_ids[:-1]):
        if run.status != RunStatus.DONE or run.is_current:
            first_line = run.error.partition("\n")[0]
            problems.append(f"run {run.pk} is {run.status}, current={run.is_current}: {first_line}")
    return problems


def measure(config: dict) -> dict:
    """The whole measurement; runs in its own process, reports as JSON."""
    import django

    django.setup()
    from django.db import connection

    from assessments.models import Campaign
    from assessments.selectors import instrument_spec
    from results import services  # noqa: F401 - loaded up front, as a worker has it loaded
    from results.models import DomainResult, ResultRun

    large, small = config["campaigns"]["large"], config["campaigns"]["small"]
    breakdowns = config["campaigns"]["attributes"]
    large["repeat"] = small["repeat"] = breakdowns["repeat"] = config["repeat"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        clock = CpuClock(cursor.fetchone()[0])
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    campaign = Campaign.objects.select_related("instrument").get(pk=large["id"])
    small_campaign = Campaign.objects.select_related("instrument").get(pk=small["id"])
    width = len(instrument_spec(campaign.instrument_id).items)

    scoring, run_ids = score_repeatedly(campaign, large, clock)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    floor, matrix = [], None
    for _ in range(config["repeat"]):
        matrix = None  # not kept alive across the next timed read
        spent, matrix = measure_floor(large["id"], width, clock)
        floor.append(spent)

    problems = runs_done(run_ids)
    if matrix.shape != (large["responses"], width):
        problems.append(f"floor read {matrix.shape}, expected ({large['responses']}, {width})")
    problems += check_run(run_ids[-1], campaign, large, config["departments"], matrix)
    suppressed = DomainResult.objects.filter(run_id=run_ids[-1], suppressed=True).count()
    del matrix

    attribute_campaign = Campaign.objects.select_related("instrument").get(pk=breakdowns["id"])
    attribute_runs, attribute_run_ids = score_repeatedly(attribute_campaign, breakdowns, clock)
    attribute_peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    attribute_floor = []
    for _ in range(config["repeat"]):
        matrix = None
        spent, matrix = measure_floor(breakdowns["id"], width, clock, attributes=True)
        attribute_floor.append(spent)
    problems += runs_done(attribute_run_ids)
    problems += check_run(
        attribute_run_ids[-1], attribute_campaign, breakdowns, config["departments"], matrix
    )
    del matrix
    # Only published breakdown cells are stored; the run lists every category.
    published_breakdowns = (
        DomainResult.objects.filter(run_id=attribute_run_ids[-1], suppressed=False)
        .exclude(breakdown_attribute="")
        .count()
    )
    categories = ResultRun.objects.get(pk=attribute_run_ids[-1]).breakdowns
    all_breakdowns = (
        sum(len(values) for values in categories.values())
        * (config["departments"] + 1)
        * len(instrument_spec(campaign.instrument_id).domains)
    )

    small_runs, small_run_ids = score_repeatedly(small_campaign, small, clock)
    problems += runs_done(small_run_ids)
    _, small_matrix = measure_floor(small["id"], width, clock)
    problems += check_run(
        small_run_ids[-1], small_campaign, small, config["departments"], small_matrix
    )
    del small_matrix

    # Not a target: once the small campaign has results, it is the large one's previous
    # campaign, and a run computes trends for every department cell as a second survey would.
    trends, trend_run_id = measure_scoring(campaign, clock)
    problems += check_run(trend_run_id, campaign, large, config["departments"], None)
    with_trend = DomainResult.objects.filter(run_id=trend_run_id, trend_diff__isnull=False).count()
    if not with_trend:
        problems.append(f"run {trend_run_id}: no trend although a previous campaign has results")
    return {
        "scoring": scoring,
        "floor": floor,
        "small": small_runs,
        "trends": trends,
        "trend_cells": with_trend,
        "baseline_rss_kb": baseline_rss,
        "peak_rss_kb": peak_rss,
        "suppressed_cells": suppressed,
        "attributes": attribute_runs,
        "attributes_floor": attribute_floor,
        "attributes_peak_rss_kb": attribute_peak_rss,
        "breakdown_cells": [published_breakdowns, all_breakdowns],
        "problems": problems,
    }


def start_measurer(module: str = "bench.scoring") -> subprocess.Popen:
    """The measuring process (`python -m <module> --measure`), started before any data is
    generated.

    Linux carries a process's peak RSS across exec into the new program's ru_maxrss, so a
    process started after the generator had grown would report the generator's peak as its own.
    It waits for its configuration on stdin.
    """
    return subprocess.Popen(
        [PYTHON, "-m", module, "--measure"],
        cwd=BASE_DIR,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_measurement(
    measurer: subprocess.Popen,
    config: dict,
    *,
    timeout: float | None = None,
    failure: type[Exception] = BenchError,
) -> dict:
    """Hand the configuration over and read back the outcome; a failed measurement raises
    `failure` (the application's fault), a measurement past `timeout` a BenchError."""
    try:
        stdout, stderr = measurer.communicate(json.dumps(config), timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"the measuring process took longer than {timeout} s") from exc
    if measurer.returncode != 0:
        raise failure(f"the measuring process failed:\n{stdout}{stderr}")
    if stderr.strip():
        say(stderr.rstrip())
    return json.loads(stdout.strip().splitlines()[-1])


def stop_measurer(measurer: subprocess.Popen | None) -> None:
    if measurer is None or measurer.poll() is not None:
        return
    measurer.kill()
    measurer.communicate()


def answer_measurement_request(measure) -> bool:
    """In the measuring process (`--measure`): run `measure` on the configuration read from
    stdin and print its outcome as JSON. False in the bench's own process."""
    if sys.argv[1:] != ["--measure"]:
        return False
    request = sys.stdin.read()
    if request:  # nothing when the set-up failed
        print(json.dumps(measure(json.loads(request))), flush=True)
    return True


def fresh_database(database_url: str, bench: str) -> None:
    """Drop and recreate the bench database, migrated, with the shipped instruments loaded."""
    started = time.monotonic()
    database_reset(database_url, create=True)
    manage("migrate", "--noinput")
    manage("load_instruments")
    database = environ.Env.db_url_config(database_url)["NAME"]
    say(f"{bench}: database {database} migrated in {time.monotonic() - started:.1f} s")


# --- Report ---------------------------------------------------------------------------------


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda spent: spent["seconds"])


def describe(label: str, runs: list[dict]) -> None:
    top = best(runs)
    times = ", ".join(f"{spent['seconds']:.2f}" for spent in runs)
    say(
        f"{label:<10} best {top['seconds']:.2f} s of [{times}]; best run's CPU: Python "
        f"{top['python_cpu']:.2f} s, PostgreSQL {top['postgres_cpu']:.2f} s, "
        f"other processes {top['other_cpu']:.2f} s"
    )


def main() -> int:
    if answer_measurement_request(measure):
        return 0

    database_url = database_settings()
    responses = env_int("BENCH_RESPONSES", 1_000_000)
    small_responses = env_int("BENCH_RESPONSES_SMALL", 100_000)
    repeat = env_int("BENCH_REPEAT", 3)
    keep = os.environ.get("BENCH_KEEP", "") not in ("", "0")
    database = environ.Env.db_url_config(database_url)["NAME"]
    measurer = None
    try:
        measurer = start_measurer()
        fresh_database(database_url, "bench-scoring")
        import django

        django.setup()
        started = time.monotonic()
        config = seed(responses, small_responses, env_int("BENCH_SEED", 1))
        say(
            f"bench-scoring: {config['departments']} departments, {responses} + "
            f"{small_responses} responses generated and stored in "
            f"{time.monotonic() - started:.1f} s"
        )
        from django.db import connections

        connections.close_all()
        config["repeat"] = repeat
        say(
            f"measure    in a separate process: {repeat} end-to-end runs, {repeat} floor reads, "
            f"{repeat} runs of the small campaign, one run with trends; no separate warm-up, "
            "the best of each counts"
        )
        outcome = run_measurement(measurer, config)
    except BenchError as exc:
        say(f"bench-scoring: could not run: {exc}")
        return 2
    except Exception:  # noqa: BLE001 - any failure to set up or measure is "could not run"
        traceback.print_exc()
        say("bench-scoring: could not run (see the traceback above)")
        return 2
    finally:
        stop_measurer(measurer)
        from django.db import connections

        connections.close_all()
        if keep:
            say(f"bench-scoring: BENCH_KEEP is set, database {database} kept")
        else:
            try:
                database_reset(database_url, create=False)
            except Exception as exc:  # noqa: BLE001 - report, but do not hide the outcome
                say(f"bench-scoring: could not drop the bench database: {exc}")

    describe("end2end", outcome["scoring"])
    describe("floor", outcome["floor"])
    describe(f"n={small_responses}", outcome["small"])
    describe("trends", [outcome["trends"]])
    say(
        f"{'':<10} (not a target: the large campaign again, {outcome['trend_cells']} cells "
        "with a trend against the small one)"
    )
    end_to_end = best(outcome["scoring"])["seconds"]
    floor = best(outcome["floor"])["seconds"]
    small = best(outcome["small"])["seconds"]
    ratio = end_to_end / floor if floor else float("inf")
    peak_mb = round(outcome["peak_rss_kb"] / 1024)
    say(
        f"memory     peak RSS {peak_mb} MB after the end-to-end runs "
        f"({outcome['baseline_rss_kb'] / 1024:.0f} MB before them, Django loaded)"
    )
    say(f"cells      {outcome['suppressed_cells']} suppressed cells in the large campaign's run")
    describe("breakdowns", outcome["attributes"])
    describe("its floor", outcome["attributes_floor"])
    with_attributes = best(outcome["attributes"])["seconds"]
    attributes_floor = best(outcome["attributes_floor"])["seconds"]
    attributes_ratio = with_attributes / attributes_floor if attributes_floor else float("inf")
    attributes_peak_mb = round(outcome["attributes_peak_rss_kb"] / 1024)
    shown, total = outcome["breakdown_cells"]
    say(
        f"{'':<10} {responses} responses with three breakdown attributes ({', '.join(ATTRIBUTES)})"
        f": ratio {attributes_ratio:.2f}, peak RSS {attributes_peak_mb} MB, {shown} of {total} "
        "breakdown cells published"
    )

    for problem in outcome["problems"]:
        say(f"FAILED: {problem}")
    for runs in (outcome["scoring"], outcome["floor"], outcome["small"], outcome["attributes"]):
        top = best(runs)
        if top["other_cpu"] > 0.2 * top["seconds"]:
            say(
                f"WARNING: other processes used {top['other_cpu']:.2f} CPU s during a "
                f"{top['seconds']:.2f} s run; the figures are slower and noisier than on an "
                "idle machine"
            )
            break
    if end_to_end > TARGET_SECONDS:
        say(f"WARNING: speed target missed: end to end {end_to_end:.2f} s > {TARGET_SECONDS:g} s")
    if ratio > TARGET_RATIO:
        say(f"WARNING: speed target missed: ratio {ratio:.2f} > {TARGET_RATIO:g}")
    if with_attributes > TARGET_SECONDS or attributes_ratio > TARGET_RATIO:
        say(
            f"WARNING: speed target missed with breakdowns: {with_attributes:.2f} s, "
            f"ratio {attributes_ratio:.2f}"
        )
    if attributes_peak_mb > TARGET_RSS_MB:
        say(f"WARNING: memory target missed with breakdowns: peak RSS {attributes_peak_mb} MB")
    if peak_mb > TARGET_RSS_MB:
        say(f"WARNING: memory target missed: peak RSS {peak_mb} MB > {TARGET_RSS_MB} MB")
    if small > TARGET_SMALL_SECONDS:
        say(
            f"WARNING: speed target missed: {small_responses} responses {small:.2f} s > "
            f"{TARGET_SMALL_SECONDS:g} s"
        )
    say(
        f"bench-scoring: n={responses} end_to_end_s={end_to_end:.2f} floor_s={floor:.2f} "
        f"ratio={ratio:.2f} peak_rss_mb={peak_mb} n100k_s={small:.2f} "
        f"breakdowns_s={with_attributes:.2f} breakdowns_ratio={attributes_ratio:.2f}"
    )
    return 1 if outcome["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
