"""A campaign's population is frozen at launch: moves afterwards change no figure of it.

Participation while open, every scoring run however late, and the counts shown after close all
roll up over the department tree as it stood at launch. Older runs, and reports made from
them, are withdrawn. Legacy campaigns scored before freezing refuse a rescoring.
"""

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import Department, Employee, User
from accounts.permissions import access_for, access_for_organization
from accounts.services import department_create, department_move
from assessments.models import CampaignDepartment, Invitation
from assessments.services import (
    campaign_create,
    campaign_launch,
    response_submit,
)
from demo.seed import demo_seed
from reports.models import Report, ReportStatus
from reports.selectors import report_for_download
from results.models import DomainResult, ResultRun, RunStatus
from results.selectors import campaign_participation, current_run, participation
from results.services import (
    ScoringRefusedError,
    campaign_close,
    result_run_execute,
    result_run_request,
)
from tests.factories import EmployeeFactory, MembershipFactory
from tests.reports.report_fixtures import SUPPRESSED, build_scored_campaign
from tests.reports.scoring_fixtures import build_tree, closed_campaign

pytestmark = pytest.mark.django_db

PUBLISHED = ["department_id", "domain_code", "breakdown_attribute", "breakdown_value"]
FIGURES = ["suppressed", "n", "mean", "sd", "band_counts"]


def _cells(run) -> dict:
    """Every stored cell: which groups are shown, with their n exactly and their figures to
    nine decimals (the answers may be summed in another order)."""
    return {
        tuple(row[:4]): tuple(round(v, 9) if isinstance(v, float) else v for v in row[4:])
        for row in DomainResult.objects.filter(run=run).values_list(*PUBLISHED, *FIGURES)
    }


def _rescore(campaign):
    run = result_run_request(campaign=campaign)
    return result_run_execute(run_id=run.pk)


def test_rescoring_after_a_team_moved_publishes_the_same_groups(core_instrument):
    scored = build_scored_campaign(core_instrument)
    first = _cells(scored.run)
    # Foghorn (2 answered, suppressed) moves from Quayside to Beacon after the close; then
    # Lighthouse moves to the top level. Rolled up over today's tree, Quayside's and Beacon's
    # figures would change by those teams.
    department_move(
        department=scored.departments["foghorn"], new_parent=scored.departments["beacon"]
    )
    department_move(department=scored.departments["lighthouse"], new_parent=None)
    second = _rescore(scored.campaign)
    assert second.status == RunStatus.DONE, second.error
    assert second.pk != scored.run.pk and second.is_current
    assert _cells(second) == first


def test_a_report_of_a_replaced_run_is_withdrawn(core_instrument, client):
    scored = build_scored_campaign(core_instrument)
    report = Report.objects.create(
        organization=scored.organization,
        campaign=scored.campaign,
        result_run=scored.run,
        language="en",
        status=ReportStatus.DONE,
    )
    report.file.save("old.pdf", ContentFile(b"%PDF-1.7 old"))
    user = User.objects.create_user("hr@harbourside.test", "a-long-test-password")
    MembershipFactory(user=user, organization=scored.organization, role="admin")
    access = access_for(user=user, organization=scored.organization)
    assert report_for_download(access=access, report_id=report.pk) == report
    _rescore(scored.campaign)
    assert report_for_download(access=access, report_id=report.pk) is None
    client.force_login(user)
    assert client.get(reverse("reports:download", args=[report.pk])).status_code == 404


def _launched(organization, instrument, target):
    """A campaign on `target` and below, launched now (its population frozen)."""
    now = timezone.now()
    campaign = campaign_create(
        organization=organization,
        name="Spring",
        instrument=instrument,
        target_departments=[target],
        languages=["en"],
        closes_at=now + dt.timedelta(days=7),
    )
    return campaign_launch(campaign=campaign, now=now)


