"""The HR web app in real Chromium: sign in, set up and launch a campaign through the form,
watch participation change while someone answers in another browser; a manager sees their
subtree only. Every page visited is checked with axe-core: no serious or critical violation."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import User
from accounts.services import department_create, membership_grant
from assessments.models import Campaign, Invitation
from assessments.services import campaign_launch, invitation_token_issue, response_submit
from tests.assessments.survey_fixtures import full_answers
from tests.factories import CampaignFactory, EmployeeFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a-long-browser-password"
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "is_mobile": False, "has_touch": False}
AXE = Axe()


def accessible(page: Page) -> None:
    """No serious or critical axe-core violation on the page as it stands."""
    results = AXE.run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{page.url}: {bad}"


def sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login/")
    accessible(page)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def world(organization, core_instrument, settings):
    settings.PARTICIPATION_POLL_SECONDS = 1
    root = department_create(organization=organization, name="Harbour")
    quay = department_create(organization=organization, name="Quayside", parent=root)
    tower = department_create(organization=organization, name="Tower", parent=root)
    for department, people in ((quay, 8), (tower, 6)):
        for _ in range(people):
            EmployeeFactory(organization=organization, department=department)
    users = {}
    for role, scope in (("admin", None), ("manager", quay)):
        user = User.objects.create_user(f"{role}@harbour.example", PASSWORD)
        membership_grant(user=user, organization=organization, role=role, scope_department=scope)
        users[role] = user
    return {"organization": organization, "root": root, "quay": quay, "users": users}


@pytest.fixture
def harbour_check(world, core_instrument):
    """An open campaign that asked everyone in the harbour (launched the real way)."""
    now = timezone.now()
    campaign = CampaignFactory(
        organization=world["organization"],
        instrument=core_instrument,
        name="Harbour check",
        opens_at=now - timezone.timedelta(hours=1),
        closes_at=now + timezone.timedelta(days=7),
    )
    campaign.target_departments.set([world["root"]])
    campaign_launch(campaign=campaign)
    return campaign


def test_hr_sets_up_launches_and_watches_participation(live_server, new_context, world, tmp_path):
    base = live_server.url
    page = new_context(**DESKTOP).new_page()
    sign_in(page, base, "admin@harbour.example")
    expect(page.get_by_role("heading", name=world["organization"].name)).to_be_visible()
    accessible(page)

    # A new team arrives through the import: preview first, then apply.
    header = "kind,external_id,name,parent_external_id,email,department_external_id,language\n"
    rows = "department,PIER,Pier,,,,\n" + "".join(
        f"employee,P{n},,,pier{n}@harbour.example,PIER,en\n" for n in range(4)
    )
    csv_file = tmp_path / "pier.csv"
    csv_file.write_text(header + rows)
    page.get_by_role("link", name="People and departments").click()
    accessible(page)
    page.get_by_role("link", name="Import and export").click()
    accessible(page)
    page.get_by_label("File", exact=True).set_input_files(csv_file)
    page.get_by_role("button", name="Check the file").click()
    expect(page.get_by_role("heading", name="Employees created: 4")).to_be_visible()
    accessible(page)
    page.get_by_role("button", name="Apply the import").click()
    expect(page.get_by_text("The import is done.")).to_be_visible()

    page.get_by_role("link", name="Campaigns").click()
    accessible(page)
    page.get_by_role("link", name="New campaign").click()
    accessible(page)
    # The imported team is offered with its headcount (it is not asked this time).
    expect(page.get_by_label(re.compile(r"^Pier \(4\)"))).to_be_visible()
    page.get_by_label("Name").fill("Harbour check")
    page.get_by_label("Questionnaire").select_option(label="plimsoll-core v1")
    page.get_by_label(re.compile(r"^Harbour \(14\)")).check()
    page.get_by_label("Closes").fill("2099-06-30T17:00")
    page.get_by_role("button", name="Save the draft").click()
    expect(page.get_by_text("14 active employees in the chosen departments")).to_be_visible()
    accessible(page)

    page.get_by_role("link", name="Launch…").click()
    expect(page.get_by_text("14 people will be invited")).to_be_visible()
    accessible(page)
    page.get_by_role("button", name="Launch and invite").click()
    expect(page.get_by_text("The campaign is open")).to_be_visible()
    campaign = Campaign.objects.get(name="Harbour check")
    assert campaign.invitations.count() == 14

    # Five answers already in: the whole campaign's count can be shown.
    answers = full_answers(campaign.instrument)
    for invitation in Invitation.objects.filter(campaign=campaign, department=world["quay"])[:5]:
        response_submit(invitation_id=invitation.pk, answers=answers)
    page.get_by_role("link", name="Participation by department").click()
    table = page.locator("#participation")
    whole = table.get_by_role("row", name=re.compile("^Whole campaign"))
    expect(whole).to_contain_text("5")
    accessible(page)

    # Someone answers in another browser; the open page updates by itself.
    someone = Invitation.objects.filter(campaign=campaign, completed_on__isnull=True).first()
    token = invitation_token_issue(invitation=someone)
    survey = new_context().new_page()
    survey.goto(f"{base}/s/{token}/")
    survey.get_by_role("link", name="Start the survey").click()
    for radio in survey.locator("input[type=radio][value='4']").all():
        radio.check()
    survey.get_by_role("button", name="Submit my answers").click()
    survey.wait_for_url(re.compile(r"/s/thanks/"))
    expect(whole).to_contain_text("6", timeout=15_000)
    assert page.url.endswith("/participation/")  # it was the page polling, not a reload


def test_a_manager_sees_their_subtree_only(live_server, new_context, world, harbour_check):
    page = new_context(**DESKTOP).new_page()
    sign_in(page, live_server.url, "manager@harbour.example")
    expect(page.get_by_text("Your part of the organisation: Quayside")).to_be_visible()
    accessible(page)
    page.get_by_role("link", name="Harbour check").first.click()
    rows = page.locator("#participation tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Quayside")
    expect(page.locator("#participation")).not_to_contain_text("Tower")
    accessible(page)
    # Pages for admins answer 403, not a glimpse.
    response = page.goto(f"{live_server.url}/o/{world['organization'].slug}/departments/")
    assert response.status == 403


def test_every_hr_page_fits_a_phone(live_server, new_context, world, harbour_check):
    """At 390 px wide nothing scrolls sideways but the wide tables inside their own box."""
    campaign = harbour_check
    page = new_context().new_page()  # a phone
    sign_in(page, live_server.url, "admin@harbour.example")
    org = f"{live_server.url}/o/{world['organization'].slug}"
    for path in (
        "/",
        "/campaigns/",
        "/campaigns/new/",
        f"/campaigns/{campaign.pk}/",
        f"/campaigns/{campaign.pk}/participation/",
        "/departments/",
        "/employees/",
        "/import/",
        "/users/",
        "/security/",
    ):
        page.goto(org + path)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        wide = page.evaluate(
            """() => [...document.querySelectorAll('body *')]
                .filter(e => !e.closest('.table-wrap')
                    && e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                .map(e => e.tagName + '.' + e.className + ' ' + (e.id || ''))
                .slice(0, 5)"""
        )
        assert overflow <= 0, f"{path} is {overflow}px wider than the screen: {wide}"
        accessible(page)
