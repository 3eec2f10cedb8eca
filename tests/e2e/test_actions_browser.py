"""Creating an action in real Chromium with the keyboard only: from a result cell's link, the
suggested title is prefilled, the owner typed, the form saved with Enter; the list shows it."""

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from accounts.services import membership_grant
from reports.models import Action
from tests.e2e.test_hr_browser import DESKTOP, PASSWORD, accessible
from tests.reports.report_fixtures import build_scored_campaign

pytestmark = pytest.mark.django_db(transaction=True)


def _tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element is focused, as someone without a mouse would."""
    for _ in range(limit):
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"{selector} is not reachable with Tab")


def test_an_action_is_created_with_the_keyboard_only(live_server, new_context, core_instrument):
    scored = build_scored_campaign(core_instrument)
    organization = scored.organization
    user = User.objects.create_user("analyst@harbourside.example", PASSWORD)
    membership_grant(user=user, organization=organization, role="analyst")
    lighthouse = scored.departments["lighthouse"]
    page = new_context(**DESKTOP).new_page()

    page.goto(f"{live_server.url}/login/")
    _tab_to(page, "#id_username")
    page.keyboard.type(user.email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=organization.name)).to_be_visible()

    # Where a result cell's "add an action" link leads.
    page.goto(
        f"{live_server.url}/o/{organization.slug}/actions/new/"
        f"?campaign={scored.campaign.pk}&department={lighthouse.pk}&domain=demands"
    )
    accessible(page)
    title = page.get_by_label("Action", exact=True)
    suggested = title.input_value()
    assert suggested  # from the suggested actions for demands
    _tab_to(page, "#id_title")
    page.keyboard.press("End")
    page.keyboard.type(" (pilot)")
    _tab_to(page, "#id_owner")
    page.keyboard.type("Head of quay operations")
    _tab_to(page, "#id_description")
    page.keyboard.type("Agreed with the crew.")
    _tab_to(page, "button[type=submit].primary")
    page.keyboard.press("Enter")

    expect(page.get_by_role("heading", name="Actions", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=f"{suggested} (pilot)")).to_be_visible()
    accessible(page)
    action = Action.objects.get(title=f"{suggested} (pilot)")
    assert action.department == lighthouse
    assert action.domain_code == "demands"
    assert action.owner == "Head of quay operations"
    assert action.description == "Agreed with the crew."