def test_participation_while_open_follows_the_tree_at_launch(organization, core_instrument):
    ops = department_create(organization=organization, name="Ops")
    north = department_create(organization=organization, name="North", parent=ops)
    pair = department_create(organization=organization, name="Pair", parent=ops)
    people = {ops: 6, north: 6, pair: 2}
    for department, count in people.items():
        for _ in range(count):
            EmployeeFactory(organization=organization, department=department)
    campaign = _launched(organization, core_instrument, ops)
    assert CampaignDepartment.objects.filter(campaign=campaign).count() == 3
    answers = {item.code: "3" for item in core_instrument.items.all()}
    for invitation in Invitation.objects.filter(campaign=campaign).order_by("pk")[:12]:
        response_submit(invitation_id=invitation.pk, answers=answers)
    before = [(r.department and r.department.pk, r.invited, r.completed) for r in
              campaign_participation(campaign=campaign)]  # fmt: skip
    # The two-person team moves out of Ops while the campaign is open.
    department_move(department=pair, new_parent=None)
    after = [(r.department and r.department.pk, r.invited, r.completed) for r in
             campaign_participation(campaign=campaign)]  # fmt: skip
    assert after == before
    by_department = {pk: (invited, completed) for pk, invited, completed in after}
    assert by_department[ops.pk][0] == 14
    assert by_department[pair.pk] == (None, None)  # 2 invited: fewer than k


def test_answered_counts_while_open_never_isolate_a_small_group(organization, core_instrument):
    """P: 5 invited directly and a child A of 6. Once 8 have answered (A: 6, P directly: 2),
    P's 8 minus A's 6 would be the 2 who answered directly in P: A's count is hidden."""
    p = department_create(organization=organization, name="P")
    a = department_create(organization=organization, name="A", parent=p)
    for department, count in ((p, 5), (a, 6)):
        for _ in range(count):
            EmployeeFactory(organization=organization, department=department)
    campaign = _launched(organization, core_instrument, p)
    answers = {item.code: "3" for item in core_instrument.items.all()}
    chosen = list(Invitation.objects.filter(campaign=campaign, department=a)) + list(
        Invitation.objects.filter(campaign=campaign, department=p)[:2]
    )
    for invitation in chosen:
        response_submit(invitation_id=invitation.pk, answers=answers)
    rows = {r.department and r.department.pk: r for r in campaign_participation(campaign=campaign)}
    shown = {pk: row.completed for pk, row in rows.items() if row.completed is not None}
    assert shown == {None: 8, p.pk: 8}
    assert rows[a.pk].invited == 6 and rows[a.pk].completed is None


def test_after_close_answered_counts_are_the_published_respondent_counts(core_instrument):
    scored = build_scored_campaign(core_instrument)
    access = access_for_organization(scored.organization, role="analyst")
    rows = participation(access=access, campaign=scored.campaign)
    respondents = dict(
        DomainResult.objects.filter(
            run=scored.run, domain_code="respondents", suppressed=False
        ).values_list("department_id", "n")
    )
    for row in rows:
        key = row.department.pk if row.department else None
        if key in respondents:
            assert row.completed == respondents[key]
        else:
            assert (row.shown, row.invited, row.completed) == (False, None, None)
    hidden = {scored.departments[key].pk for key in SUPPRESSED}
    assert all(
        row.completed is None for row in rows if row.department and row.department.pk in hidden
    )
    # The lower layer shows no answered count of a closed campaign at all.
    assert all(r.completed is None for r in campaign_participation(campaign=scored.campaign))


def test_a_campaign_scored_before_freezing_refuses_a_rescoring(
    organization, core_instrument, django_capture_on_commit_callbacks
):
    tree = build_tree(organization)
    campaign = closed_campaign(organization, core_instrument, tree)
    with django_capture_on_commit_callbacks(execute=True):
        campaign_close(campaign=campaign)
    assert ResultRun.objects.get(campaign=campaign).status == RunStatus.DONE
    # As a campaign scored before this release: results, but no frozen tree.
    CampaignDepartment.objects.filter(campaign=campaign).delete()
    with pytest.raises(ScoringRefusedError, match="cannot be scored again"):
        result_run_request(campaign=campaign)


def test_the_demo_campaign_rescored_after_moves_leavers_and_joiners_is_unchanged(
    core_instrument,
):
    demo = demo_seed(seed=5)
    campaign = demo.closed_campaign
    first = current_run(campaign=campaign)
    before = _cells(first)
    assert any(not cell[0] for key, cell in before.items() if key[2]), "a breakdown is shown"
    organization = campaign.organization
    dispatch = Department.objects.get(organization=organization, name="Dispatch")
    night = Department.objects.get(organization=organization, name="Night Shift")
    department_move(department=dispatch, new_parent=night)
    # Leavers and joiners in the moved team and its new parent.
    Employee.objects.filter(department=dispatch).update(is_active=False)
    for number in range(3):
        EmployeeFactory(organization=organization, department=night, external_id=f"J{number}")
    second = _rescore(campaign)
    assert second.status == RunStatus.DONE, second.error
    assert _cells(second) == before
