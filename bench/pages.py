"""`make bench-pages`: server time and queries of the HR pages that grow with the organisation.

One run: a fresh PostgreSQL database, `migrate` and `load_instruments`, one organisation with
BENCH_EMPLOYEES employees in about BENCH_DEPARTMENTS departments (four levels), and one open
campaign that invited all of them (about a third answered). Then, signed in as the
organisation's admin through Django's test client (the whole middleware stack, no network),
each page is requested BENCH_REQUESTS times after a warm-up: the employee list (first page,
a search, a department filter, a late page), the department tree, and the participation page
of the open campaign with its live table. Printed per page: median and p95 milliseconds and
the number of queries. A closed campaign with a stored cell for every department and domain
(one in ten hidden) gives the heatmap and the results page of a department with more than 200
departments below it. The last line sums it up:

    bench-pages: employees_p95_ms=<n> tree_p95_ms=<n> participation_p95_ms=<n>
        heatmap_p95_ms=<n> department_p95_ms=<n> max_queries=<n>

Targets: p95 at most 250 ms (heatmap 300, department page 200), at most 15 queries per page
whatever the size.

Environment (all optional):
    BENCH_EMPLOYEES=100000  BENCH_DEPARTMENTS=1000  BENCH_REQUESTS=50
    BENCH_PROFILE=<page name>   print where that page spends its time (cProfile) first
    BENCH_PROFILE_FILTER=<regex>   only the profile's lines whose file path matches
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/plimsoll_bench_pages (dropped and made)
Exits 2 when the bench cannot run, 0 otherwise; a missed target prints a warning.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from unittest import mock

from bench.submit import BenchError, database_reset

TARGET_P95_MS = 250.0
TARGET_QUERIES = 15
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/plimsoll_bench_pages"


def build(employees: int, departments: int):
    """The organisation, its tree, its people and an open campaign that invited everyone."""
    import datetime as dt

    from django.utils import timezone

    from accounts.models import Department, Employee, Organization, User
    from accounts.services import department_create, membership_grant
    from assessments.models import Campaign, Instrument, Invitation
    from assessments.services import campaign_launch, delivery

    rng = random.Random(7)
    organization = Organization.objects.create(name="Bench Group", slug="bench-group")
    # Four levels: 10 divisions, each with areas, each with teams, some teams with units.
    per_level = max(2, round((departments / 10) ** (1 / 2)))
    tree = []
    for d in range(10):
        division = department_create(organization=organization, name=f"Division {d}")
        tree.append(division)
        for a in range(per_level):
            area = department_create(
                organization=organization, name=f"Area {d}.{a}", parent=division
            )
            tree.append(area)
            for t in range(per_level - 1):
                if len(tree) >= departments:
                    break
                team = department_create(
                    organization=organization, name=f"Team {d}.{a}.{t}", parent=area
                )
                tree.append(team)
    # Division 0 grows to more than 200 departments below it, for the department results page.
    division = tree[0]
    below = sum(1 for d in tree if d.path.startswith(division.path)) - 1
    areas = [d for d in tree if d.depth == 1 and d.path.startswith(division.path)]
    extra = 0
    while below <= 200:
        area = areas[extra % len(areas)]
        tree.append(
            department_create(organization=organization, name=f"Unit 0.{extra}", parent=area)
        )
        below += 1
        extra += 1
    leaves = [d for d in tree if d.depth >= 1]
    sites, tenure = ["north", "south", "east", "west"], ["<1y", "1-3y", "3-10y", "10y+"]
    rows = [
        Employee(
            organization=organization,
            external_id=f"E{n:06d}",
            email=f"person{n:06d}@bench.example",
            department=rng.choice(leaves),
            language="en" if n % 3 else "de",
            attributes={"site": rng.choice(sites), "tenure_band": rng.choice(tenure)},
        )
        for n in range(employees)
    ]
    Employee.objects.bulk_create(rows, batch_size=5000)
    instrument = Instrument.objects.get(code="plimsoll-core", version=1)
    now = timezone.now()
    campaign = Campaign.objects.create(
        organization=organization,
        name="Bench campaign",
        instrument=instrument,
        languages=["en", "de"],
        opens_at=now - dt.timedelta(days=3),
        closes_at=now + dt.timedelta(days=14),
    )
    campaign.target_departments.set([d for d in tree if d.depth == 0])
    with mock.patch.object(delivery, "enqueue_after_commit"):
        campaign = campaign_launch(campaign=campaign)
    # About a third answered (the counts are what the page reads; answers are not needed).
    Invitation.objects.filter(
        campaign=campaign,
        pk__in=Invitation.objects.filter(campaign=campaign)
        .order_by("?")
        .values("pk")[: employees // 3],
    ).update(completed_on=now.date())
    # As autovacuum would after a bulk load: statistics, and a visibility map for index-only
    # scans.
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("assessments_invitation", "accounts_employee", "accounts_department"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    admin = User.objects.create_user("admin@bench.example", "bench-password-not-secret")
    membership_grant(user=admin, organization=organization, role="admin")
    middle = Department.objects.filter(organization=organization, depth=1).order_by("pk")[3]
    closed = closed_with_results(organization, instrument, tree, rng)
    return organization, campaign, admin, middle, len(tree), closed, division


def closed_with_results(organization, instrument, tree, rng):
    """A closed campaign whose current run holds a cell for every department and domain (one
    in ten hidden), as the scoring stores them: the pages read cells, not answers."""
    import datetime as dt

    from django.utils import timezone

    from assessments.models import Campaign, CampaignStatus
    from results.models import DomainResult, ResultRun, RunStatus
    from results.scoring import OVERALL, RESPONDENTS

    now = timezone.now()
    campaign = Campaign.objects.create(
        organization=organization,
        name="Bench results",
        instrument=instrument,
        languages=["en"],
        status=CampaignStatus.CLOSED,
        opens_at=now - dt.timedelta(days=60),
        closes_at=now - dt.timedelta(days=30),
        launched_at=now - dt.timedelta(days=60),
        closed_at=now - dt.timedelta(days=30),
    )
    campaign.target_departments.set([d for d in tree if d.depth == 0])
    run = ResultRun.objects.create(
        organization=organization, campaign=campaign, status=RunStatus.DONE, is_current=True,
        response_count=len(tree) * 20,
    )  # fmt: skip
    codes = [d.code for d in instrument.domains.order_by("position")]
    bands = ["urgent", "improve", "good", "well"]
    rows = []
    for department in [None, *tree]:
        for code in [*codes, OVERALL, RESPONDENTS]:
            hidden = department is not None and rng.random() < 0.1
            risk = rng.uniform(10, 80)
            figures = {} if hidden else {
                "n": rng.randint(5, 80), "mean": rng.uniform(1, 5), "sd": rng.uniform(0.4, 1.2),
                "share_high_risk": rng.random() / 2, "risk_score": risk,
                "band": bands[min(3, int((80 - risk) / 18))],
                "trend_diff": rng.uniform(-0.5, 0.5), "trend_ci_low": -0.6,
                "trend_ci_high": 0.6, "trend_significant": False,
                "band_counts": dict(zip(bands, (rng.randint(0, 20) for _ in bands), strict=True)),
            }  # fmt: skip
            if code == RESPONDENTS and not hidden:
                figures = {"n": figures["n"]}
            rows.append(
                DomainResult(
                    run=run, department=department, domain_code=code, suppressed=hidden,
                    **figures,
                )
            )  # fmt: skip
    DomainResult.objects.bulk_create(rows, batch_size=5000)
    return campaign


def measure(client, url: str, requests: int) -> tuple[float, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm-up: caches, first connections
        response = client.get(url)
        if response.status_code != 200:
            raise BenchError(f"{url} answered {response.status_code}")
    timings = []
    queries = 0
    for _ in range(requests):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        queries = max(queries, len(captured))
    timings.sort()
    p95 = timings[max(0, round(0.95 * len(timings)) - 1)]
    return statistics.median(timings), p95, queries


def main() -> int:
    employees = int(os.environ.get("BENCH_EMPLOYEES", "100000"))
    departments = int(os.environ.get("BENCH_DEPARTMENTS", "1000"))
    requests = int(os.environ.get("BENCH_REQUESTS", "50"))
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    try:
        database_reset(url, create=True)
    except Exception as exc:  # noqa: BLE001 - no PostgreSQL: say so and stop
        print(f"bench-pages: cannot prepare the database: {exc}", file=sys.stderr)
        return 2
    os.environ.update(
        DATABASE_URL=url,
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only-not-secret"),
        EMAIL_URL="consolemail://",
        CELERY_BROKER_URL="",
        LOG_LEVEL="WARNING",
        READ_DOT_ENV_FILE="0",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    try:
        setup_test_environment()
        call_command("migrate", verbosity=0)
        call_command("load_instruments", verbosity=0)
        started = time.monotonic()
        organization, campaign, admin, middle, size, closed, division = build(
            employees, departments
        )
        print(
            f"seeded {employees} employees in {size} departments and {employees} invitations "
            f"in {time.monotonic() - started:.0f} s"
        )
        client = Client()
        client.force_login(admin)
        org = f"/o/{organization.slug}"
        pages = {
            "employees": f"{org}/employees/",
            "employees (search)": f"{org}/employees/?q=person0421",
            "employees (department)": f"{org}/employees/?department={middle.pk}",
            "employees (page 1000)": f"{org}/employees/?page=1000",
            "tree": f"{org}/departments/",
            "participation": f"{org}/campaigns/{campaign.pk}/participation/",
            "participation (live)": f"{org}/campaigns/{campaign.pk}/participation/live/",
            "heatmap": f"{org}/campaigns/{closed.pk}/heatmap/",
            "heatmap (by priority)": f"{org}/campaigns/{closed.pk}/heatmap/?sort=priority",
            "department results": (
                f"{org}/campaigns/{closed.pk}/results/departments/{division.pk}/"
            ),
        }
        if profile := os.environ.get("BENCH_PROFILE"):
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(5):
                client.get(pages[profile])
            profiler.disable()
            pattern = os.environ.get("BENCH_PROFILE_FILTER", "")  # a regex of file paths
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(pattern, 40)
        results = {}
        print(f"{'page':28} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
        for name, page in pages.items():
            median, p95, queries = measure(client, page, requests)
            results[name] = (median, p95, queries)
            print(f"{name:28} {median:10.1f} {p95:8.1f} {queries:8d}")
    finally:
        from django.db import connections

        connections.close_all()
        database_reset(url, create=False)

    def worst(prefix: str) -> float:
        return max(p95 for name, (_m, p95, _q) in results.items() if name.startswith(prefix))

    max_queries = max(q for _m, _p, q in results.values())
    summary = {
        "employees_p95_ms": worst("employees"),
        "tree_p95_ms": worst("tree"),
        "participation_p95_ms": worst("participation"),
        "heatmap_p95_ms": worst("heatmap"),
        "department_p95_ms": worst("department"),
    }
    targets = {"heatmap_p95_ms": 300.0, "department_p95_ms": 200.0}
    for name, value in summary.items():
        if value > targets.get(name, TARGET_P95_MS):
            target = targets.get(name, TARGET_P95_MS)
            print(f"WARNING: {name}={value:.0f} is above the {target:.0f} ms target")
    if max_queries > TARGET_QUERIES:
        print(f"WARNING: {max_queries} queries on one page, above the target of {TARGET_QUERIES}")
    print(
        "bench-pages: "
        + " ".join(f"{name}={value:.0f}" for name, value in summary.items())
        + f" max_queries={max_queries}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
