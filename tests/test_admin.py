"""The admin works with the data model: every registered page opens for staff."""

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import Department, User
from assessments.demo import demo_seed
from assessments.models import Campaign, CampaignStatus

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
    root = client.get("/")
    assert root.status_code == 302 and root["Location"] == "/admin/"


def test_healthz_reports_database(client, db):
    page = client.get("/healthz")
    assert page.status_code == 200
    assert page.json() == {"status": "ok"}


def test_unknown_address_gets_the_plimsoll_not_found_page(client, db):
    page = client.get("/no-such-page/")
    assert page.status_code == 404
    body = page.content.decode()
    assert "Page not found" in body and 'lang="en"' in body
