"""`make bench-report`: rendering the PDF reports of a scored campaign over 200 departments.

One run: a fresh database, `migrate` and `load_instruments`, one organisation with 200
departments in a four-level tree (1 → 5 → 30 → 164), employees and invitations, and two closed
plimsoll-core campaigns over the same tree, both scored with `reports.services.
result_run_execute`: the previous one first, then the current one, so the current run has
trends. Most departments have 10-60 respondents attached directly; a few leaves (and a couple
of inner departments) have fewer than k, so suppression has work. Answers come from the same
kind of model as bench/scoring.py (department climates inherited down the tree, a general
strain per person, reverse-keyed items, about 3% unanswered); the previous campaign's climates
differ a little, and a lot in a few departments, so some changes are significant. A dozen
actions (`reports.services.action_create`) are recorded on published departments, some of
them overdue.

The measurement runs in its own process (`python -m bench.report --measure`, configuration on
stdin), started before any data is generated so that its peak RSS is the rendering's own
(plus Django's baseline, which is printed):

- the organisation report in English: `render_report(campaign=c, language="en")`;
- one department pack in German: `render_report(campaign=c, language="de", department=d)` for
  a depth-1 department (the one with the most suppressed departments below it), whose pack
  covers its whole subtree;
- each BENCH_REPEAT times (default 2) back to back, no separate warm-up; the best counts and
  every run is printed (the first is the coldest: templates compiled, fonts loaded);
- per run: wall seconds, split into context + template (HTML), WeasyPrint layout and
  write_pdf, and the CPU seconds of this process, its PostgreSQL backend and other processes;
- peak RSS: ru_maxrss of the measuring process after all runs plus that of its largest
  rendering child (a long report is laid out in two processes at once, reports/pdf.py).

Verified afterwards: both PDFs start with %PDF, have more than one page (pdfinfo agrees with
RenderedReport.pages), and their text (`pdftotext`) contains every published department
name (priority row not suppressed; for the pack, those of its subtree), and a suppressed one
only ever beside the "hidden" mark (`pdftotext -layout` lines).

Environment (all optional):
    BENCH_REPEAT=2  BENCH_SEED=1  BENCH_TIMEOUT=1800 (seconds for the measuring process)
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/plimsoll_bench_report
        (dropped and recreated; its own name so it never collides with the other benches)
    BENCH_KEEP=1     keep the database and the PDFs afterwards (to profile against them)
    BENCH_PROFILE=1  after the measurement, render the organisation report once more under
        cProfile and print the top functions (not counted in the figures)

Exits 1 when rendering fails or a verification fails, 2 when the bench cannot run, and 0
otherwise; a missed speed or memory target only prints a warning.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from unittest import mock

import environ
import numpy as np

from bench.scoring import (
    CpuClock,
    Tree,
    answer_measurement_request,
    answer_model,
    best,
    copy_responses,
    create_campaign,
    fan_out_parents,
    fresh_database,
    insert_tree,
    run_measurement,
    start_measurer,
    stop_measurer,
)
from bench.scoring import database_settings as scoring_database_settings
from bench.submit import BenchError, database_reset, env_int, say

TARGET_ORG_SECONDS = 15.0
TARGET_DEPT_SECONDS = 2.0
TARGET_RSS_MB = 1000
K = 5
# Children per department, level by level: 1 + 5 + 30 + 164 = 200 departments.
FAN_OUT = (5, 6)
LEAVES = 164
DEPARTMENTS = 1 + FAN_OUT[0] + FAN_OUT[0] * FAN_OUT[1] + LEAVES
SMALL_LEAVES = 7  # leaves with 1..4 respondents: suppressed
SMALL_INNER = 2  # depth-2 departments with 1..4 people attached directly (not suppressed)
PACK_DEPTH = 1
PACK_LANGUAGE = "de"

# Name parts; every name ends in its own three-digit number, so no name is part of another.
DIVISIONS = ("Operations", "Finance", "Technology", "Sales", "Services")
AREAS = ("Logistics", "Procurement", "Customer Care", "Quality", "Facilities", "Planning")
TEAMS = (
    "Team North", "Team South", "Night Shift", "Field Service", "Back Office", "Warehouse",
    "Dispatch", "Helpdesk", "Accounts", "Payroll", "Key Accounts", "Maintenance",
)  # fmt: skip
ACTIONS = (
    ("demands", "Review workload and staffing with the team", "Team lead"),
    ("manager_support", "Monthly one-to-ones for everyone", "Department head"),
    ("role", "Write down who decides what", "Department head"),
    ("change", "Explain the reorganisation in a team meeting", "Division head"),
    ("exhaustion", "Protect breaks and limit overtime", "HR business partner"),
    ("relationships", "Mediated conversation about conflicts", "HR business partner"),
)


def database_settings() -> str:
    """The bench database, with the same explicit settings as bench/scoring.py."""
    return scoring_database_settings("plimsoll_bench_report")


# --- Data -----------------------------------------------------------------------------------


def build_tree(organization_id: int) -> tuple[Tree, list[str]]:
    """200 named departments, by level: the head office, divisions, areas and teams."""
    names: list[str] = []

    def name(index: int, depth: int) -> str:
        words = ("Head Office", DIVISIONS, AREAS, TEAMS)[depth]
        word = words if isinstance(words, str) else words[index % len(words)]
        names.append(f"{word} {index:03}")
        return names[-1]

    tree = insert_tree(organization_id, fan_out_parents(FAN_OUT, LEAVES), name)
    return tree, names


def department_sizes(tree: Tree, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Respondents attached directly to each department, now and in the previous campaign.

    Most departments have 10..60; a few leaves (suppressed) and a couple of inner departments
    (published through the people below them) have fewer than k in both campaigns.
    """
    count = len(tree.ids)
    depth = np.zeros(count, dtype=np.int64)
    for node in range(1, count):
        depth[node] = depth[tree.parent[node]] + 1
    now = rng.integers(10, 61, count)
    small_leaves = rng.choice(np.flatnonzero(tree.leaf), SMALL_LEAVES, replace=False)
    small_inner = rng.choice(np.flatnonzero(depth == 2), SMALL_INNER, replace=False)
    small = np.concatenate([small_leaves, small_inner])
    now[small] = rng.integers(1, K, len(small))
    before = np.maximum(K, np.rint(now * rng.uniform(0.75, 1.1, count))).astype(np.int64)
    before[small] = rng.integers(1, K, len(small))
    return now, before


