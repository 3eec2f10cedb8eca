"""The admin works with the data model: every registered page opens for staff."""

import datetime as dt

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone

from accounts.models import Department, User
from accounts.services import department_create
from assessments.models import Campaign, CampaignStatus, Invitation, InvitationToken
from demo.seed import demo_seed
from results.models import DomainResult, ResultRun
from results.services import result_run_execute
from tests.factories import CampaignFactory
from tests.reports.scoring_fixtures import add_responses

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = User.objects.create_superuser("admin@example.test", "a-long-test-password")
    client.force_login(user)
    return client


@pytest.fixture
def demo(core_instrument):
    return demo_seed(seed=3)


def test_every_admin_changelist_and_change_page_opens(staff_client, demo):
    for model in admin.site._registry:
        meta = model._meta
        changelist = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert staff_client.get(changelist).status_code == 200, changelist
        obj = model._default_manager.first()
        if obj is not None:
            change = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
            assert staff_client.get(change).status_code == 200, change


def test_admin_refuses_a_cycle_with_a_clear_error(staff_client, demo):
    operations = Department.objects.get(name="Operations")
    night = Department.objects.get(name="Night Shift")
    url = reverse("admin:accounts_department_change", args=[operations.pk])
    page = staff_client.post(
        url,
        {
            "organization": operations.organization_id,
            "name": "Operations",
            "parent": night.pk,
            "external_id": operations.external_id,
        },
    )
    assert page.status_code == 200
    assert "would make a cycle" in page.content.decode()
    assert Department.objects.get(pk=operations.pk).parent_id is None


def test_admin_creates_and_moves_departments_through_the_services(staff_client, demo):
    fleet = Department.objects.get(name="Fleet")
    add = reverse("admin:accounts_department_add")
    staff_client.post(
        add,
        {
            "organization": fleet.organization_id,
            "name": "Workshop",
            "parent": fleet.pk,
            "external_id": "",
        },
    )
    workshop = Department.objects.get(name="Workshop")
    assert workshop.path == f"{fleet.path}{workshop.pk}/"
    sales = Department.objects.get(name="Sales")
    change = reverse("admin:accounts_department_change", args=[workshop.pk])
    staff_client.post(
        change,
        {
            "organization": fleet.organization_id,
            "name": "Workshop",
            "parent": sales.pk,
            "external_id": "",
        },
    )
    assert Department.objects.get(pk=workshop.pk).path == f"{sales.path}{workshop.pk}/"


def test_admin_close_action_uses_the_transition_rules(staff_client, demo):
    closed = demo.closed_campaign
    url = reverse("admin:assessments_campaign_changelist")
    page = staff_client.post(
        url, {"action": "launch", "_selected_action": [closed.pk]}, follow=True
    )
    assert "already launched" in page.content.decode()
    assert Campaign.objects.get(pk=closed.pk).status == CampaignStatus.CLOSED


def test_launched_campaign_shows_k_read_only(staff_client, demo):
    url = reverse("admin:assessments_campaign_change", args=[demo.open_campaign.pk])
    page = staff_client.get(url).content.decode()
    assert 'name="min_group_size"' not in page


def test_anonymous_visitor_is_sent_to_login(client):
    assert client.get("/admin/").status_code == 302
    # The front door is the HR app's sign-in page; the admin site is for superusers only.
    root = client.get("/")
    assert root.status_code == 302 and root["Location"].startswith("/login/")


def test_healthz_reports_database(client, db):
    page = client.get("/healthz")
    assert page.status_code == 200
    assert page.json() == {"status": "ok"}


def test_unknown_address_gets_the_plimsoll_not_found_page(client, db):
    page = client.get("/no-such-page/")
    assert page.status_code == 404
    body = page.content.decode()
    assert "Page not found" in body and 'lang="en"' in body


def _campaign_form(campaign, **changes):
    data = {
        "organization": campaign.organization_id,
        "name": campaign.name,
        "instrument": campaign.instrument_id,
        "target_departments": [d.pk for d in campaign.target_departments.all()],
        "languages": '["en", "de"]',
        "opens_at_0": "2030-01-01",
        "opens_at_1": "08:00:00",
        "closes_at_0": "2030-01-22",
        "closes_at_1": "08:00:00",
        "reminder_days": "[7]",
        "min_group_size": 5,
        "attributes_used": "[]",
        "previous_campaign": "",
    }
    data.update(changes)
    return data


def test_admin_add_campaign_checks_every_rule(staff_client, demo, other_organization):
    from assessments.models import Campaign

    foreign = Department.objects.create(organization=other_organization, name="Foreign")
    url = reverse("admin:assessments_campaign_add")
    closed = demo.closed_campaign
    page = staff_client.post(
        url,
        _campaign_form(
            closed,
            name="Bad one",
            target_departments=[foreign.pk],
            languages='["fr"]',
            reminder_days='[-3, "x"]',
            attributes_used='["email"]',
            min_group_size=2,
        ),
    )
    body = page.content.decode()
    assert page.status_code == 200
    for text in (
        "Not departments of this organisation: Foreign",
        "has no text in fr",
        "Reminder days are a list",
        "only these coarse attributes",
        "at least 3, got 2",
    ):
        assert text in body, text
    assert not Campaign.objects.filter(name="Bad one").exists()
    good = staff_client.post(url, _campaign_form(closed, name="Good one"))
    assert good.status_code == 302
    created = Campaign.objects.get(name="Good one")
    assert created.status == "draft"
    assert created.target_departments.count() == closed.target_departments.count()


