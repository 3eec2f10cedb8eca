"""Results in real Chromium: the overview, the heatmap with its subtrees opened from the
keyboard, a department's page and one area across departments, the reports page. Every page
is checked with axe-core (no serious or critical violation) and fits a phone."""

import pytest
from playwright.sync_api import expect

from accounts.models import User
from accounts.services import membership_grant
from tests.e2e.test_hr_browser import DESKTOP, PASSWORD, accessible, sign_in
from tests.reports.report_fixtures import build_scored_campaign

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scored(organization, core_instrument):
    scored = build_scored_campaign(core_instrument, organization=organization)
    user = User.objects.create_user("analyst@harbour.example", PASSWORD)
    membership_grant(user=user, organization=organization, role="analyst")
    return scored


def _pages(scored) -> dict[str, str]:
    org = f"/o/{scored.organization.slug}/campaigns/{scored.campaign.pk}"
    lighthouse = scored.departments["lighthouse"].pk
    return {
        "overview": f"{org}/results/",
        "heatmap": f"{org}/heatmap/",
        "department": f"{org}/results/departments/{lighthouse}/",
        "area": f"{org}/results/areas/demands/",
        "reports": f"{org}/reports/",
    }


def test_results_pages_pass_axe_and_subtrees_open_from_the_keyboard(
    live_server, new_context, scored
):
    page = new_context(**DESKTOP).new_page()
    sign_in(page, live_server.url, "analyst@harbour.example")
    pages = _pages(scored)
    for path in pages.values():
        page.goto(live_server.url + path)
        expect(page.locator("h1")).to_be_visible()
        accessible(page)
    # The heatmap, top level only; open Quayside Operations with the keyboard: htmx swaps the
    # rows in, the focus stays on the toggle, and the address can be shared.
    page.goto(live_server.url + pages["heatmap"] + "?open=none")
    quayside = scored.departments["quayside"]
    body = page.locator("#heatmap-body")
    expect(body).not_to_contain_text("Lighthouse Crew")
    toggle = page.locator(f"#toggle-{quayside.pk}")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.focus()
    page.keyboard.press("Enter")
    expect(body).to_contain_text("Lighthouse Crew")
    expect(page.locator(f"#toggle-{quayside.pk}")).to_have_attribute("aria-expanded", "true")
    expect(page.locator(f"#toggle-{quayside.pk}")).to_be_focused()
    assert f"open={quayside.pk}" in page.url
    accessible(page)
    # From the heatmap to the department, from there to one area.
    page.get_by_role("link", name="Lighthouse Crew").click()
    expect(page.locator("h1")).to_have_text("Lighthouse Crew")
    page.get_by_role("link", name="Demands").first.click()
    expect(page.locator("h1")).to_have_text("Demands")
    accessible(page)


def test_results_pages_fit_a_phone(live_server, new_context, scored):
    page = new_context().new_page()  # a phone
    sign_in(page, live_server.url, "analyst@harbour.example")
    for name, path in _pages(scored).items():
        page.goto(live_server.url + path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} is {overflow}px wider than the screen"
