"""Scoring runs: requested on close, complete before current, idempotent, failures recorded."""

import pytest
from django.core.management import CommandError, call_command

from accounts.permissions import access_for
from results.models import DomainResult, ResultRun, RunStatus
from results.selectors import (
    campaign_results,
    current_run,
    department_results,
    departments_by_priority,
    heatmap,
    top_risks,
)
from results.services import (
    ScoringRefusedError,
    campaign_close,
    result_run_execute,
    result_run_request,
)
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.reports.scoring_fixtures import build_tree, closed_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(organization):
    return build_tree(organization)


@pytest.fixture
def campaign(organization, core_instrument, tree):
    return closed_campaign(organization, core_instrument, tree)


def _close_and_score(campaign, capture):
    with capture(execute=True):
        campaign_close(campaign=campaign)
    return current_run(campaign=campaign)


def test_closing_scores_the_campaign(campaign, tree, django_capture_on_commit_callbacks):
    run = _close_and_score(campaign, django_capture_on_commit_callbacks)
    assert run is not None and run.status == RunStatus.DONE and run.is_current
    assert run.response_count == 20
    assert run.duration_ms is not None and run.attempts == 1
    cells = {
        (c.department_id, c.domain_code): c
        for c in DomainResult.objects.filter(run=run, breakdown_attribute="")
    }
    # Tiny (2) is hidden; Ops has 5 + 6 + 2 = 13, of which 5 + 2 = 7 are not in a shown
    # child: at least k, so North (6) stays shown.
    north, tiny, ops = (cells[(tree[n].pk, "demands")] for n in ("north", "tiny", "ops"))
    # Everyone in North answered 4 everywhere; DEM5 is reverse-keyed (4 → 2): (4·4 + 2) / 5.
    assert (north.suppressed, north.n) == (False, 6)
    assert north.mean == pytest.approx(3.6) and north.sd == pytest.approx(0.0)
    assert tiny.suppressed and tiny.n is None and tiny.mean is None and tiny.band is None
    assert (ops.suppressed, ops.n) == (False, 13)
    assert cells[(None, "demands")].n == 20


def test_an_open_campaign_is_refused(campaign):
    with pytest.raises(ScoringRefusedError, match="results are computed only after it closes"):
        result_run_request(campaign=campaign)
    assert not ResultRun.objects.exists()


def test_a_waiting_run_is_reused(campaign):
    campaign_close(campaign=campaign)  # requests a run
    first = ResultRun.objects.get()
    assert result_run_request(campaign=campaign) == first
    assert ResultRun.objects.count() == 1


def test_execute_twice_writes_once(campaign):
    campaign_close(campaign=campaign)
    run = ResultRun.objects.get()
    result_run_execute(run_id=run.pk)
    rows = DomainResult.objects.filter(run=run).count()
    again = result_run_execute(run_id=run.pk)
    assert again.status == RunStatus.DONE and again.attempts == 1
    assert DomainResult.objects.filter(run=run).count() == rows


def test_failed_run_records_its_error_and_keeps_the_previous_current(
    campaign, monkeypatch, django_capture_on_commit_callbacks
):
    good = _close_and_score(campaign, django_capture_on_commit_callbacks)

    def broken(_campaign):
        raise RuntimeError("disk full")

    monkeypatch.setattr("results.services._compute", broken)
    retry = result_run_request(campaign=campaign)
    failed = result_run_execute(run_id=retry.pk)
    assert failed.status == RunStatus.FAILED
    assert "RuntimeError: disk full" in failed.error
    assert "Traceback" not in failed.error and "File " not in failed.error
    assert not failed.is_current
    assert current_run(campaign=campaign) == good
    assert not DomainResult.objects.filter(run=failed).exists()


def test_a_new_run_replaces_the_current_one(campaign, django_capture_on_commit_callbacks):
    first = _close_and_score(campaign, django_capture_on_commit_callbacks)
    out = __import__("io").StringIO()
    call_command("score_campaign", campaign.pk, now=True, stdout=out)
    second = current_run(campaign=campaign)
    assert second != first and second.status == RunStatus.DONE
    assert ResultRun.objects.filter(campaign=campaign, is_current=True).count() == 1
    assert "20 respondents" in out.getvalue()


def test_score_command_refuses_an_open_campaign(campaign):
    with pytest.raises(CommandError, match="only after it closes"):
        call_command("score_campaign", campaign.pk, now=True)


