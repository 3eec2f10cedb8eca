"""Requesting and rendering reports: one row per request, enqueued on commit, rendered once by
the task on the reports queue, failures recorded on the row, lost work swept up again."""

from __future__ import annotations

import datetime as dt

import pytest
from celery import signals
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import department_create
from config.celery import app
from reports import rendering
from reports.models import Report, ReportStatus
from reports.services import (
    STALE_PENDING,
    action_create,
    report_inputs,
    report_render,
    report_request,
    report_request_packs,
    reports_sweep,
)
from reports.tasks import render_report, sweep_reports
from tests.factories import CampaignFactory, OrganizationFactory
from tests.reports.pdf_tools import flat, pdf_text
from tests.reports.report_fixtures import PUBLISHED, SUPPRESSED, build_scored_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(core_instrument):
    return build_scored_campaign(core_instrument)


@pytest.fixture
def ran_tasks():
    """The Celery tasks that ran in this process, with their arguments."""
    seen: list[tuple[str, tuple]] = []

    def record(sender=None, args=None, **_kwargs):
        seen.append((sender.name, tuple(args or ())))

    signals.task_prerun.connect(record, weak=False)
    yield seen
    signals.task_prerun.disconnect(record)


def _pack(scored, key="beacon", language="en") -> Report:
    return report_request(
        campaign=scored.campaign, language=language, department=scored.departments[key]
    )


def _rendered(scored, key="beacon", language="en") -> Report:
    report = report_render(report_id=_pack(scored, key, language).pk)
    assert report.status == ReportStatus.DONE, report.error
    return report


def _stored(report: Report) -> tuple[str, dt.datetime, bytes]:
    storage = report.file.storage
    with storage.open(report.file.name, "rb") as handle:
        body = handle.read()
    return report.file.name, storage.get_modified_time(report.file.name), body


def _files(report: Report) -> list[str]:
    storage = report.file.storage
    folder = report.file.name.rsplit("/", 1)[0]
    return storage.listdir(folder)[1]


