"""An admin approves a sync run the brake stopped, in real Chromium with the keyboard only:
from the home page's notice to the run's page (checked with axe-core), the box ticked with
Space, the run applied with Enter."""

import pytest
from playwright.sync_api import expect

from accounts.models import Employee, SyncRun, User
from accounts.services import department_create, membership_grant
from accounts.sync import sync_run_execute, sync_run_request
from tests.e2e.test_actions_browser import _tab_to
from tests.e2e.test_hr_browser import DESKTOP, PASSWORD, accessible
from tests.factories import EmployeeFactory, OrganizationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_stopped_sync_is_approved_with_the_keyboard(live_server, new_context, monkeypatch):
    monkeypatch.setattr("accounts.services._send_event", lambda event_id: None)
    monkeypatch.setattr("accounts.sync._send_run", lambda run_id: None)
    organization = OrganizationFactory(name="Harbourside")
    quay = department_create(organization=organization, name="Quay", external_id="D-QUAY")
    for n in range(10):
        EmployeeFactory(organization=organization, department=quay, external_id=f"E-{n}")
    kept = [
        {"external_id": e.external_id, "email": e.email, "department_external_id": "D-QUAY"}
        for e in Employee.objects.order_by("external_id")[:6]
    ]
    run = sync_run_request(
        organization=organization, mode="full", dry_run=False, departments=[], employees=kept,
        requested_by_label="API key HRIS",
    )  # fmt: skip
    assert sync_run_execute(run_id=run.pk).status == "awaiting_approval"
    user = User.objects.create_user("admin@harbourside.example", PASSWORD)
    membership_grant(user=user, organization=organization, role="admin")
    page = new_context(**DESKTOP).new_page()
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")

    expect(page.get_by_text(f"Sync run {run.pk} from API key HRIS waits")).to_be_visible()
    _tab_to(page, f"a[href$='/syncs/{run.pk}/']")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Sync run {run.pk}")).to_be_visible()
    expect(page.get_by_text("deactivate 4 of 10 active employees")).to_be_visible()
    accessible(page)
    _tab_to(page, "#confirmed")
    page.keyboard.press("Space")
    _tab_to(page, "button[value=approve]")
    page.keyboard.press("Enter")
    expect(page.get_by_text("The sync run was approved and applied.")).to_be_visible()
    accessible(page)
    assert SyncRun.objects.get(pk=run.pk).status == "applied"
    assert Employee.objects.filter(is_active=True).count() == 6
