"""Attacks on the result drill-downs, the heatmap, the export, reports, action plans and their
effectiveness figures, and the home page's latest results.

Each test pins down a property beyond what test_results_drilldown, test_results_pages,
test_actions_pages, test_attacks and tests/reports/test_effectiveness cover; the first one
reproduces a problem an attack found (a follow-up out of a manager's scope named beside their
action), fixed since.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import openpyxl
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Department
from assessments.models import Campaign, Invitation
from assessments.selectors import campaigns
from assessments.services import campaign_create, campaign_launch, response_submit
from reports.models import Action, Report
from results.models import DomainResult, ResultRun
from results.scoring import OVERALL
from results.selectors import current_run
from results.services import campaign_close, result_run_execute
from tests.factories import MembershipFactory, UserFactory
from tests.reports.report_fixtures import (
    PLANNED_ACTION,
    SUPPRESSED,
    K,
    _answers,
    build_scored_campaign,
    shadow_figures,
)
from tests.web.people import sign_in_as

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(core_instrument):
    return build_scored_campaign(core_instrument)


def _login(client, scored, role, scope=None):
    return sign_in_as(client, scored.organization, role, scope)


def _url(scored, name, **kwargs):
    return reverse(f"web:{name}", kwargs={"org": scored.organization.slug, **kwargs})


def _rows(html: str) -> list[str]:
    """Row headers of the heatmap body, in order, as text."""
    body = html.split('id="heatmap-body"')[1].split("</tbody>")[0]
    names = re.findall(r'<th scope="row"[^>]*>(.*?)</th>', body, re.S)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", n)).strip() for n in names]


def _campaign_on(scored, instrument, keys, *, name, answering):
    """A closed, scored follow-up of `scored` that asked only the departments `keys` (by key);
    `answering[key]` people answer in each."""
    now = timezone.now()
    campaign = campaign_create(
        organization=scored.organization,
        name=name,
        instrument=instrument,
        target_departments=[scored.departments[key] for key in keys],
        languages=["en", "de"],
        opens_at=now - dt.timedelta(days=14),
        closes_at=now + dt.timedelta(days=7),
        min_group_size=K,
        previous_campaign=scored.campaign,
    )
    campaign = campaign_launch(campaign=campaign, now=now - dt.timedelta(days=14))
    items = list(instrument.items.order_by("position").values_list("code", flat=True))
    for key in keys:
        invitations = Invitation.objects.filter(
            campaign=campaign, department=scored.departments[key]
        ).order_by("pk")[: answering[key]]
        for respondent, invitation in enumerate(invitations):
            response_submit(
                invitation_id=invitation.pk, answers=_answers(key, respondent, 3, items)
            )
    campaign_close(campaign=campaign)
    run = result_run_execute(run_id=ResultRun.objects.get(campaign=campaign).pk)
    assert current_run(campaign=campaign) == run, run.error
    campaign.refresh_from_db()
    return campaign


# --- 2. Scope: the effectiveness check reaches campaigns outside a manager's scope -----------


def test_effectiveness_never_names_a_follow_up_the_manager_may_not_see(
    client, scored, core_instrument
):
    """reports.effectiveness once picked the follow-up of an action's campaign organisation-
    wide, without asking whether the reader may see that campaign. A follow-up that asked only
    Beacon Finance is not one of a Quayside manager's campaigns (its pages answer 404 to them),
    yet the actions list, the action page and the department page named it next to the
    Quayside action: the manager learnt that a campaign they were not part of exists, what it
    is called, and that it was scored; being the latest follow-up, it also hid any follow-up
    they could see. Now only follow-ups the reader may see count, and the latest one with a
    result for the action's department."""
    secret = "Confidential finance pulse"
    _campaign_on(scored, core_instrument, ["beacon"], name=secret, answering={"beacon": 7})
    quayside = scored.departments["quayside"]
    manager = _login(client, scored, "manager", scope=quayside)
    from accounts.permissions import access_for

    access = access_for(user=manager, organization=scored.organization)
    assert secret not in set(campaigns(access=access).values_list("name", flat=True))
    planned = scored.actions["planned"]
    pages = {
        "actions": client.get(_url(scored, "actions")),
        "action": client.get(_url(scored, "action_edit", pk=planned.pk)),
        "department": client.get(
            _url(scored, "results_department", pk=scored.campaign.pk, department=quayside.pk)
        ),
    }
    for page, response in pages.items():
        assert response.status_code == 200, page
        assert PLANNED_ACTION in response.content.decode(), page
        assert secret not in response.content.decode(), f"{page} names a campaign out of scope"


