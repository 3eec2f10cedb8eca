"""The participation monitor shows exactly what the participation selector allows."""

import re

import pytest
from django.urls import reverse

from accounts.permissions import access_for
from accounts.services import department_create
from assessments.models import DeliveryStatus, Invitation
from assessments.services import response_submit
from results.selectors import participation
from tests.assessments.survey_fixtures import full_answers
from tests.factories import CampaignFactory, EmployeeFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(organization, core_instrument):
    from django.utils import timezone

    from assessments.services import campaign_launch

    root = department_create(organization=organization, name="Harbour")
    big = department_create(organization=organization, name="Quayside", parent=root)
    small = department_create(organization=organization, name="Lighthouse", parent=root)
    for department, people in ((big, 12), (small, 4), (root, 3)):
        for _ in range(people):
            EmployeeFactory(organization=organization, department=department)
    now = timezone.now()
    campaign = CampaignFactory(
        organization=organization,
        instrument=core_instrument,
        opens_at=now - timezone.timedelta(hours=1),
        closes_at=now + timezone.timedelta(days=7),
    )
    campaign.target_departments.set([root])
    campaign = campaign_launch(campaign=campaign)
    answers = full_answers(core_instrument)
    for invitation in Invitation.objects.filter(department=big)[:7]:
        response_submit(invitation_id=invitation.pk, answers=answers)
    for invitation in Invitation.objects.filter(department=small)[:2]:
        response_submit(invitation_id=invitation.pk, answers=answers)
    admin = UserFactory()
    MembershipFactory(user=admin, organization=organization, role="admin")
    manager = UserFactory()
    MembershipFactory(user=manager, organization=organization, role="manager", scope_department=big)
    return {"campaign": campaign, "admin": admin, "manager": manager, "small": small, "big": big}


def _cells(html: str) -> dict[str, list[str]]:
    rows = re.findall(r"<tr>\s*<th scope=\"row\"[^>]*>(.*?)</th>(.*?)</tr>", html, re.S)
    return {
        name.strip(): [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)
        ]
        for name, cells in rows
    }


def _page(client, world, who, name="web:participation"):
    client.force_login(world[who])
    url = reverse(
        name, kwargs={"org": world["campaign"].organization.slug, "pk": world["campaign"].pk}
    )
    return client.get(url)


def test_every_count_on_the_page_is_one_the_selector_allows(client, world):
    response = _page(client, world, "admin")
    assert "no-store" in response["Cache-Control"]
    cells = _cells(response.content.decode())
    access = access_for(user=world["admin"], organization=world["campaign"].organization)
    for row in participation(access=access, campaign=world["campaign"]):
        name = row.department.name if row.department else "Whole campaign"
        shown = cells[name]
        if not row.shown:
            assert shown == [f"fewer than {world['campaign'].min_group_size} invited: no counts"]
        elif row.completed is None:
            assert shown == [str(row.invited), "hidden", "—"]
        else:
            assert shown[:2] == [str(row.invited), str(row.completed)]
    # Lighthouse (4 invited) shows nothing; no page shows 2 answered there.
    assert cells["Lighthouse"][0].startswith("fewer than")
    main = response.content.decode().split("<main")[1].split("</main>")[0].lower()
    assert "risk" not in main and "score" not in main.replace("scores appear only", "")


def test_the_live_table_polls_only_while_open_and_matches_the_page(client, world):
    page = _page(client, world, "admin").content.decode()
    live = _page(client, world, "admin", "web:participation_live").content.decode()
    assert 'hx-trigger="poll"' in live and "data-poll-seconds" in live
    assert _cells(live) == _cells(page)
    assert "<html" not in live  # the fragment alone


def test_a_manager_sees_their_subtree_only(client, world):
    page = _page(client, world, "manager").content.decode()
    cells = _cells(page)
    assert set(cells) == {"Quayside"}
    assert "Whole campaign" not in page and "Lighthouse" not in page


def test_failed_deliveries_are_counted_and_listed_apart_from_answers(client, world):
    # Someone whose invitation never arrived cannot have answered.
    failed = Invitation.objects.filter(department=world["big"], completed_on__isnull=True).order_by(
        "pk"
    )[:2]
    Invitation.objects.filter(pk__in=[i.pk for i in failed]).update(
        delivery_status=DeliveryStatus.FAILED, delivery_error="550 mailbox unavailable"
    )
    page = _page(client, world, "admin").content.decode()
    assert "2 invitations could not be delivered" in page
    listing = _page(client, world, "admin", "web:delivery_failures").content.decode()
    for invitation in failed:
        assert invitation.employee.email in listing
    table = listing.split("<table>")[1]
    assert "Quayside" not in listing and "answered" not in table.lower()
    client.force_login(world["admin"])
    url = reverse(
        "web:retry_failed",
        kwargs={"org": world["campaign"].organization.slug, "pk": world["campaign"].pk},
    )
    client.post(url)
    assert not Invitation.objects.filter(delivery_status=DeliveryStatus.FAILED).exists()
