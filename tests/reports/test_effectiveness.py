"""The effectiveness check: after a follow-up campaign on the same questionnaire is scored, each
action's department and domain shows before → after with the Welch interval and whether the change
is significant, in the selector, on the action list and in the PDF.

Two campaigns of report_fixtures: after "Spring pulse 2031", Lighthouse Crew agrees an action on
demands and answers two points lower on everything in the follow-up, so its demands fall
significantly; Beacon Finance, with an action on demands too, answers exactly as before (no
change at all). Foghorn Unit is hidden (fewer than k) in both campaigns.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from accounts.permissions import Access, access_for_organization
from reports.effectiveness import Verdict, actions_effectiveness
from reports.models import Action
from reports.rendering import render_report
from reports.services import action_create
from tests.factories import MembershipFactory, UserFactory
from tests.reports.pdf_tools import flat, pdf_text
from tests.reports.report_fixtures import (
    OUTSIDE_ACTION,
    OVERDUE_ACTION,
    build_scored_campaign,
)

pytestmark = pytest.mark.django_db

HIDDEN_ACTION = "Pair up on the fog watch"


@pytest.fixture
def two_campaigns(core_instrument):
    first = build_scored_campaign(core_instrument)
    first.actions["hidden"] = action_create(
        campaign=first.campaign,
        department=first.departments["foghorn"],
        domain_code="demands",
        title=HIDDEN_ACTION,
        owner="Watch lead",
    )
    follow_up = build_scored_campaign(
        core_instrument,
        follow_up_of=first,
        name="Autumn pulse 2031",
        shifts={"lighthouse": -2},
    )
    return first, follow_up


def _effects(first, access=None):
    access = access or access_for_organization(first.organization)
    rows = Action.objects.filter(campaign=first.campaign)
    found = actions_effectiveness(access=access, actions=rows)
    return {key: found.get(action.pk) for key, action in first.actions.items()}


def test_the_selector_tells_a_significant_improvement_from_no_change(two_campaigns):
    first, follow_up = two_campaigns
    effects = _effects(first)

    improved = effects["overdue"]  # Lighthouse Crew, demands
    assert improved.verdict == Verdict.IMPROVED
    assert improved.follow_up == follow_up.campaign
    assert improved.after.trend_significant is True
    assert improved.after.trend_diff < 0  # demands: higher is worse
    assert improved.after.trend_ci_high < 0
    assert improved.after.trend_diff == pytest.approx(improved.after.mean - improved.before.mean)
    assert improved.before.run_id == first.run.pk
    assert improved.after.run_id == follow_up.run.pk

    unchanged = effects["outside"]  # Beacon Finance, demands: the same answers again
    assert unchanged.verdict == Verdict.UNCHANGED
    assert unchanged.after.trend_diff == pytest.approx(0)
    assert unchanged.after.trend_ci_low < 0 < unchanged.after.trend_ci_high
    with translation.override("en"):  # labels follow the language of the page or report
        assert unchanged.label == "no significant change"


def test_a_hidden_cell_gives_no_figure(two_campaigns):
    first, _follow_up = two_campaigns
    hidden = _effects(first)["hidden"]
    assert hidden.verdict == Verdict.NOT_AVAILABLE
    assert hidden.before is None and hidden.after is None
    assert not hidden.has_figures
    with translation.override("en"):
        assert hidden.label.startswith("not available")


def test_without_a_follow_up_nothing_is_compared(core_instrument):
    first = build_scored_campaign(core_instrument)
    effects = _effects(first)
    assert {effect.verdict for effect in effects.values()} == {Verdict.NO_FOLLOW_UP}


def test_a_manager_reaches_only_their_subtree(two_campaigns):
    first, _follow_up = two_campaigns
    lighthouse = first.departments["lighthouse"]
    manager = Access(
        organization_id=first.organization.pk, role="manager", subtree_path=lighthouse.path
    )
    effects = _effects(first, access=manager)
    assert effects["overdue"].verdict == Verdict.IMPROVED
    # Beacon Finance lies outside: its cells never reach this manager, so for them there is no
    # follow-up of that department to compare with.
    assert effects["outside"].verdict == Verdict.NO_FOLLOW_UP
    assert effects["outside"].after is None and effects["outside"].before is None


def test_a_fixed_number_of_queries(two_campaigns):
    first, _follow_up = two_campaigns
    access = access_for_organization(first.organization)
    rows = list(Action.objects.filter(campaign=first.campaign))
    with CaptureQueriesContext(connection) as few:
        actions_effectiveness(access=access, actions=rows[:1])
    with CaptureQueriesContext(connection) as many:
        actions_effectiveness(access=access, actions=rows)
    assert len(many) == len(few) <= 5


def test_the_action_list_says_so(client, two_campaigns):
    first, _follow_up = two_campaigns
    user = UserFactory()
    MembershipFactory(user=user, organization=first.organization, role="analyst")
    client.force_login(user)
    url = reverse("web:actions", kwargs={"org": first.organization.slug})
    page = client.get(url).content.decode()
    rows = {row.split("</tr>")[0] for row in page.split("<tr>")}
    improved = next(row for row in rows if OVERDUE_ACTION in row)
    unchanged = next(row for row in rows if OUTSIDE_ACTION in row)
    hidden = next(row for row in rows if HIDDEN_ACTION in row)
    effects = _effects(first)
    assert "improved significantly" in improved
    after = effects["overdue"].after
    assert f"{after.trend_ci_low:.2f} … {after.trend_ci_high:.2f}" in improved
    assert f"{effects['overdue'].before.mean:.2f} → {after.mean:.2f}" in improved
    assert "no significant change" in unchanged
    assert "not available" in hidden
    assert "→" not in hidden and "interval" not in hidden
    # The follow-up's own actions have no follow-up yet.
    action_create(
        campaign=_follow_up.campaign,
        department=first.departments["beacon"],
        domain_code="control",
        title="Quarterly check-in",
        owner="Finance lead",
    )
    page = client.get(url + f"?campaign={_follow_up.campaign.pk}").content.decode()
    assert "Quarterly check-in" in page and "no follow-up yet" in page
    assert OVERDUE_ACTION not in page


def test_the_follow_up_report_says_so(two_campaigns):
    first, follow_up = two_campaigns
    effects = _effects(first)
    rendered = render_report(campaign=follow_up.campaign, language="en")
    text = pdf_text(rendered.pdf)
    assert "Actions from Spring pulse 2031 and what changed" in flat(text)

    def line_of(title: str) -> str:
        return next(line for line in text.splitlines() if title in line)

    improved = line_of(OVERDUE_ACTION)
    before, after = effects["overdue"].before, effects["overdue"].after
    assert "improved significantly" in improved
    assert f"{before.mean:.2f} → {after.mean:.2f}" in improved
    assert f"{after.trend_diff:.2f} ({after.trend_ci_low:.2f} …" in improved
    assert "no significant change" in line_of(OUTSIDE_ACTION)
    hidden = line_of(HIDDEN_ACTION)
    assert "not available" in hidden and "→" not in hidden
    # The first campaign's own report has no follow-up to show.
    first_report = render_report(campaign=first.campaign, language="en")
    assert "and what changed" not in first_report.html


def test_the_department_page_says_so(client, two_campaigns):
    """On the follow-up's page of each department, the previous campaign's actions show what
    changed: Lighthouse Crew improved significantly, Beacon Finance did not, Foghorn Unit is
    hidden and shows no figure."""
    first, follow_up = two_campaigns
    user = UserFactory()
    MembershipFactory(user=user, organization=first.organization, role="viewer")
    client.force_login(user)

    def plan(key):
        url = reverse(
            "web:results_department",
            kwargs={
                "org": first.organization.slug,
                "pk": follow_up.campaign.pk,
                "department": first.departments[key].pk,
            },
        )
        page = client.get(url).content.decode()
        return page.split('id="plan"')[1].split("</section>")[0]

    effects = _effects(first)
    improved = plan("lighthouse")
    assert OVERDUE_ACTION in improved and "improved significantly" in improved
    after = effects["overdue"].after
    assert f"{after.trend_ci_low:.2f} … {after.trend_ci_high:.2f}" in improved
    assert first.campaign.name in improved  # the action came from the previous campaign
    assert "no significant change" in plan("beacon")
    hidden = plan("foghorn")
    assert HIDDEN_ACTION in hidden and "not available" in hidden and "→" not in hidden