def test_breakdowns_are_shown_only_when_no_small_group_can_be_isolated(
    organization, other_organization, core_instrument, django_capture_on_commit_callbacks
):
    """Category cells are published only where no sum or difference of published cells can
    isolate fewer than k people: every class of people covered by the same published cells
    is empty or at least k (see results/scoring/suppression.py)."""
    from accounts.services import department_create
    from tests.reports.scoring_fixtures import add_responses

    # Safe: X has 5 "a" and 5 "b", Y (under X) has 5 "a". Every atom is 0 or 5.
    x = department_create(organization=other_organization, name="X")
    y = department_create(organization=other_organization, name="Y", parent=x)
    safe = closed_campaign(
        other_organization,
        core_instrument,
        {"ops": x, "sales": x, "north": y, "tiny": y},
        attributes_used=["tenure_band"],
    )
    safe.responses.all().delete()
    add_responses(safe, x, 5, 3, tenure_band="a")
    add_responses(safe, x, 5, 3, tenure_band="b")
    add_responses(safe, y, 5, 3, tenure_band="a")
    run = _close_and_score(safe, django_capture_on_commit_callbacks)
    cells = {
        (c.department_id, c.breakdown_value): c
        for c in DomainResult.objects.filter(
            run=run, domain_code="demands", breakdown_attribute="tenure_band"
        )
    }
    assert (cells[(x.pk, "a")].n, cells[(x.pk, "b")].n, cells[(y.pk, "a")].n) == (10, 5, 5)
    assert not cells[(None, "a")].suppressed

    # Tiny's two people are hidden with Tiny; they do not hide the breakdown elsewhere: Sales
    # has 7 without a value and 5 "over 10 years", both at least k.
    tree = build_tree(organization)
    elsewhere = closed_campaign(
        organization, core_instrument, tree, attributes_used=["tenure_band"]
    )
    add_responses(elsewhere, tree["sales"], 5, 3, tenure_band="over 10 years")
    run = _close_and_score(elsewhere, django_capture_on_commit_callbacks)
    shown = {
        (c.department_id, c.breakdown_value): c.n
        for c in DomainResult.objects.filter(
            run=run, domain_code="demands", breakdown_attribute="tenure_band", suppressed=False
        )
    }
    assert shown == {(tree["sales"].pk, "over 10 years"): 5, (None, "over 10 years"): 5}

    # Unsafe: Z has 6 "a" and 2 without a value; Z minus (Z, a) would be those 2.
    third = OrganizationFactory()
    z = department_create(organization=third, name="Z")
    unsafe = closed_campaign(
        third, core_instrument, {"ops": z, "sales": z, "north": z, "tiny": z},
        attributes_used=["tenure_band"],
    )  # fmt: skip
    unsafe.responses.all().delete()
    add_responses(unsafe, z, 6, 3, tenure_band="a")
    add_responses(unsafe, z, 2, 3)
    run = _close_and_score(unsafe, django_capture_on_commit_callbacks)
    # Nothing of a suppressed breakdown cell is stored; the run names its categories.
    assert not DomainResult.objects.filter(run=run).exclude(breakdown_attribute="").exists()
    assert run.breakdowns == {"tenure_band": ["a"]}
    assert (
        DomainResult.objects.get(
            run=run, department=z, domain_code="demands", breakdown_attribute=""
        ).n
        == 8
    )


def test_selectors_follow_the_viewers_scope(
    organization, campaign, tree, django_capture_on_commit_callbacks
):
    _close_and_score(campaign, django_capture_on_commit_callbacks)
    analyst = access_for(
        user=MembershipFactory(organization=organization, role="analyst").user,
        organization=organization,
    )
    manager = access_for(
        user=MembershipFactory(
            organization=organization, role="manager", scope_department=tree["ops"]
        ).user,
        organization=organization,
    )
    stranger = access_for(user=UserFactory(), organization=organization)

    whole = heatmap(access=analyst, campaign=campaign)
    assert whole.rows[0][0] is None  # the organisation first
    assert len(whole.domains) == 10
    ops_only = heatmap(access=manager, campaign=campaign)
    assert {d.name for d, _ in ops_only.rows} == {"Ops", "North", "Tiny"}
    assert (
        not campaign_results(access=manager, campaign=campaign)
        .filter(department__isnull=True)
        .exists()
    )
    with pytest.raises(Exception, match="outside your scope"):
        department_results(access=manager, campaign=campaign, department=tree["sales"])
    with pytest.raises(Exception, match="cannot see"):
        campaign_results(access=stranger, campaign=campaign)

    risks = top_risks(access=analyst, campaign=campaign)
    assert len(risks) == 3 and all(r.department_id is None for r in risks)
    assert risks[0].risk_score >= risks[1].risk_score >= risks[2].risk_score
    ranked = departments_by_priority(access=analyst, campaign=campaign)
    assert ranked[0].department.name in {"North", "Sales", "Ops"}
    assert all(not r.suppressed for r in ranked)


def test_the_fixed_example_a3_b6_under_p9(organization, core_instrument):
    """DESIGN's example: A(3) + B(6) under P(9) with k=5 → A and B hidden, P shown."""
    from accounts.services import department_create
    from tests.reports.scoring_fixtures import add_responses

    p = department_create(organization=organization, name="P")
    a = department_create(organization=organization, name="A", parent=p)
    b = department_create(organization=organization, name="B", parent=p)
    campaign = closed_campaign(
        organization, core_instrument, {"ops": p, "sales": p, "north": a, "tiny": b}
    )
    DomainResultQS = DomainResult.objects
    campaign.responses.all().delete()
    add_responses(campaign, a, 3, 2)
    add_responses(campaign, b, 6, 4)
    campaign_close(campaign=campaign)
    run = result_run_execute(run_id=ResultRun.objects.get(campaign=campaign).pk)
    shown = {
        c.department.name: not c.suppressed
        for c in DomainResultQS.filter(run=run, domain_code="control", department__isnull=False)
        .filter(breakdown_attribute="")
        .select_related("department")
    }
    assert shown == {"P": True, "A": False, "B": False}


