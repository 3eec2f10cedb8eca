"""`make bench-api`: the REST API at size, on PostgreSQL.

One run: a fresh database, `migrate` and `load_instruments`, one organisation and an API key
with every scope. Through Django's test client (the whole middleware stack, no network), with
tasks run in-process:

- a full sync run (`POST /api/v1/directory/sync-runs`, JSON) of BENCH_EMPLOYEES employees
  (default 100,000) in BENCH_DEPARTMENTS departments (default 1,000), timed from the POST until
  the run reads `applied`; then the same body with 1% of the employees changed (moved, new
  address or attribute), timed the same way;
- a closed campaign whose current run holds a cell for every department and domain (one in ten
  hidden): its results endpoint paged through (100 cells a page);
- the employee list paged through (100 a page).

Printed per endpoint: pages, median and p95 milliseconds, and the most queries of one request.
The last line:

    bench-api: sync100k_s=<x> resync100k_s=<x> results_p95_ms=<n> employees_page_p95_ms=<n>
        max_queries=<n>

Targets: first sync at most 20 s, re-sync 10 s, pages p95 at most 150 ms with at most 10
queries per request whatever the size.

Environment (all optional):
    BENCH_EMPLOYEES=100000  BENCH_DEPARTMENTS=1000
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/plimsoll_bench_api (dropped and made)
Exits 1 when a sync does not apply what it should, 2 when the bench cannot run, 0 otherwise; a
missed target prints a warning.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time

from bench.submit import BenchError, database_reset

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/plimsoll_bench_api"
TARGETS = {
    "sync100k_s": 20.0,
    "resync100k_s": 10.0,
    "results_p95_ms": 150.0,
    "employees_page_p95_ms": 150.0,
}
TARGET_QUERIES = 10


def body(employees: int, departments: int, *, changed: bool) -> dict:
    """A full sync: a tree seven wide, people spread over it; `changed` moves, re-addresses
    or re-labels 1% of them."""
    tree = [{"external_id": "D0", "name": "Top"}]
    tree += [
        {
            "external_id": f"D{i}",
            "name": f"Department {i}",
            "parent_external_id": f"D{(i - 1) // 7}",
        }
        for i in range(1, departments)
    ]
    people = []
    for i in range(employees):
        department, email, site = i % departments, f"p{i:07d}@example.test", f"site {i % 4}"
        if changed and i % 100 == 7:
            kind = (i // 100) % 3
            if kind == 0:
                department = (department + 1) % departments
            elif kind == 1:
                email = f"p{i:07d}.new@example.test"
            else:
                site = "site 9"
        people.append(
            {
                "external_id": f"P{i:07d}",
                "email": email,
                "department_external_id": f"D{department}",
                "language": "de" if i % 3 else "en",
                "attributes": {"site": site, "tenure_band": "2-5y"},
            }
        )
    return {"mode": "full", "dry_run": False, "departments": tree, "employees": people}


def sync(client, headers, payload: dict) -> tuple[float, dict]:
    data = json.dumps(payload)
    started = time.perf_counter()
    response = client.post(
        "/api/v1/directory/sync-runs", data, content_type="application/json", **headers
    )
    if response.status_code != 202:
        raise BenchError(f"sync run answered {response.status_code}: {response.content[:500]}")
    location = response["Location"]
    while True:
        run = client.get(location, **headers).json()
        if run["status"] not in ("queued", "running"):
            break
        time.sleep(0.2)
    return time.perf_counter() - started, run


def page_through(client, headers, url: str) -> tuple[list[float], int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    timings, queries, pages = [], 0, 0
    params = {}
    while url:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url, params, **headers)
            timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise BenchError(f"{url} answered {response.status_code}")
        queries = max(queries, len(captured))
        pages += 1
        url, params = response.json()["next"], {}
    return timings, queries, pages


def p95(timings: list[float]) -> float:
    ordered = sorted(timings)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def main() -> int:
    employees = int(os.environ.get("BENCH_EMPLOYEES", "100000"))
    departments = int(os.environ.get("BENCH_DEPARTMENTS", "1000"))
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    try:
        database_reset(url, create=True)
    except Exception as exc:  # noqa: BLE001 - no PostgreSQL: say so and stop
        print(f"bench-api: cannot prepare the database: {exc}", file=sys.stderr)
        return 2
    os.environ.update(
        DATABASE_URL=url,
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only-not-secret"),
        EMAIL_URL="consolemail://",
        CELERY_BROKER_URL="",
        LOG_LEVEL="WARNING",
        READ_DOT_ENV_FILE="0",
        DJANGO_SETTINGS_MODULE="config.settings",
        API_THROTTLE_RATE="1000000/minute",
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts.models import ApiScope, Department, Employee, Organization
    from accounts.services import api_key_create
    from assessments.models import Instrument
    from bench.pages import closed_with_results

    failed = False
    try:
        setup_test_environment()
        call_command("migrate", verbosity=0)
        call_command("load_instruments", verbosity=0)
        organization = Organization.objects.create(name="Bench Group", slug="bench-group")
        _, raw = api_key_create(
            organization=organization, name="bench", scopes=list(ApiScope.values)
        )
        headers = {"HTTP_AUTHORIZATION": f"Api-Key {raw}"}
        client = Client()

        first_s, first = sync(client, headers, body(employees, departments, changed=False))
        created = first["summary"].get("applied", {}).get("employees_created")
        print(f"first sync: {first['status']}, {created} employees created in {first_s:.1f} s")
        again_s, again = sync(client, headers, body(employees, departments, changed=True))
        applied = again["summary"].get("applied", {})
        print(
            f"re-sync (1% changed): {again['status']} in {again_s:.1f} s: "
            + ", ".join(f"{k}={v}" for k, v in applied.items() if v)
        )
        changed = sum(applied.get(k, 0) for k in ("employees_moved", "employees_updated"))
        if first["status"] != "applied" or created != employees:
            print("bench-api: the first sync did not create every employee", file=sys.stderr)
            failed = True
        if again["status"] != "applied" or not changed:
            print("bench-api: the re-sync did not apply the changes", file=sys.stderr)
            failed = True
        if Employee.objects.for_organization(organization).count() != employees:
            failed = True

        instrument = Instrument.objects.get(code="plimsoll-core", version=1)
        tree = list(Department.objects.for_organization(organization).order_by("path"))
        closed = closed_with_results(organization, instrument, tree, random.Random(7))
        from django.db import connection

        with connection.cursor() as cursor:
            for table in ("accounts_employee", "accounts_department", "reports_domainresult"):
                cursor.execute(f"VACUUM ANALYZE {table}")
        results = {}
        print(f"{'endpoint':24} {'pages':>6} {'median ms':>10} {'p95 ms':>8} {'queries':>8}")
        for name, path in (
            ("results", f"/api/v1/campaigns/{closed.pk}/results"),
            ("employees", "/api/v1/directory/employees"),
        ):
            timings, queries, pages = page_through(client, headers, path)
            results[name] = (p95(timings), queries)
            print(
                f"{name:24} {pages:6d} {statistics.median(timings):10.1f} "
                f"{p95(timings):8.1f} {queries:8d}"
            )
    except BenchError as exc:
        print(f"bench-api: {exc}", file=sys.stderr)
        return 1
    finally:
        from django.db import connections

        connections.close_all()
        database_reset(url, create=False)

    summary = {
        "sync100k_s": first_s,
        "resync100k_s": again_s,
        "results_p95_ms": results["results"][0],
        "employees_page_p95_ms": results["employees"][0],
    }
    max_queries = max(queries for _, queries in results.values())
    for name, value in summary.items():
        if value > TARGETS[name]:
            print(f"WARNING: {name}={value:.1f} is above the {TARGETS[name]:.0f} target")
    if max_queries > TARGET_QUERIES:
        print(f"WARNING: {max_queries} queries in one request, above {TARGET_QUERIES}")
    print(
        f"bench-api: sync100k_s={first_s:.1f} resync100k_s={again_s:.1f} "
        f"results_p95_ms={summary['results_p95_ms']:.0f} "
        f"employees_page_p95_ms={summary['employees_page_p95_ms']:.0f} "
        f"max_queries={max_queries}"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
