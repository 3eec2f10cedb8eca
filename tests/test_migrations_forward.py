"""An existing database migrates across the move of result runs to `results` with its rows intact.

Runs and their cells moved from `reports` to `results` in Django's state only (results 0001,
reports 0009): their tables keep their names and no row is copied. This test builds a database
at the head before the move (accounts 0001, assessments 0007, reports 0008, no `results`), fills
it through that state's historical models, migrates forward and checks with today's models that
the run, every cell and the report pointing at the run are the same rows with the same values,
and that the content types were renamed to `results`, not duplicated. It then migrates back and
forward again and checks the same. The database is left fully migrated for the tests after it.
"""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from reports.models import Report
from results.models import DomainResult, ResultRun

# The head before the move; `results` did not exist yet.
PREVIOUS_HEAD = [
    ("accounts", "0001_initial"),
    ("assessments", "0007_queued_at"),
    ("reports", "0008_queued_at"),
]
BEFORE_THE_MOVE = [("results", None), *PREVIOUS_HEAD]
MOVED = ("resultrun", "domainresult")

WHEN = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)


def migrate(executor: MigrationExecutor, targets) -> None:
    executor.migrate(targets)
    # The loader caches what is applied; the next plan must see what this call did.
    executor.loader.build_graph()
    # Content types are cached by the manager; the migration renames them behind its back.
    ContentType.objects.clear_cache()


def migrate_to_the_end(executor: MigrationExecutor) -> None:
    migrate(executor, executor.loader.graph.leaf_nodes())


def fully_migrated(executor: MigrationExecutor) -> bool:
    return executor.migration_plan(executor.loader.graph.leaf_nodes()) == []


def make_campaign_with_a_run(old_apps) -> int:
    """A closed campaign, its current run with three kinds of cell, and a report on the run.

    Written with the historical models of the head before the move; returns the run's pk.
    """
    Organization = old_apps.get_model("accounts", "Organization")
    Department = old_apps.get_model("accounts", "Department")
    Instrument = old_apps.get_model("assessments", "Instrument")
    Campaign = old_apps.get_model("assessments", "Campaign")
    ResultRunThen = old_apps.get_model("reports", "ResultRun")
    DomainResultThen = old_apps.get_model("reports", "DomainResult")
    ReportThen = old_apps.get_model("reports", "Report")

    organization = Organization.objects.create(name="Acme", slug="acme")
    department = Department.objects.create(organization=organization, name="Sales")
    # What accounts.services writes for a root department.
    Department.objects.filter(pk=department.pk).update(path=f"/{department.pk}/", depth=0)
    instrument = Instrument.objects.create(
        code="plimsoll-core",
        version=1,
        title={"en": "Plimsoll core"},
        languages=["en"],
        definition={"domains": []},
        checksum="0" * 64,
    )
    campaign = Campaign.objects.create(
        organization=organization,
        instrument=instrument,
        name="Autumn survey",
        languages=["en"],
        opens_at=WHEN - dt.timedelta(days=21),
        closes_at=WHEN - dt.timedelta(days=1),
        status="closed",
        launched_at=WHEN - dt.timedelta(days=21),
        closed_at=WHEN - dt.timedelta(days=1),
    )
    run = ResultRunThen.objects.create(
        organization=organization,
        campaign=campaign,
        status="done",
        is_current=True,
        attempts=1,
        response_count=12,
        queued_at=WHEN,
        breakdowns={"age_band": ["under 30", "30 and over"]},
        duration_ms=850,
        created_at=WHEN,
        started_at=WHEN + dt.timedelta(seconds=1),
        finished_at=WHEN + dt.timedelta(seconds=2),
    )
    # Suppressed: every figure NULL, as the database requires.
    DomainResultThen.objects.create(
        run=run, department=department, domain_code="demands", suppressed=True
    )
    # Published, with every figure.
    DomainResultThen.objects.create(
        run=run,
        department=None,
        domain_code="demands",
        suppressed=False,
        n=12,
        mean=3.25,
        sd=0.5,
        share_high_risk=0.25,
        risk_score=41.5,
        band="improve",
        trend_diff=-0.2,
        trend_ci_low=-0.6,
        trend_ci_high=0.2,
        trend_significant=False,
        band_counts={"urgent": 1, "improve": 5, "good": 4, "well": 2},
    )
    # A published breakdown cell: n and mean only.
    DomainResultThen.objects.create(
        run=run,
        department=None,
        domain_code="demands",
        breakdown_attribute="age_band",
        breakdown_value="30 and over",
        suppressed=False,
        n=7,
        mean=3.0,
    )
    # The respondent count carries its n alone.
    DomainResultThen.objects.create(
        run=run, department=None, domain_code="respondents", suppressed=False, n=12
    )
    ReportThen.objects.create(
        organization=organization,
        campaign=campaign,
        department=None,
        language="en",
        result_run=run,
        inputs="f" * 64,
        status="done",
        file="reports/2026/11/acme.pdf",
        created_at=WHEN,
        started_at=WHEN,
        finished_at=WHEN + dt.timedelta(seconds=5),
    )
    return run.pk


def content_types_in_reports(old_apps) -> dict[str, int]:
    """The pks of the moved models' content types as the head before the move has them.

    The test database's content types belong to `results` until reports 0009 is reversed, which
    gives them back to `reports`; one is made here only if that left none.
    """
    ContentTypeThen = old_apps.get_model("contenttypes", "ContentType")
    return {
        model: ContentTypeThen.objects.get_or_create(app_label="reports", model=model)[0].pk
        for model in MOVED
    }