# --- 1. No figure of a hidden cell, whatever page or parameter ---------------------------------


def _numbers(html: str) -> set[str]:
    text = re.sub(r"<svg.*?</svg>", " ", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    return set(re.findall(r"[-+]?\d+(?:\.\d+)?", text))


def test_a_follow_up_shows_no_trend_or_effect_against_a_hidden_previous_cell(
    client, scored, core_instrument
):
    """Trend differencing over time: a follow-up in which Foghorn Unit (2 answers in the first
    campaign, hidden) now has 6 answers and is published. Its change since the previous
    campaign would be mean_now - mean_before, so together with the published mean it would
    give away the hidden mean of the first campaign. The scoring takes previous figures of
    published cells only, so no trend, no effectiveness figure and no interval appears for it:
    not in the heatmap's change view, not on the department page, the area page, the export
    or the action's effectiveness."""
    foghorn = scored.departments["foghorn"]
    action = Action.objects.create(
        organization=scored.organization,
        campaign=scored.campaign,
        department=foghorn,
        domain_code="demands",
        title="Quiet hours for the foghorn crew",
    )
    # Quayside with all its children answering: ask the subtree root, answer below it.
    now = timezone.now()
    campaign = campaign_create(
        organization=scored.organization,
        name="Autumn pulse",
        instrument=core_instrument,
        target_departments=[scored.departments["quayside"]],
        languages=["en", "de"],
        opens_at=now - dt.timedelta(days=14),
        closes_at=now + dt.timedelta(days=7),
        min_group_size=K,
        previous_campaign=scored.campaign,
    )
    campaign = campaign_launch(campaign=campaign, now=now - dt.timedelta(days=14))
    items = list(core_instrument.items.order_by("position").values_list("code", flat=True))
    for key, answering in (("quayside", 5), ("lighthouse", 6), ("foghorn", 6)):
        invitations = Invitation.objects.filter(
            campaign=campaign, department=scored.departments[key]
        ).order_by("pk")[:answering]
        for respondent, invitation in enumerate(invitations):
            response_submit(
                invitation_id=invitation.pk, answers=_answers(key, respondent, 2, items)
            )
    campaign_close(campaign=campaign)
    run = result_run_execute(run_id=ResultRun.objects.get(campaign=campaign).pk)
    assert current_run(campaign=campaign) == run, run.error
    follow_up = Campaign.objects.get(pk=campaign.pk)

    now_cells = DomainResult.objects.filter(run=run, department=foghorn, breakdown_attribute="")
    assert now_cells.filter(suppressed=False).exists(), "the set-up needs Foghorn published"
    assert all(c.trend_diff is None and c.trend_ci_low is None for c in now_cells)

    hidden_before = shadow_figures(scored).loc[foghorn.pk]
    _login(client, scored, "analyst")
    heat = client.get(_url(scored, "heatmap", pk=follow_up.pk), {"value": "change", "open": "all"})
    row = heat.content.decode().split('id="heatmap-body"')[1]
    foghorn_row = row.split(foghorn.name)[1].split("</tr>")[0]
    assert "+" not in foghorn_row and "*" not in foghorn_row
    page = client.get(
        _url(scored, "results_department", pk=follow_up.pk, department=foghorn.pk)
    ).content.decode()
    assert "no previous result" in page
    # The action's effect: no figure, since the first campaign's cell is hidden.
    effect = client.get(_url(scored, "action_edit", pk=action.pk)).content.decode()
    assert "effect-figures" not in effect
    for code, figures in hidden_before.iterrows():
        if code == OVERALL:
            continue
        assert f"{figures['mean']:.2f}" not in effect
    workbook = openpyxl.load_workbook(
        io.BytesIO(client.get(_url(scored, "results_export", pk=follow_up.pk)).content)
    )
    sheet = workbook.worksheets[0]
    header = [c.value for c in sheet[1]]
    for values in sheet.iter_rows(min_row=2, values_only=True):
        if values[1] == foghorn.name and not values[4]:
            assert values[header.index("Change")] is None


def test_the_manager_view_and_the_organisation_view_publish_the_same_cells(client, scored):
    """A manager's pages must not publish a cell (or a different figure) that the
    organisation's pages hide, or the two could be set against each other. For every page a
    Quayside manager reaches, each department figure equals the stored one, and the hidden
    departments stay hidden; the export's rows are the organisation's rows cut to the subtree."""
    quayside = scored.departments["quayside"]
    _login(client, scored, "analyst")
    whole = openpyxl.load_workbook(
        io.BytesIO(client.get(_url(scored, "results_export", pk=scored.campaign.pk)).content)
    ).worksheets[0]
    org_rows = {tuple(v[1:]) for v in whole.iter_rows(min_row=2, values_only=True)}
    _login(client, scored, "manager", scope=quayside)
    part = openpyxl.load_workbook(
        io.BytesIO(client.get(_url(scored, "results_export", pk=scored.campaign.pk)).content)
    ).worksheets[0]
    manager_rows = {tuple(v[1:]) for v in part.iter_rows(min_row=2, values_only=True)}
    assert manager_rows and manager_rows <= org_rows
    names = {v[0] for v in manager_rows}
    assert names == {"Quayside Operations", "Lighthouse Crew", "Foghorn Unit"}


# --- 4. Ordering tells nothing about hidden values ------------------------------------------


def test_priority_and_domain_sorts_put_hidden_departments_last_in_tree_order(client, scored):
    """The heatmap sorted by priority or by one area: if hidden departments were ordered by
    their (stored as None, but engine-computed) values, the order would rank them. They come
    last, in tree order, and changing the hidden answers changes nothing in the order."""
    _login(client, scored, "analyst")
    hidden = [
        d.name
        for d in sorted((scored.departments[key] for key in SUPPRESSED), key=lambda d: d.path)
    ]
    for sort in ("priority", "demands"):
        rows = _rows(
            client.get(
                _url(scored, "heatmap", pk=scored.campaign.pk), {"sort": sort}
            ).content.decode()
        )
        named = [r for r in rows if r in hidden]
        assert named == hidden, sort
        published_after = [r for r in rows[rows.index(hidden[0]) :] if r not in hidden]
        # Only the organisation's own row (no priority of a department) may follow.
        assert published_after in ([], ["Whole organisation"]), (sort, published_after)


# --- 2. A manager reaches nothing outside the subtree ---------------------------------------


def test_a_manager_cannot_widen_the_heatmap_export_or_action_pages(client, scored):
    """A Quayside manager names outside departments in every parameter they can: `?department=`
    and `?open=` of the heatmap, the department page, the action pages (`?department=` prefill,
    another department's action, a forged POST), and the effectiveness of an outside action.
    Nothing outside Quayside shows, and nothing is written."""
    quayside = scored.departments["quayside"]
    beacon = scored.departments["beacon"]
    compass = scored.departments["compass"]
    _login(client, scored, "manager", scope=quayside)
    outside = ["Beacon Finance", "Compass Sales", "Tiller Group", "Rudder Desk", "Buoy Depot",
               "Keel Works"]  # fmt: skip
    pk = scored.campaign.pk
    everything = ",".join(str(d.pk) for d in scored.departments.values())
    for params in (
        {"department": beacon.pk},
        {"department": compass.pk, "open": everything},
        {"open": everything},
        {"open": "all", "sort": "priority"},
        {"sort": "demands", "value": "change"},
    ):
        html = client.get(_url(scored, "heatmap", pk=pk), params).content.decode()
        body = html.split('id="heatmap-body"')[1].split("</tbody>")[0]
        assert not [name for name in outside if name in body], params
        assert "Whole organisation" not in body
    assert (
        client.get(_url(scored, "results_department", pk=pk, department=beacon.pk)).status_code
        == 404
    )
    for area in ("demands", "role"):
        html = client.get(_url(scored, "results_domain", pk=pk, domain=area)).content.decode()
        assert not [name for name in outside if name in html]
    assert client.get(_url(scored, "action_new"), {"department": beacon.pk}).status_code == 404
    outside_action = scored.actions["outside"]
    assert client.get(_url(scored, "action_edit", pk=outside_action.pk)).status_code == 404
    before = Action.objects.count()
    response = client.post(
        _url(scored, "action_edit", pk=outside_action.pk), {"title": "Forged", "status": "done"}
    )
    assert response.status_code == 404
    client.post(
        _url(scored, "action_new"),
        {"campaign": pk, "department": beacon.pk, "domain_code": "demands", "title": "Forged",
         "status": "planned"},
    )  # fmt: skip
    assert Action.objects.count() == before
    outside_action.refresh_from_db()
    assert outside_action.title != "Forged"
    listing = client.get(_url(scored, "actions"), {"department": beacon.pk}).content.decode()
    assert outside_action.title not in listing
    home = client.get(reverse("web:org_home", kwargs={"org": scored.organization.slug}))
    assert not [name for name in outside if name in home.content.decode()]


# --- 3. Read-only roles, CSRF ---------------------------------------------------------------


def test_the_action_and_report_posts_need_a_csrf_token(scored):
    """The existing CSRF sweep (test_attacks) lists no action or report POST: these are
    checked here. Without the token, creating or editing an action and requesting a report
    are refused with 403 and write nothing."""
    user = UserFactory()
    MembershipFactory(user=user, organization=scored.organization, role="analyst")
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    actions_before = list(Action.objects.values_list("pk", "title"))
    reports_before = Report.objects.count()
    posts = [
        (_url(scored, "action_new"), {
            "campaign": scored.campaign.pk, "department": scored.departments["beacon"].pk,
            "domain_code": "demands", "title": "Forged", "status": "planned"}),
        (_url(scored, "action_edit", pk=scored.actions["planned"].pk),
         {"title": "Forged", "status": "done"}),
        (_url(scored, "reports", pk=scored.campaign.pk),
         {"kind": "organisation", "language": "en"}),
    ]  # fmt: skip
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert list(Action.objects.values_list("pk", "title")) == actions_before
    assert Report.objects.count() == reports_before


@pytest.mark.parametrize("role", ["viewer", "representative"])
def test_read_only_roles_cannot_request_reports_or_see_action_links(client, scored, role):
    """A viewer or representative may read the reports list and the department page, but a
    POST to the reports page writes nothing, and the department page offers no action links."""
    _login(client, scored, role)
    before = Report.objects.count()
    response = client.post(
        _url(scored, "reports", pk=scored.campaign.pk), {"kind": "organisation", "language": "en"}
    )
    assert response.status_code in (403, 404)
    assert Report.objects.count() == before
    page = client.get(
        _url(
            scored, "results_department", pk=scored.campaign.pk,
            department=scored.departments["lighthouse"].pk,
        )
    ).content.decode()  # fmt: skip
    assert (
        "/actions/new/" not in page and "/actions/" + str(scored.actions["overdue"].pk) not in page
    )


# --- 4. Open campaigns ----------------------------------------------------------------------


def test_an_open_campaign_answers_no_result_page_and_prefills_no_band(
    client, scored, core_instrument
):
    """While a campaign is open every result output answers 404 (department, area, heatmap
    in each mode, export, reports status), and an action started on it gets a suggestion that
    does not depend on any cell."""
    now = timezone.now()
    campaign = campaign_create(
        organization=scored.organization,
        name="Running pulse",
        instrument=core_instrument,
        target_departments=[scored.departments["beacon"]],
        languages=["en"],
        opens_at=now - dt.timedelta(days=1),
        closes_at=now + dt.timedelta(days=7),
        min_group_size=K,
        previous_campaign=scored.campaign,
    )
    campaign = campaign_launch(campaign=campaign, now=now - dt.timedelta(days=1))
    items = list(core_instrument.items.order_by("position").values_list("code", flat=True))
    for respondent, invitation in enumerate(Invitation.objects.filter(campaign=campaign)[:7]):
        response_submit(invitation_id=invitation.pk, answers=_answers("b", respondent, 5, items))
    _login(client, scored, "analyst")
    beacon = scored.departments["beacon"]
    for name, kwargs, params in (
        ("results_department", {"department": beacon.pk}, {}),
        ("results_domain", {"domain": "demands"}, {}),
        ("heatmap", {}, {"value": "change"}),
        ("heatmap", {}, {"sort": "priority"}),
        ("results_export", {}, {}),
        ("reports_status", {}, {}),
    ):
        response = client.get(_url(scored, name, pk=campaign.pk, **kwargs), params)
        assert response.status_code == 404, name
    response = client.get(
        _url(scored, "action_new"),
        {"campaign": campaign.pk, "department": beacon.pk, "domain": "demands"},
    )
    assert response.status_code == 200
    assert "effect-figures" not in response.content.decode()


# --- 5. Reflected input ---------------------------------------------------------------------

HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def test_parameters_and_names_come_back_escaped(client, scored):
    """`?open=` is echoed into the heatmap's hidden field and its toggle links, `?title=` into
    the action form, department names into the toggles' labels, the drill-down, the area page
    and the action plan: none of them comes back as markup."""
    Department.objects.filter(pk=scored.departments["quayside"].pk).update(name=HOSTILE)
    Department.objects.filter(pk=scored.departments["foghorn"].pk).update(name=HOSTILE + "2")
    Action.objects.filter(pk=scored.actions["planned"].pk).update(title=HOSTILE, owner=HOSTILE)
    _login(client, scored, "analyst")
    pk = scored.campaign.pk
    quayside = scored.departments["quayside"]
    pages = [
        client.get(_url(scored, "heatmap", pk=pk), {"open": HOSTILE}),
        client.get(_url(scored, "heatmap", pk=pk), {"open": f"{quayside.pk},{HOSTILE}"}),
        client.get(_url(scored, "heatmap", pk=pk), {"open": "all", "sort": HOSTILE}),
        client.get(_url(scored, "heatmap", pk=pk), {"department": HOSTILE, "value": HOSTILE}),
        client.get(_url(scored, "results_department", pk=pk, department=quayside.pk)),
        client.get(_url(scored, "results_domain", pk=pk, domain="demands"), {"domain": HOSTILE}),
        client.get(
            _url(scored, "action_new"),
            {"campaign": pk, "department": quayside.pk, "domain": "demands", "title": HOSTILE},
        ),
        client.get(_url(scored, "action_new"), {"domain": HOSTILE}),
        client.get(_url(scored, "actions"), {"domain": HOSTILE, "page": HOSTILE}),
        client.get(_url(scored, "reports", pk=pk)),
    ]
    for response in pages:
        assert response.status_code in (200, 400), response.request
        html = response.content.decode()
        assert "<img src=x" not in html and "<script>alert" not in html, response.request