def test_asking_twice_gives_one_report(scored, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = _pack(scored)
        again = _pack(scored)
        organisation = report_request(campaign=scored.campaign, language="en")
        organisation_again = report_request(campaign=scored.campaign, language="en")
        german = _pack(scored, language="de")
    assert again.pk == first.pk and organisation_again.pk == organisation.pk
    assert len({first.pk, organisation.pk, german.pk}) == 3
    assert Report.objects.count() == 3
    assert len(callbacks) == 3  # one enqueueing per new row, none for the repeats
    assert {r.result_run_id for r in Report.objects.all()} == {scored.run.pk}


def test_a_report_is_enqueued_on_commit_and_rendered_by_the_task(
    scored, django_capture_on_commit_callbacks, ran_tasks
):
    with django_capture_on_commit_callbacks() as callbacks:
        report = _pack(scored)
    # Nothing was sent or rendered inside the transaction that made the row.
    assert ran_tasks == []
    report.refresh_from_db()
    assert (report.status, report.file.name) == (ReportStatus.QUEUED, "")

    assert len(callbacks) == 1
    callbacks[0]()  # the commit: the task is sent, and runs eagerly in tests
    assert ran_tasks == [("reports.tasks.render_report", (report.pk,))]
    report.refresh_from_db()
    assert report.status == ReportStatus.DONE and report.error == ""
    assert report.started_at <= report.finished_at
    assert report.file.name.endswith("-beacon-finance-en.pdf")
    _name, _modified, body = _stored(report)
    assert body.startswith(b"%PDF-")
    assert "Beacon Finance" in pdf_text(body)


def test_tasks_run_eagerly_in_tests_and_go_to_the_reports_queue(scored):
    assert app.conf.task_always_eager  # tests/conftest.py: no worker listens in unit tests
    for task in (render_report, sweep_reports):
        route = app.amqp.router.route({}, task.name, (), {})
        assert route["queue"].name == "reports", task.name
    report = _pack(scored)  # no commit in this test: queued, not sent
    result = render_report.delay(report.pk)
    assert result.get() == {"report": report.pk, "status": ReportStatus.DONE}


def test_a_done_report_is_not_rendered_again(scored, monkeypatch):
    report = _rendered(scored)
    before = _stored(report)
    finished_at = report.finished_at

    def refuse(html):
        raise AssertionError("rendered again")

    monkeypatch.setattr(rendering, "html_to_pdf", refuse)
    again = report_render(report_id=report.pk)
    assert render_report.delay(report.pk).get()["status"] == ReportStatus.DONE
    again.refresh_from_db()
    assert again.status == ReportStatus.DONE and again.finished_at == finished_at
    assert _stored(again) == before  # same name, modification time and bytes
    assert _files(again) == [before[0].rsplit("/", 1)[1]]


def test_a_twin_of_a_rendered_report_reuses_its_file(scored, monkeypatch):
    first = _rendered(scored)
    before = _stored(first)
    # A second row with the same inputs (asked for while the first was being rendered, say).
    twin = Report.objects.create(
        organization=first.organization,
        campaign=first.campaign,
        department=first.department,
        language=first.language,
        result_run=first.result_run,
        inputs=first.inputs,
    )
    other_language = Report.objects.create(
        organization=first.organization,
        campaign=first.campaign,
        department=first.department,
        language="de",
        result_run=first.result_run,
    )

    def refuse(html):
        raise RuntimeError("a twin must not be rendered")

    monkeypatch.setattr(rendering, "html_to_pdf", refuse)
    twin = report_render(report_id=twin.pk)
    assert twin.status == ReportStatus.DONE and twin.file.name == first.file.name
    assert _stored(twin) == before
    assert _files(twin) == [before[0].rsplit("/", 1)[1]]
    # The German pack is no twin of the English one: it is rendered (and here fails).
    other_language = report_render(report_id=other_language.pk)
    assert other_language.status == ReportStatus.FAILED
    assert "a twin must not be rendered" in other_language.error


def test_a_failure_is_recorded_and_keeps_the_stored_file(scored, monkeypatch):
    report = _rendered(scored)
    before = _stored(report)
    # Rendered again (its worker vanished after it had started over, say), and WeasyPrint fails.
    Report.objects.filter(pk=report.pk).update(status=ReportStatus.RUNNING)

    def fail(html):
        raise MemoryError("WeasyPrint ran out of memory")

    monkeypatch.setattr(rendering, "html_to_pdf", fail)
    failed = report_render(report_id=report.pk)
    assert failed.status == ReportStatus.FAILED
    assert failed.error == "MemoryError: WeasyPrint ran out of memory"
    assert failed.finished_at is not None
    assert _stored(failed) == before


def test_a_pack_for_a_suppressed_department_fails_with_the_reason(
    scored, django_capture_on_commit_callbacks
):
    """A real failure, nothing patched: the pack of a hidden department cannot be made."""
    for key in SUPPRESSED:
        queued = Report.objects.create(
            organization=scored.organization,
            campaign=scored.campaign,
            department=scored.departments[key],
            language="en",
            result_run=scored.run,
        )
        assert render_report.delay(queued.pk).get()["status"] == ReportStatus.FAILED
        queued.refresh_from_db()
        assert queued.status == ReportStatus.FAILED and not queued.file
        assert queued.error.startswith("ReportUnavailableError: Department ")
        assert scored.departments[key].name in queued.error
        assert "no pack can be made" in queued.error


def test_a_refused_fetch_fails_the_report_instead_of_leaving_it_running(scored, monkeypatch):
    """WeasyPrint stops on a refused fetch with a BaseException; the row must still say why."""
    real = rendering.render_to_string

    def with_a_remote_stylesheet(template, context):
        return real(template, context).replace(
            "</head>", '<link rel="stylesheet" href="https://example.org/brand.css"></head>'
        )

    monkeypatch.setattr(rendering, "render_to_string", with_a_remote_stylesheet)
    report = report_render(report_id=_pack(scored).pk)
    assert report.status == ReportStatus.FAILED
    assert report.error.startswith("ForbiddenFetch: ")
    assert "https://example.org/brand.css" in report.error
    assert not report.file


def test_the_sweep_enqueues_stale_queued_reports_again(
    scored, django_capture_on_commit_callbacks, ran_tasks
):
    with django_capture_on_commit_callbacks():  # never run: the broker was down
        lost = _pack(scored)
        recent = _pack(scored, language="de")
    Report.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - STALE_PENDING - dt.timedelta(minutes=1)
    )
    assert reports_sweep() == [lost.pk]
    assert ran_tasks == [("reports.tasks.render_report", (lost.pk,))]
    lost.refresh_from_db()
    recent.refresh_from_db()
    assert lost.status == ReportStatus.DONE and lost.file.name.endswith(".pdf")
    assert recent.status == ReportStatus.QUEUED  # not stale yet
    assert reports_sweep() == []  # the swept one is done now
    assert sweep_reports.delay().get() == []