def rows_of(run_model, row_model, report_model, run_pk: int) -> dict:
    """Every stored value of the run, its cells and the reports on it, by column."""
    return {
        "run": run_model.objects.filter(pk=run_pk).values().get(),
        "cells": list(row_model.objects.filter(run_id=run_pk).order_by("pk").values()),
        "reports": list(report_model.objects.filter(result_run_id=run_pk).order_by("pk").values()),
        "counts": (
            run_model.objects.count(),
            row_model.objects.count(),
            report_model.objects.count(),
        ),
    }


def rows_now(run_pk: int) -> dict:
    return rows_of(ResultRun, DomainResult, Report, run_pk)


def rows_then(old_apps, run_pk: int) -> dict:
    return rows_of(
        old_apps.get_model("reports", "ResultRun"),
        old_apps.get_model("reports", "DomainResult"),
        old_apps.get_model("reports", "Report"),
        run_pk,
    )


def permissions_on(content_type_pks: dict[str, int]) -> list[tuple[int, str]]:
    return sorted(
        Permission.objects.filter(content_type_id__in=content_type_pks.values()).values_list(
            "pk", "codename"
        )
    )


def assert_content_types_in(app_label: str, expected_pks: dict[str, int]) -> None:
    """Each moved model has one content type, the same row as before, under `app_label`."""
    rows = ContentType.objects.filter(model__in=MOVED, app_label__in=["reports", "results"])
    assert {(ct.model, ct.app_label, ct.pk) for ct in rows} == {
        (model, app_label, pk) for model, pk in expected_pks.items()
    }


@pytest.mark.django_db(transaction=True)
def test_result_rows_survive_the_move_to_results():
    executor = MigrationExecutor(connection)
    try:
        migrate(executor, BEFORE_THE_MOVE)
        old_apps = executor.loader.project_state(PREVIOUS_HEAD).apps
        assert not executor.loader.applied_migrations.keys() & {
            ("results", "0001_initial"),
            ("reports", "0009_result_runs_move_to_results"),
        }

        run_pk = make_campaign_with_a_run(old_apps)
        content_types = content_types_in_reports(old_apps)
        before = rows_then(old_apps, run_pk)
        permissions = permissions_on(content_types)
        assert len(before["cells"]) == 4 and len(before["reports"]) == 1
        suppressed = next(cell for cell in before["cells"] if cell["suppressed"])
        assert suppressed["n"] is None and suppressed["band_counts"] is None

        migrate_to_the_end(executor)

        assert fully_migrated(executor)
        assert rows_now(run_pk) == before
        run = ResultRun.objects.get(pk=run_pk)
        assert run.is_current and run.status == "done"
        assert Report.objects.get(pk=before["reports"][0]["id"]).result_run == run
        assert {cell.pk for cell in run.rows.all()} == {cell["id"] for cell in before["cells"]}
        assert ContentType.objects.get_for_model(ResultRun).app_label == "results"
        assert ContentType.objects.get_for_model(DomainResult).app_label == "results"
        assert_content_types_in("results", content_types)
        assert permissions_on(content_types) == permissions

        # And back, and forward again: still the same rows.
        migrate(executor, BEFORE_THE_MOVE)
        assert rows_then(old_apps, run_pk) == before
        assert_content_types_in("reports", content_types)

        migrate_to_the_end(executor)
        assert fully_migrated(executor)
        assert rows_now(run_pk) == before
        assert_content_types_in("results", content_types)
        assert permissions_on(content_types) == permissions
    finally:
        # Later tests expect today's schema whatever happened above.
        migrate_to_the_end(MigrationExecutor(connection))


@pytest.mark.django_db(transaction=True)
def test_content_types_made_twice_are_merged_not_left_stale():
    """If `results` content types exist before reports 0009 runs (post_migrate ran for the new
    app on its own), the old rows' permissions and history join them and the old rows go."""
    executor = MigrationExecutor(connection)
    try:
        migrate(executor, BEFORE_THE_MOVE)
        old_apps = executor.loader.project_state(PREVIOUS_HEAD).apps
        old = content_types_in_reports(old_apps)
        ContentTypeThen = old_apps.get_model("contenttypes", "ContentType")
        PermissionThen = old_apps.get_model("auth", "Permission")
        twin = ContentTypeThen.objects.create(app_label="results", model="resultrun")
        PermissionThen.objects.create(
            content_type=twin, codename="view_resultrun", name="Can view result run"
        )
        custom = PermissionThen.objects.create(
            content_type_id=old["resultrun"], codename="audit_resultrun", name="Can audit"
        )

        migrate_to_the_end(executor)

        assert not ContentType.objects.filter(app_label="reports", model__in=MOVED).exists()
        assert ContentType.objects.get(app_label="results", model="resultrun").pk == twin.pk
        # The custom permission followed; the duplicate standard one was dropped, not doubled.
        assert Permission.objects.get(pk=custom.pk).content_type_id == twin.pk
        assert (
            Permission.objects.filter(content_type_id=twin.pk, codename="view_resultrun").count()
            == 1
        )
    finally:
        migrate_to_the_end(MigrationExecutor(connection))
