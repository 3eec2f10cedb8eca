"""Participation for HR: counts roll up the tree and show only where at least k were invited."""

import pytest
from django.utils import timezone

from accounts.services import department_create
from assessments.models import CampaignStatus, Invitation
from results.selectors import campaign_participation
from tests.factories import CampaignFactory, EmployeeFactory

pytestmark = pytest.mark.django_db


def test_counts_roll_up_and_small_groups_are_hidden(
    organization, core_instrument, django_assert_num_queries
):
    ops = department_create(organization=organization, name="Ops")
    north = department_create(organization=organization, name="North", parent=ops)
    tiny = department_create(organization=organization, name="Tiny", parent=ops)
    department_create(organization=organization, name="Nobody invited")
    campaign = CampaignFactory(
        organization=organization,
        instrument=core_instrument,
        status=CampaignStatus.OPEN,
        launched_at=timezone.now(),
    )
    plan = {ops: (2, 1), north: (6, 4), tiny: (2, 2)}  # invited, completed
    for department, (invited, completed) in plan.items():
        for n in range(invited):
            employee = EmployeeFactory(organization=organization, department=department)
            Invitation.objects.create(
                organization=organization,
                campaign=campaign,
                employee=employee,
                department=department,
                completed_on=timezone.localdate() if n < completed else None,
            )

    first = campaign_participation(campaign=campaign)  # records the groups it shows
    # No frozen tree (made by hand): one look for it, then today's tree, the invitations and
    # the groups shown before.
    with django_assert_num_queries(4):
        rows = campaign_participation(campaign=campaign)
    assert rows == first

    by_name = {(r.department.name if r.department else "all"): r for r in rows}
    assert set(by_name) == {"all", "Ops", "North", "Tiny"}
    assert (by_name["all"].invited, by_name["all"].completed) == (10, 7)
    assert (by_name["Ops"].invited, by_name["Ops"].completed) == (10, 7)
    # North: 6 invited, 4 answered. Of Ops' 7 answers, the 4 invited outside North could hold
    # 4, leaving North 3: its count stays hidden until 5 are certain on both sides.
    assert (by_name["North"].invited, by_name["North"].completed) == (6, None)
    assert by_name["North"].rate is None
    tiny_row = by_name["Tiny"]
    assert not tiny_row.shown
    assert (tiny_row.invited, tiny_row.completed, tiny_row.rate) == (None, None, None)


def test_other_organisations_invitations_never_count(
    organization, other_organization, core_instrument
):
    mine = department_create(organization=organization, name="Mine")
    campaign = CampaignFactory(organization=organization, instrument=core_instrument)
    for _ in range(5):
        employee = EmployeeFactory(organization=organization, department=mine)
        Invitation.objects.create(
            organization=organization, campaign=campaign, employee=employee, department=mine
        )
    rows = campaign_participation(campaign=campaign)
    # Nobody answered yet: no answered count until k have.
    assert [(r.invited, r.completed) for r in rows] == [(5, None), (5, None)]