def test_packs_are_requested_for_published_departments_only(
    scored, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks() as callbacks,
        CaptureQueriesContext(connection) as queries,
    ):
        packs = report_request_packs(campaign=scored.campaign)
    # A fixed handful of statements (the run, the departments, the digest's department names
    # and action plans, existing packs, the insert), not a few per pack.
    assert len(queries) <= 8 <= len(packs), [q["sql"][:150] for q in queries]
    names = {key: scored.departments[key].name for key in scored.departments}
    assert {(p.department.name, p.language) for p in packs} == {
        (names[key], language) for key in PUBLISHED for language in ("en", "de")
    }
    assert len(packs) == len(callbacks) == 2 * len(PUBLISHED)
    assert all(p.status == ReportStatus.QUEUED and p.result_run == scored.run for p in packs)
    with django_capture_on_commit_callbacks() as callbacks:
        again = report_request_packs(campaign=scored.campaign)
    assert [p.pk for p in again] == [p.pk for p in packs] and callbacks == []
    assert Report.objects.count() == len(packs)


def test_a_report_needs_results_a_language_and_a_department_of_the_organisation(
    scored, core_instrument
):
    unscored = CampaignFactory(organization=scored.organization, instrument=core_instrument)
    with pytest.raises(ValidationError, match="has no results yet"):
        report_request(campaign=unscored, language="en")
    with pytest.raises(ValidationError, match="has no results yet"):
        report_request_packs(campaign=unscored)
    with pytest.raises(ValidationError, match="not 'fr'"):
        report_request(campaign=scored.campaign, language="fr")
    stranger = department_create(organization=OrganizationFactory(), name="Elsewhere")
    with pytest.raises(ValidationError, match="belongs to another organisation"):
        report_request(campaign=scored.campaign, language="en", department=stranger)
    # A suppressed department gets no pack: refused when asked, not later by the worker.
    for key in SUPPRESSED:
        with pytest.raises(ValidationError, match="no published results"):
            report_request(
                campaign=scored.campaign, language="en", department=scored.departments[key]
            )
    assert not Report.objects.exists()


def test_a_report_is_rendered_anew_when_an_action_was_recorded(scored):
    first = _rendered(scored)
    again = {"campaign": first.campaign, "language": first.language, "department": first.department}
    assert report_request(**again) == first
    action_create(
        campaign=scored.campaign,
        department=scored.departments["beacon"],
        domain_code="demands",
        title="Quarterly workload review",
        owner="Head of finance",
        due_date=timezone.localdate() + dt.timedelta(days=30),
    )
    fresh = report_request(**again)
    assert fresh.pk != first.pk and fresh.status == ReportStatus.QUEUED
    fresh = report_render(report_id=fresh.pk)
    assert fresh.status == ReportStatus.DONE, fresh.error
    assert fresh.file.name != first.file.name
    with fresh.file.open("rb") as handle:
        assert "Quarterly workload review" in flat(pdf_text(handle.read()))
    # Asking again without a change reuses the new file.
    assert report_request(**again) == fresh


def test_report_inputs_cover_scope_language_run_names_and_date(scored, monkeypatch):
    campaign, run = scored.campaign, scored.run
    beacon = scored.departments["beacon"]
    base = report_inputs(campaign=campaign, run=run, department=None, language="en")
    assert base == report_inputs(campaign=campaign, run=run, department=None, language="en")
    assert base != report_inputs(campaign=campaign, run=run, department=None, language="de")
    assert base != report_inputs(campaign=campaign, run=run, department=beacon, language="en")
    beacon.name = "Beacon Treasury"
    beacon.save(update_fields=["name"])
    renamed = report_inputs(campaign=campaign, run=run, department=None, language="en")
    assert renamed != base
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    monkeypatch.setattr("reports.services.timezone.localdate", lambda *a: tomorrow)
    assert report_inputs(campaign=campaign, run=run, department=None, language="en") != renamed


def test_report_inputs_follow_the_organisation_name(scored):
    campaign, run = scored.campaign, scored.run
    before = report_inputs(campaign=campaign, run=run, department=None, language="en")
    campaign.organization.name = "Harbourside Shipping & Ferries"
    campaign.organization.save(update_fields=["name"])
    assert report_inputs(campaign=campaign, run=run, department=None, language="en") != before