def test_admin_cannot_move_or_edit_a_closed_campaign(staff_client, demo, other_organization):
    from assessments.models import Campaign

    closed = demo.closed_campaign
    url = reverse("admin:assessments_campaign_change", args=[closed.pk])
    staff_client.post(
        url,
        _campaign_form(closed, organization=other_organization.pk, name="Moved", min_group_size=9),
    )
    after = Campaign.objects.get(pk=closed.pk)
    assert after.organization_id == closed.organization_id
    assert (after.name, after.min_group_size) == (closed.name, closed.min_group_size)


def test_only_superusers_enter_the_admin(client, db):
    staff = User.objects.create_user("staff@example.test", "a-long-test-password", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/").status_code == 302


def test_admin_refuses_rows_that_cross_organisations(staff_client, demo, other_organization):
    from accounts.models import Employee

    foreign = Department.objects.create(organization=other_organization, name="Foreign", path="/x/")
    employee = Employee.objects.filter(organization=demo.organization).first()
    url = reverse("admin:accounts_employee_change", args=[employee.pk])
    page = staff_client.post(
        url,
        {
            "organization": employee.organization_id,
            "external_id": employee.external_id,
            "email": employee.email,
            "department": foreign.pk,
            "is_active": "on",
            "language": employee.language,
            "attributes": "{}",
        },
    )
    assert "belongs to another organisation" in page.content.decode()
    assert Employee.objects.get(pk=employee.pk).department_id == employee.department_id

    department = Department.objects.filter(organization=demo.organization).first()
    url = reverse("admin:accounts_department_change", args=[department.pk])
    staff_client.post(
        url,
        {
            "organization": other_organization.pk,
            "name": department.name,
            "parent": "",
            "external_id": department.external_id,
        },
    )
    assert Department.objects.get(pk=department.pk).organization_id == demo.organization.pk


def test_campaign_page_shows_participation_with_small_groups_hidden(staff_client, demo):
    url = reverse("admin:assessments_campaign_change", args=[demo.open_campaign.pk])
    body = staff_client.get(url).content.decode()
    assert "Whole campaign" in body
    assert "Night Shift" in body
    # Dispatch has four people: fewer than k=5 invited, so its counts are hidden.
    dispatch = body.split("Dispatch", 1)[1].split("</tr>", 1)[0]
    assert "fewer than 5" in dispatch and "hidden" in dispatch


def test_invitation_pages_never_show_who_answered(staff_client, demo):
    invitation = Invitation.objects.filter(
        campaign=demo.closed_campaign, completed_on__isnull=False
    ).first()
    token = InvitationToken.objects.create(
        invitation=invitation, token_hash="0" * 64, issued_on=dt.date(2031, 5, 4)
    )
    listing = staff_client.get(reverse("admin:assessments_invitation_changelist")).content.decode()
    page = staff_client.get(
        reverse("admin:assessments_invitation_change", args=[invitation.pk])
    ).content.decode()
    for body in (listing, page):
        assert "completed" not in body.lower() and "Completed on" not in body
        assert "Reminders sent" not in body and "reminders_sent" not in body
        assert "2031" not in body  # the date a reminder link was issued
    assert token.pk


def test_run_pages_show_the_current_run_only_and_counts_only_when_published(staff_client, demo):
    current = ResultRun.objects.get(campaign=demo.closed_campaign, is_current=True)
    replaced = ResultRun.objects.create(
        organization=current.organization, campaign=current.campaign, status="done"
    )
    listing = staff_client.get(reverse("admin:results_resultrun_changelist")).content.decode()
    assert f">{current.pk}<" in listing and f">{replaced.pk}<" not in listing
    gone = staff_client.get(reverse("admin:results_resultrun_change", args=[replaced.pk]))
    assert gone.status_code == 302  # the admin's "doesn't exist" redirect
    page = staff_client.get(reverse("admin:results_resultrun_change", args=[current.pk]))
    body = page.content.decode()
    published = DomainResult.objects.get(
        run=current, domain_code="respondents", department__isnull=True
    ).n
    assert str(published) in body and "response_count" not in body


def test_a_run_below_k_shows_no_respondent_count(staff_client, organization, core_instrument):
    department = department_create(organization=organization, name="Tiny")
    campaign = CampaignFactory(organization=organization, instrument=core_instrument)
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.CLOSED, launched_at=timezone.now(), closed_at=timezone.now()
    )
    add_responses(campaign, department, 1, 3)
    run = result_run_execute(run_id=ResultRun.objects.create(
        organization=organization, campaign=campaign
    ).pk)  # fmt: skip
    assert run.status == "done", run.error
    body = staff_client.get(reverse("admin:results_resultrun_change", args=[run.pk])).content
    assert b"hidden (below k = 5" in body
    listing = staff_client.get(reverse("admin:results_resultrun_changelist")).content.decode()
    row = listing.split(f">{run.pk}<", 1)[1].split("</tr>", 1)[0]
    assert ">1<" not in row and "hidden" in row