def test_answer_matrix_with_and_without_breakdowns_holds_the_same_answers(campaign, tree):
    """Without breakdowns PostgreSQL reads the answers in one ungrouped pass; with them, grouped
    by department and values. Both must give every response once, beside its department."""
    import numpy as np

    from assessments.models import Response
    from assessments.selectors import campaign_answer_matrix

    Response.objects.filter(campaign=campaign, department=tree["north"]).update(
        attributes={"site": "Quay"}
    )
    plain = campaign_answer_matrix(campaign=campaign)
    grouped = campaign_answer_matrix(campaign=campaign, attributes=["site"])

    def rows(matrix):
        return sorted(
            (int(department), bytes(answers))
            for department, answers in zip(matrix.departments, matrix.answers, strict=True)
        )

    assert len(plain.answers) == Response.objects.filter(campaign=campaign).count() == 20
    assert plain.departments.dtype == np.int64 and plain.answers.dtype == np.int8
    assert rows(plain) == rows(grouped)
    assert {int(d) for d in plain.departments} == {t.pk for t in tree.values()}
    assert sorted(grouped.attributes["site"].tolist(), key=str).count("Quay") == 6


@pytest.fixture
def in_process_tasks():
    """Tasks run inside the command, as on the embedded default, whatever the broker."""
    from config.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.mark.django_db(transaction=True)
def test_close_command_says_when_scoring_failed_and_exits_non_zero(
    campaign, monkeypatch, in_process_tasks
):
    def broken(_campaign):
        raise RuntimeError("disk full")

    monkeypatch.setattr("results.services._compute", broken)
    with pytest.raises(CommandError, match=r"closed, but scoring failed: .*disk full"):
        call_command("close_campaign", campaign.pk)
    run = ResultRun.objects.get(campaign=campaign)
    assert run.status == RunStatus.FAILED and "Traceback" not in run.error


@pytest.mark.django_db(transaction=True)
def test_close_command_reports_the_published_respondent_count(campaign, in_process_tasks):
    out = __import__("io").StringIO()
    call_command("close_campaign", campaign.pk, stdout=out)
    assert "is closed and scored (20 respondents)" in out.getvalue()


def test_score_command_exits_non_zero_when_scoring_fails(
    campaign, monkeypatch, django_capture_on_commit_callbacks
):
    _close_and_score(campaign, django_capture_on_commit_callbacks)
    monkeypatch.setattr(
        "results.services._compute", lambda _c: (_ for _ in ()).throw(ValueError("bad input"))
    )
    with pytest.raises(CommandError, match="failed: Scoring stopped on an unexpected error"):
        call_command("score_campaign", campaign.pk, now=True)


def test_every_way_of_closing_starts_the_scoring(
    organization, core_instrument, tree, django_capture_on_commit_callbacks
):
    """The close on schedule (beat), by command and by the admin's action all go through
    results.services.campaign_close: the run is requested in the transaction of the close."""
    import datetime as dt

    from django.utils import timezone

    from assessments.models import CampaignStatus
    from results.services import campaigns_advance_schedule

    due = closed_campaign(organization, core_instrument, tree)
    due.closes_at = timezone.now() - dt.timedelta(minutes=1)
    due.save(update_fields=["closes_at"])
    with django_capture_on_commit_callbacks() as sent:
        assert campaigns_advance_schedule().closed == 1
    assert ResultRun.objects.filter(campaign=due, status=RunStatus.PENDING).count() == 1
    # The run's task and the campaign.closed event's hand-over to webhooks, sent after commit.
    assert len(sent) == 2

    elsewhere = OrganizationFactory()
    by_command = closed_campaign(elsewhere, core_instrument, build_tree(elsewhere))
    call_command("close_campaign", str(by_command.pk))
    by_command.refresh_from_db()
    assert by_command.status == CampaignStatus.CLOSED
    assert ResultRun.objects.filter(campaign=by_command).exists()


def test_the_sweep_scores_a_closed_campaign_that_has_no_run(
    campaign, django_capture_on_commit_callbacks
):
    """A campaign closed by a path that did not ask for its run (or before the sweep did this)
    is found by the beat's sweep, which asks for the run."""
    from assessments.services import campaign_transition
    from results.services import result_runs_sweep

    campaign_transition(campaign=campaign, to="closed")  # the status only: no run asked for
    assert not ResultRun.objects.filter(campaign=campaign).exists()
    with django_capture_on_commit_callbacks(execute=True):
        result_runs_sweep()
    run = ResultRun.objects.get(campaign=campaign)
    assert run.status == RunStatus.DONE  # eager here: the sweep's message ran at once
    with django_capture_on_commit_callbacks(execute=True):
        result_runs_sweep()
    assert ResultRun.objects.filter(campaign=campaign).count() == 1