def climates(tree: Tree, domains: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Department effects per domain, now and before: inherited down the tree; the previous
    campaign's differ a little everywhere and clearly in about one department in eight."""
    count = len(tree.ids)
    now = np.zeros((count, domains))
    for node in range(count):
        inherited = now[tree.parent[node]] * 0.6 if tree.parent[node] >= 0 else 0.0
        now[node] = inherited + rng.normal(0.0, 0.45, domains)
    before = now + rng.normal(0.0, 0.1, (count, domains))
    changed = rng.random(count) < 0.125
    before[changed] += rng.choice([-0.5, 0.5], (int(changed.sum()), 1)) * rng.random(domains)
    return now, before


def generate_answers(
    climate: np.ndarray,
    sizes: np.ndarray,
    domain_level: np.ndarray,
    item_domain: np.ndarray,
    reverse: np.ndarray,
    worse: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Answer codes (int8, 0 = not answered) and the department index of each response; the
    model of bench/scoring.py with the climates given."""
    department = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    rows, domains = len(department), len(worse)
    sign = np.where(worse, 1.0, -1.0)
    strain = rng.standard_normal(rows)[:, None] * 0.55 * sign
    latent = domain_level + climate[department] + strain
    latent += rng.standard_normal((rows, domains)) * 0.45
    score = latent[:, item_domain] + rng.standard_normal((rows, len(item_domain))) * 0.7
    codes = np.clip(np.rint(score), 1, 5).astype(np.int8)
    codes[:, reverse] = 6 - codes[:, reverse]  # stored as ticked; the scoring reverses back
    skip = rng.random(codes.shape) < 0.026
    skippers = rng.random(rows) < 0.01
    skip[skippers] |= rng.random((int(skippers.sum()), codes.shape[1])) < 0.4
    codes[skip] = 0
    return codes, department


def invite(organization, campaigns, tree: Tree, answered: list[np.ndarray], rng) -> int:
    """Employees and, per campaign, their invitations: everyone who answered and about a
    quarter more who did not, so participation has figures."""
    from accounts.models import Employee
    from assessments.models import DeliveryStatus, Invitation

    invited = [
        sizes + rng.binomial(sizes + 2, 0.25)  # 75-80% participation, a few invited alone
        for sizes in answered
    ]
    staff = np.maximum(*invited)
    employees = Employee.objects.bulk_create(
        [
            Employee(
                organization=organization,
                external_id=f"E{index:03}-{n:03}",
                email=f"e{index:03}.{n:03}@bench-report.example",
                department_id=int(tree.ids[index]),
                language="de" if n % 3 == 0 else "en",
            )
            for index in range(len(tree.ids))
            for n in range(int(staff[index]))
        ],
        batch_size=5000,
    )
    by_department: dict[int, list] = {}
    for employee in employees:
        by_department.setdefault(employee.department_id, []).append(employee)
    rows = []
    for campaign, counts, sizes in zip(campaigns, invited, answered, strict=True):
        completed_on = campaign.closed_at.date() - dt.timedelta(days=3)
        for index, department_id in enumerate(tree.ids.tolist()):
            for n, employee in enumerate(by_department[department_id][: int(counts[index])]):
                rows.append(
                    Invitation(
                        organization=organization,
                        campaign=campaign,
                        employee=employee,
                        department_id=department_id,
                        language=employee.language,
                        delivery_status=DeliveryStatus.SENT,
                        completed_on=completed_on if n < sizes[index] else None,
                    )
                )
    Invitation.objects.bulk_create(rows, batch_size=5000)
    return len(employees)


def score(campaign) -> int:
    """A scoring run as the close of a campaign requests it, executed here (not on Celery)."""
    from results import services
    from results.models import RunStatus

    with mock.patch.object(services, "_enqueue") as enqueue:
        run = services.result_run_request(campaign=campaign)
    if enqueue.call_count != 1:
        raise BenchError("result_run_request did not enqueue its run exactly once")
    run = services.result_run_execute(run_id=run.pk)
    if run.status != RunStatus.DONE or not run.is_current:
        first_line = run.error.partition("\n")[0]
        raise BenchError(f"scoring {campaign.name}: run {run.pk} is {run.status}: {first_line}")
    return run.pk


def priority_rows(run_id: int) -> dict[int, bool]:
    """Department id → whether its priority (overall) row is suppressed."""
    from results.models import DomainResult
    from results.scoring import OVERALL

    return dict(
        DomainResult.objects.filter(
            run_id=run_id, domain_code=OVERALL, breakdown_attribute="", department__isnull=False
        ).values_list("department_id", "suppressed")
    )


def record_actions(campaign, tree: Tree, suppressed: dict[int, bool], pack_id: int) -> dict:
    """A dozen actions on published departments, the pack's department and two below it
    among them: some overdue, some done after their date (not overdue), some still to come."""
    from django.utils import timezone

    from accounts.models import Department
    from reports.models import ActionStatus
    from reports.services import action_create

    today = timezone.localdate()
    published = [int(i) for i in tree.ids if not suppressed[int(i)]]
    pack_index = int(np.flatnonzero(tree.ids == pack_id)[0])
    below = [int(tree.ids[i]) for i in np.flatnonzero(tree.parent == pack_index)]
    chosen = [pack_id, *[i for i in below if not suppressed[i]][:2]]
    chosen += [i for i in published[::17] if i not in chosen][: 12 - len(chosen)]
    departments = Department.objects.in_bulk(chosen)
    plan = (
        (-40, ActionStatus.PLANNED),  # overdue
        (-10, ActionStatus.IN_PROGRESS),  # overdue
        (-20, ActionStatus.DONE),  # past its date, done: not overdue
        (30, ActionStatus.PLANNED),
        (60, ActionStatus.IN_PROGRESS),
        (None, ActionStatus.PLANNED),
    )
    overdue = 0
    for n, department_id in enumerate(chosen):
        domain_code, title, owner = ACTIONS[n % len(ACTIONS)]
        days, status = plan[n % len(plan)]
        due = today + dt.timedelta(days=days) if days is not None else None
        action_create(
            campaign=campaign,
            department=departments[department_id],
            domain_code=domain_code,
            title=title,
            owner=owner,
            description="Agreed in the results workshop.",
            due_date=due,
            status=status,
        )
        overdue += bool(due and due < today and status != ActionStatus.DONE)
    return {"actions": len(chosen), "overdue": overdue}


def seed(seed_value: int) -> dict:
    """The organisation, its tree, two scored campaigns, actions; what the measurement and
    the verification need to know."""
    from django.db import connection, transaction

    from accounts.models import Department, Organization
    from assessments.models import Campaign, Response

    rng = np.random.default_rng(seed_value)
    instrument, item_domain, reverse, worse = answer_model()
    with transaction.atomic():
        organization = Organization.objects.create(name="Bench Report GmbH", slug="bench-report")
        tree, names = build_tree(organization.pk)
    now, before = department_sizes(tree, rng)
    climate_now, climate_before = climates(tree, len(worse), rng)
    domain_level = rng.normal(3.1, 0.25, len(worse))
    root = int(tree.ids[0])
    campaigns = {}
    with transaction.atomic():
        for label, sizes, climate, name, closed_days_ago in (
            ("previous", before, climate_before, "Stress survey 2024", 190),
            ("current", now, climate_now, "Stress survey 2025", 4),
        ):
            campaign = create_campaign(
                organization, instrument, root, name=name, closed_days_ago=closed_days_ago
            )
            codes, department = generate_answers(
                climate, sizes, domain_level, item_domain, reverse, worse, rng
            )
            copy_responses(
                organization_id=organization.pk,
                campaign_id=campaign.pk,
                department_ids=tree.ids[department],
                codes=codes,
            )
            campaigns[label] = campaign
        Campaign.objects.filter(pk=campaigns["current"].pk).update(
            previous_campaign=campaigns["previous"]
        )
        employees = invite(organization, list(campaigns.values()), tree, [before, now], rng)
    with connection.cursor() as cursor:
        table = Response._meta.db_table
        # The rows were loaded without foreign key checks: make sure they would have passed.
        cursor.execute(
            f"SELECT count(*) FROM {table} r LEFT JOIN {Department._meta.db_table} d "
            "ON d.id = r.department_id WHERE d.id IS NULL OR d.organization_id <> "
            "r.organization_id"
        )
        if cursor.fetchone()[0]:
            raise BenchError("generated responses point at no department of theirs")
        cursor.execute("ANALYZE")

    started = time.monotonic()
    score(campaigns["previous"])
    current = Campaign.objects.get(pk=campaigns["current"].pk)
    run_id = score(current)
    scored = time.monotonic() - started
    suppressed = priority_rows(run_id)
    if len(suppressed) != len(tree.ids):
        raise BenchError(f"{len(suppressed)} priority rows for {len(tree.ids)} departments")
    pack_id = pick_pack_department(tree, suppressed)
    actions = record_actions(current, tree, suppressed, pack_id)
    return {
        "campaign_id": current.pk,
        "run_id": run_id,
        "department_id": pack_id,
        "departments": len(tree.ids),
        "responses": int(now.sum()),
        "previous_responses": int(before.sum()),
        "employees": employees,
        "scored_s": scored,
        "names": {str(int(i)): name for i, name in zip(tree.ids, names, strict=True)},
        **actions,
    }


def pick_pack_department(tree: Tree, suppressed: dict[int, bool]) -> int:
    """The published depth-1 department with the most suppressed departments below it (so the
    pack's suppression is checked too), the first such on a tie."""
    from accounts.models import Department

    candidates = Department.objects.filter(pk__in=tree.ids.tolist(), depth=PACK_DEPTH)
    paths = dict(Department.objects.filter(pk__in=tree.ids.tolist()).values_list("pk", "path"))
    best = None
    for department in candidates.order_by("path"):
        if suppressed[department.pk]:
            continue
        hidden = sum(
            1 for pk, path in paths.items() if path.startswith(department.path) and suppressed[pk]
        )
        if best is None or hidden > best[0]:
            best = (hidden, department.pk)
    if best is None:
        raise BenchError(f"no published department at depth {PACK_DEPTH}")
    return best[1]


# --- Measurement (in its own process) -------------------------------------------------------


def timed_render(render_report, campaign, language, department, clock: CpuClock):
    """One render_report call, with its wall time split into HTML, layout and write_pdf."""
    from weasyprint.document import Document

    from reports import rendering

    phases = {"pdf_s": 0.0, "write_pdf_s": 0.0}
    to_pdf, write_pdf = rendering.html_to_pdf, Document.write_pdf

    def timed_to_pdf(html):
        started = time.perf_counter()
        try:
            return to_pdf(html)
        finally:
            phases["pdf_s"] += time.perf_counter() - started

    def timed_write_pdf(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return write_pdf(self, *args, **kwargs)
        finally:
            phases["write_pdf_s"] += time.perf_counter() - started

    with (
        mock.patch.object(rendering, "html_to_pdf", timed_to_pdf),
        mock.patch.object(Document, "write_pdf", timed_write_pdf),
    ):
        before = clock.read()
        rendered = render_report(campaign=campaign, language=language, department=department)
        spent = CpuClock.spent(before, clock.read())
    spent["html_s"] = spent["seconds"] - phases["pdf_s"]
    spent["layout_s"] = phases["pdf_s"] - phases["write_pdf_s"]
    spent["write_pdf_s"] = phases["write_pdf_s"]
    return spent, rendered


def measure(config: dict) -> dict:
    """The whole measurement; runs in its own process, reports as JSON."""
    import django

    django.setup()
    from django.db import connection
    from django.utils import translation
    from django.utils.translation import gettext

    from accounts.models import Department
    from assessments.models import Campaign
    from reports.rendering import render_report

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        clock = CpuClock(cursor.fetchone()[0])
    baseline_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    campaign = Campaign.objects.select_related("organization", "instrument").get(
        pk=config["campaign_id"]
    )
    department = Department.objects.get(pk=config["department_id"])
    out = Path(config["out"])
    outcome = {"baseline_rss_kb": baseline_rss}
    for label, language, target in (
        ("org", "en", None),
        ("dept", PACK_LANGUAGE, department),
    ):
        runs, rendered = [], None
        for _ in range(config["repeat"]):
            rendered = None  # not kept alive across the next run
            spent, rendered = timed_render(render_report, campaign, language, target, clock)
            runs.append(spent)
        (out / f"{label}.pdf").write_bytes(rendered.pdf)
        (out / f"{label}.html").write_text(rendered.html, encoding="utf-8")
        outcome[label] = {
            "runs": runs,
            "pages": rendered.pages,
            "pdf_bytes": len(rendered.pdf),
            "html_chars": len(rendered.html),
            "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        }
        del rendered
    # The rendering children live while this process renders its own part: count both.
    outcome["own_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    outcome["child_rss_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    outcome["peak_rss_kb"] = outcome["own_rss_kb"] + outcome["child_rss_kb"]
    with translation.override(PACK_LANGUAGE):
        outcome["pack_heading"] = gettext("Recommended actions")
    if config.get("profile"):
        profile(render_report, campaign, out / "org.prof")
    return outcome


def profile(render_report, campaign, path: Path) -> None:
    """One more organisation report under cProfile; the top functions go to stderr."""
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    render_report(campaign=campaign, language="en")
    profiler.disable()
    profiler.dump_stats(path)
    for order in ("cumulative", "tottime"):
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats(order).print_stats(30)
        print(f"--- cProfile of the organisation report, by {order} ({path})", file=sys.stderr)
        print(text.getvalue(), file=sys.stderr)


class RenderFailedError(Exception):
    """render_report raised: the application failed the bench (exit 1, not 2)."""


# --- Verification ---------------------------------------------------------------------------


def pdf_text(path: Path, *, layout: bool = False) -> str:
    """The PDF's text with every run of whitespace made one space (names may wrap), or with
    `layout` its lines as laid out (a table row on one line)."""
    options = ["-layout"] if layout else []
    result = subprocess.run(
        ["pdftotext", *options, "-enc", "UTF-8", str(path), "-"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RenderFailedError(f"pdftotext {path.name} failed: {result.stderr.strip()}")
    return result.stdout if layout else " ".join(result.stdout.split())


# The mark beside a suppressed department, in English and German.
HIDDEN_MARK = re.compile(r"\s*((hidden|verborgen)\s*)?")


def beside_a_figure(lines: list[str], name: str) -> list[str]:
    """Lines naming a suppressed department with anything but the "hidden" mark beside it."""
    pattern = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)")
    return [
        line.strip()
        for line in lines
        if pattern.search(line) and not HIDDEN_MARK.fullmatch(pattern.sub("", line))
    ]


def pdfinfo_pages(path: Path) -> int | None:
    result = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=False)
    found = re.search(r"^Pages:\s+(\d+)", result.stdout, re.MULTILINE)
    return int(found.group(1)) if found else None


def contains(text: str, name: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) is not None


def verify(label: str, path: Path, pages: int, published: list[str], hidden: list[str]) -> list:
    """What is wrong with one rendered PDF; empty when it is right."""
    problems = []
    data = path.read_bytes()
    if not data.startswith(b"%PDF"):
        return [f"{label}: the PDF does not start with %PDF"]
    if pages <= 1:
        problems.append(f"{label}: {pages} page(s)")
    counted = pdfinfo_pages(path)
    if counted != pages:
        problems.append(f"{label}: render_report says {pages} pages, pdfinfo {counted}")
    text = pdf_text(path)
    missing = [name for name in published if not contains(text, name)]
    if missing:
        problems.append(
            f"{label}: {len(missing)} of {len(published)} published departments missing from the "
            f"text, e.g. {', '.join(missing[:5])}"
        )
    # A suppressed department may be named (participation, "hidden"), never beside a figure.
    lines = pdf_text(path, layout=True).splitlines()
    leaked = {name: found for name in hidden if (found := beside_a_figure(lines, name))}
    if leaked:
        problems.append(
            f"{label}: {len(leaked)} suppressed department(s) named beside something other "
            "than 'hidden': "
            + "; ".join(f"{name} in {found[0]!r}" for name, found in leaked.items())
        )
    return problems


def verify_all(config: dict, outcome: dict, out: Path) -> tuple[list[str], dict]:
    from accounts.models import Department

    names = {int(pk): name for pk, name in config["names"].items()}
    suppressed = {int(pk): flag for pk, flag in config["suppressed"].items()}
    pack = Department.objects.get(pk=config["department_id"])
    in_pack = set(
        Department.objects.filter(path__startswith=pack.path).values_list("pk", flat=True)
    )
    published = sorted(names[pk] for pk, flag in suppressed.items() if not flag)
    hidden = sorted(names[pk] for pk, flag in suppressed.items() if flag)
    pack_published = sorted(names[pk] for pk in in_pack if not suppressed[pk])
    problems = verify(
        "organisation report", out / "org.pdf", outcome["org"]["pages"], published, hidden
    )
    problems += verify(
        "department pack", out / "dept.pdf", outcome["dept"]["pages"], pack_published, hidden
    )
    heading = outcome["pack_heading"]
    if heading != "Recommended actions" and not contains(pdf_text(out / "dept.pdf"), heading):
        problems.append(f"department pack: the German heading {heading!r} is not in the text")
    counts = {
        "published": len(published),
        "suppressed": len(hidden),
        "pack_name": pack.name,
        "pack_departments": len(in_pack),
        "pack_suppressed": sum(1 for pk in in_pack if suppressed[pk]),
    }
    return problems, counts


# --- Report ---------------------------------------------------------------------------------


def describe(label: str, result: dict) -> None:
    runs = result["runs"]
    top = best(runs)
    times = ", ".join(f"{spent['seconds']:.2f}" for spent in runs)
    say(
        f"{label:<10} best {top['seconds']:.2f} s of [{times}]: HTML {top['html_s']:.2f} s, "
        f"PDF {top['layout_s'] + top['write_pdf_s']:.2f} s (this process's part: write_pdf "
        f"{top['write_pdf_s']:.2f} s, the rest layout, the other part and joining); CPU: Python "
        f"{top['python_cpu']:.2f} s, PostgreSQL {top['postgres_cpu']:.2f} s, other processes "
        f"{top['other_cpu']:.2f} s"
    )
    say(
        f"{'':<10} {result['pages']} pages, {result['pdf_bytes'] / 1e6:.1f} MB PDF, "
        f"{result['html_chars'] / 1e6:.2f} M characters of HTML, ru_maxrss after it "
        f"{result['rss_kb'] / 1024:.0f} MB"
    )


def main() -> int:
    if answer_measurement_request(measure):
        return 0

    database_url = database_settings()
    repeat = env_int("BENCH_REPEAT", 2)
    keep = os.environ.get("BENCH_KEEP", "") not in ("", "0")
    database = environ.Env.db_url_config(database_url)["NAME"]
    out = Path(tempfile.mkdtemp(prefix="bench-report-"))
    measurer = None
    problems: list[str] = []
    try:
        measurer = start_measurer("bench.report")
        fresh_database(database_url, "bench-report")
        import django

        django.setup()
        started = time.monotonic()
        config = seed(env_int("BENCH_SEED", 1))
        config["suppressed"] = {
            str(pk): flag for pk, flag in priority_rows(config["run_id"]).items()
        }
        hidden = sum(config["suppressed"].values())
        say(
            f"bench-report: {config['departments']} departments, {config['employees']} employees, "
            f"{config['responses']} responses (previous campaign {config['previous_responses']}), "
            f"both scored in {config['scored_s']:.1f} s; {hidden} departments suppressed; "
            f"{config['actions']} actions ({config['overdue']} overdue); set up in "
            f"{time.monotonic() - started:.1f} s"
        )
        from django.db import connections

        connections.close_all()
        say(
            f"measure    in a separate process: the organisation report (en), then the pack of "
            f"{config['names'][str(config['department_id'])]} ({PACK_LANGUAGE}), {repeat} "
            f"time(s) each back to back; no separate warm-up, the best of {repeat} counts"
        )
        outcome = run_measurement(
            measurer,
            {
                "campaign_id": config["campaign_id"],
                "department_id": config["department_id"],
                "repeat": repeat,
                "out": str(out),
                "profile": os.environ.get("BENCH_PROFILE", "") not in ("", "0"),
            },
            timeout=env_int("BENCH_TIMEOUT", 1800),
            failure=RenderFailedError,
        )
        problems, counts = verify_all(config, outcome, out)
    except RenderFailedError as exc:
        say(f"FAILED: {exc}")
        say("bench-report: rendering failed")
        return 1
    except BenchError as exc:
        say(f"bench-report: could not run: {exc}")
        return 2
    except Exception:  # noqa: BLE001 - any failure to set up or measure is "could not run"
        traceback.print_exc()
        say("bench-report: could not run (see the traceback above)")
        return 2
    finally:
        stop_measurer(measurer)
        from django.db import connections

        connections.close_all()
        if keep:
            say(f"bench-report: BENCH_KEEP is set, database {database} and {out} kept")
        else:
            shutil.rmtree(out, ignore_errors=True)
            try:
                database_reset(database_url, create=False)
            except Exception as exc:  # noqa: BLE001 - report, but do not hide the outcome
                say(f"bench-report: could not drop the bench database: {exc}")

    describe("org", outcome["org"])
    describe("dept", outcome["dept"])
    org_s = best(outcome["org"]["runs"])["seconds"]
    dept_s = best(outcome["dept"]["runs"])["seconds"]
    peak_mb = round(outcome["peak_rss_kb"] / 1024)
    say(
        f"memory     peak RSS {peak_mb} MB after all runs: this process "
        f"{outcome['own_rss_kb'] / 1024:.0f} MB ({outcome['baseline_rss_kb'] / 1024:.0f} MB "
        f"before them, Django loaded) + the largest rendering child "
        f"{outcome['child_rss_kb'] / 1024:.0f} MB"
    )
    say(
        f"verified   {counts['published']} published and {counts['suppressed']} suppressed "
        f"departments in the organisation report; the pack of {counts['pack_name']}: "
        f"{counts['pack_departments']} departments, {counts['pack_suppressed']} suppressed"
    )
    for problem in problems:
        say(f"FAILED: {problem}")
    for result in (outcome["org"], outcome["dept"]):
        top = best(result["runs"])
        if top["other_cpu"] > 0.2 * top["seconds"]:
            say(
                f"WARNING: other processes used {top['other_cpu']:.2f} CPU s during a "
                f"{top['seconds']:.2f} s run; the figures are slower and noisier than on an "
                "idle machine"
            )
            break
    if org_s > TARGET_ORG_SECONDS:
        say(
            f"WARNING: speed target missed: organisation report {org_s:.2f} s > "
            f"{TARGET_ORG_SECONDS:g} s"
        )
    if dept_s > TARGET_DEPT_SECONDS:
        say(
            f"WARNING: speed target missed: department pack {dept_s:.2f} s > "
            f"{TARGET_DEPT_SECONDS:g} s"
        )
    if peak_mb > TARGET_RSS_MB:
        say(f"WARNING: memory target missed: peak RSS {peak_mb} MB > {TARGET_RSS_MB} MB")
    say(
        f"bench-report: departments={config['departments']} pages={outcome['org']['pages']} "
        f"org_s={org_s:.2f} dept_s={dept_s:.2f} peak_rss_mb={peak_mb}"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