def test_admin_pages_with_results_are_not_stored(staff_client, demo):
    run = ResultRun.objects.get(campaign=demo.closed_campaign, is_current=True)
    for url in (
        reverse("admin:results_resultrun_change", args=[run.pk]),
        reverse("admin:assessments_campaign_change", args=[demo.closed_campaign.pk]),
    ):
        assert "no-store" in staff_client.get(url)["Cache-Control"], url


def test_admin_renames_a_department_through_the_service(staff_client, demo):
    fleet = Department.objects.get(name="Fleet")
    sales = Department.objects.get(name="Sales")
    url = reverse("admin:accounts_department_change", args=[fleet.pk])
    form = {"organization": fleet.organization_id, "parent": fleet.parent_id or ""}
    staff_client.post(url, {**form, "name": "  Fleet and Depots ", "external_id": "FLT-2"})
    renamed = Department.objects.get(pk=fleet.pk)
    assert (renamed.name, renamed.external_id, renamed.path) == (
        "Fleet and Depots",
        "FLT-2",
        fleet.path,
    )
    # An HRIS id another department holds is refused at its field; nothing changes.
    page = staff_client.post(url, {**form, "name": "Fleet", "external_id": sales.external_id})
    assert page.status_code == 200
    assert sales.external_id in page.context["adminform"].form.errors["external_id"][0]
    assert Department.objects.get(pk=fleet.pk).name == "Fleet and Depots"


def _action_form(demo, **values) -> dict:
    department = Department.objects.get(name="Warehouse North")
    return {
        "campaign": demo.closed_campaign.pk,
        "department": department.pk,
        "domain_code": "demands",
        "title": "Plan the peak season rota with the team",
        "description": "",
        "owner": "Shift lead",
        "due_date": "",
        "status": "planned",
        **values,
    }


def test_admin_actions_are_written_by_the_services(staff_client, demo):
    from reports.models import Action

    add = reverse("admin:reports_action_add")
    before = Action.objects.count()
    # A domain the campaign's instrument does not have is refused next to its field.
    page = staff_client.post(add, _action_form(demo, domain_code="workload"))
    assert page.status_code == 200
    assert "not a domain of" in page.context["adminform"].form.errors["domain_code"][0]
    page = staff_client.post(add, _action_form(demo, owner="   "))
    assert "Name who carries the action out." in page.context["adminform"].form.errors["owner"]
    assert Action.objects.count() == before

    staff_client.post(add, _action_form(demo, title="  Peak season rota  "))
    action = Action.objects.latest("id")
    assert action.title == "Peak season rota"  # as the service stores it
    assert action.organization_id == demo.organization.pk
    change = reverse("admin:reports_action_change", args=[action.pk])
    page = staff_client.post(change, _action_form(demo, domain_code="nonsense"))
    assert "not a domain of" in page.context["adminform"].form.errors["domain_code"][0]
    staff_client.post(change, _action_form(demo, status="in_progress"))
    assert Action.objects.get(pk=action.pk).status == "in_progress"


def _user_form(user, membership, **inline) -> dict:
    return {
        "email": user.email,
        "full_name": user.full_name,
        "is_active": "on",
        "date_joined_0": user.date_joined.date().isoformat(),
        "date_joined_1": "08:00:00",
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "1",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
        "memberships-0-id": membership.pk,
        "memberships-0-user": user.pk,
        "memberships-0-organization": membership.organization_id,
        "memberships-0-role": membership.role,
        "memberships-0-scope_department": "",
        **{f"memberships-0-{key}": value for key, value in inline.items()},
    }


def test_admin_cannot_remove_or_demote_an_organisations_last_admin(staff_client, demo):
    from accounts.models import Membership
    from demo.seed import HR_EMAIL

    hr = User.objects.get(email=HR_EMAIL)
    membership = Membership.objects.get(user=hr, organization=demo.organization)
    assert membership.role == "admin"
    url = reverse("admin:accounts_user_change", args=[hr.pk])
    for change in ({"DELETE": "on"}, {"role": "viewer"}):
        page = staff_client.post(url, _user_form(hr, membership, **change))
        assert page.status_code == 200
        assert "last admin" in page.content.decode()
        assert Membership.objects.get(pk=membership.pk).role == "admin"
    # With a second admin, the first may step down; the service writes the change.
    second = User.objects.create_user("second.admin@northwind.example", "a-long-password-2")
    Membership.objects.create(user=second, organization=demo.organization, role="admin")
    page = staff_client.post(url, _user_form(hr, membership, role="analyst"))
    assert page.status_code == 302, page.content.decode()[:2000]
    assert Membership.objects.get(pk=membership.pk).role == "analyst"
