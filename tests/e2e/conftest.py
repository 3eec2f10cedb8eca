"""Browser tests: Playwright's sync API drives the system's Debian chromium against live_server.

No browser is ever downloaded (never run `playwright install`): the tests use /usr/bin/chromium
from the `chromium` Debian package. Without it they fail, with a message saying so; they are
never skipped, because CI fails on skipped tests.
"""

import datetime as dt
import os
from dataclasses import dataclass

import pytest
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from assessments.models import Campaign, Invitation
from assessments.services import campaign_launch, invitation_token_issue
from tests.factories import CampaignFactory, DepartmentFactory, EmployeeFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A phone: the survey is mostly answered on one.
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "en-GB",
}
# Not the default 5: the intro must show the campaign's own k, not a constant.
MIN_GROUP_SIZE = 7

# Explicit waits only, generous enough for a loaded CI machine.
expect.set_options(timeout=10_000)


@pytest.fixture(scope="module")
def browser():
    """One chromium per test module; each test gets fresh contexts from `new_context`."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"The browser tests need Debian's chromium at {CHROMIUM}: "
            "install it with `apt-get install chromium` (never `playwright install`)."
        )
    # Playwright's sync API runs an asyncio event loop in this thread (in a greenlet) from
    # start() to stop(), so Django sees an async context here and raises SynchronousOnlyOperation
    # for every ORM call: the test's own setup and checks, and pytest-django's flush after each
    # transactional test. Nothing here runs concurrently with that loop on the same connection
    # (it only talks to the browser over a pipe; the live server answers in its own thread), so
    # the check is switched off, only while the browser is up, and restored afterwards so the
    # rest of the suite keeps Django's safety net.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_context(browser):
    """Make a fresh, phone-sized browser context (no cookies, no localStorage); closed after
    the test. A JavaScript error on any page fails the test."""
    contexts = []
    errors: list[str] = []

    def make(**options):
        context = browser.new_context(**{**PHONE, **options})
        context.set_default_timeout(15_000)
        context.on("weberror", lambda error: errors.append(str(error.error)))
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


@pytest.fixture(autouse=True)
def _no_rate_limit(settings):
    # Every request comes from 127.0.0.1 and CI's cache is a Redis shared by the whole run,
    # so other tests' survey requests in the same minute would count against these.
    settings.SURVEY_RATE_LIMIT = "100000/60"


@dataclass
class SurveyLink:
    campaign: Campaign
    invitation: Invitation
    url: str  # the personal link, with the plain token


@pytest.fixture
def survey_link(live_server, organization, core_instrument):
    """Make an open campaign (launched the real way) and one employee's personal link."""

    def make(*, language: str = "en") -> SurveyLink:
        department = DepartmentFactory(organization=organization, name="Warehouse North")
        employee = EmployeeFactory(
            organization=organization, department=department, language=language
        )
        EmployeeFactory(organization=organization, department=department)  # a colleague
        now = timezone.now()
        campaign = CampaignFactory(
            organization=organization,
            instrument=core_instrument,
            name="Workload check 2025",
            opens_at=now - dt.timedelta(hours=1),
            closes_at=now + dt.timedelta(days=7),
            languages=["en", "de"],
            min_group_size=MIN_GROUP_SIZE,
        )
        campaign.target_departments.set([department])
        campaign = campaign_launch(campaign=campaign)
        invitation = campaign.invitations.get(employee=employee)
        token = invitation_token_issue(invitation=invitation)
        return SurveyLink(campaign, invitation, f"{live_server.url}/s/{token}/")

    return make
