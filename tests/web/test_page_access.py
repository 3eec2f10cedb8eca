"""Every HR page for every persona, from one table.

Each URL of the HR app has a line here saying what each persona gets: 200 (or 302 where the
page redirects), 403 where the role may not use it, 404 for another organisation's objects and
for outsiders, and signed-out visitors are sent to /login/. A URL added to web/urls.py without a
line here fails `test_every_url_has_a_line`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import openpyxl
import pytest
from django.urls import URLPattern, URLResolver, reverse

from accounts.directory import directory_import_preview, directory_template_csv
from accounts.models import SyncRun
from accounts.services import api_key_create, department_create, event_record
from reports.services import action_create
from tests.assessments.survey_fixtures import open_campaign
from tests.factories import (
    CampaignFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)
from tests.reports.report_fixtures import build_scored_campaign
from web import urls as web_urls
from webhooks.services import event_dispatch, webhook_endpoint_create

pytestmark = pytest.mark.django_db

PERSONAS = ("admin", "analyst", "manager", "viewer", "representative", "outsider", "anonymous")
LOGIN = "login"  # expected: a redirect to the sign-in page


@dataclass(frozen=True)
class Line:
    name: str
    expect: dict[str, int | str]  # persona → status, or LOGIN
    method: str = "get"
    target: str = "campaign"  # which object the URL names: campaign, foreign, hidden, none
    org: bool = True  # the URL lives under /o/<slug>/
    more: tuple[tuple[str, str], ...] = ()  # further URL arguments: (name, target or value)


def everyone(status, **overrides):
    """`status` for every member; an employee representative gets what a viewer gets unless
    the line says otherwise (they also read the audit trail)."""
    found = {"admin": status, "analyst": status, "manager": status, "viewer": status}
    found["representative"] = overrides.get("viewer", status)
    return {"outsider": 404, "anonymous": LOGIN, **found, **overrides}


DEPARTMENT = (("department", "closed_department"),)
DOMAIN = (("domain", "=demands"),)  # "=": the value itself

TABLE = [
    Line("org_home", everyone(200), target="none"),
    Line("departments", everyone(200, analyst=403, manager=403, viewer=403), target="none"),
    Line("department", everyone(200, analyst=403, manager=403, viewer=403), target="department"),
    Line(
        "department",
        everyone(404, analyst=403, manager=403, viewer=403),
        target="foreign_department",
    ),
    Line(
        "department_active",
        everyone(302, analyst=403, manager=403, viewer=403),
        method="post",
        target="department",
    ),
    Line("employees", everyone(200, analyst=403, manager=403, viewer=403), target="none"),
    Line("import", everyone(200, analyst=403, manager=403, viewer=403), target="none"),
    Line("import_template", everyone(200, analyst=403, manager=403, viewer=403), target="none"),
    Line("directory_export", everyone(200, analyst=403, manager=403, viewer=403), target="none"),
    Line("import_preview", everyone(200, analyst=403, manager=403, viewer=403), target="import"),
    Line(
        "import_preview",
        everyone(404, analyst=403, manager=403, viewer=403),
        target="foreign_import",
    ),
    Line(
        "import_discard",
        everyone(302, analyst=403, manager=403, viewer=403),
        method="post",
        target="import",
    ),
    Line(
        "import_apply",
        everyone(302, analyst=403, manager=403, viewer=403),
        method="post",
        target="import",
    ),
    Line("sync_runs", everyone(200, analyst=403, manager=403, viewer=403), target="none"),
    Line("sync_run", everyone(200, analyst=403, manager=403, viewer=403), target="sync_run"),
    Line(
        "sync_run", everyone(404, analyst=403, manager=403, viewer=403), target="foreign_sync_run"
    ),
    Line(
        "sync_run_decide",
        everyone(302, analyst=403, manager=403, viewer=403),
        method="post",
        target="sync_run",
    ),
    Line(
        "sync_run_decide",
        everyone(404, analyst=403, manager=403, viewer=403),
        method="post",
        target="foreign_sync_run",
    ),
    Line("users", everyone(200, analyst=403, manager=403, viewer=403), target="none"),
    Line("security", everyone(200, analyst=403, manager=403, viewer=403), target="none"),
    Line(
        "audit",
        everyone(200, analyst=403, manager=403, viewer=403, representative=200),
        target="none",
    ),
    Line(
        "security_save",
        everyone(302, analyst=403, manager=403, viewer=403),
        method="post",
        target="none",
    ),
    Line("member", everyone(200, analyst=403, manager=403, viewer=403), target="member"),
    Line(
        "member_remove",
        everyone(302, analyst=403, manager=403, viewer=403),
        method="post",
        target="member",
    ),
    Line("member", everyone(404, analyst=403, manager=403, viewer=403), target="foreign_member"),
    Line("api_keys", everyone(200, analyst=403, manager=403, viewer=403), target="none"),
    # An empty POST comes back with the form's errors.
    Line(
        "api_keys",
        everyone(400, analyst=403, manager=403, viewer=403),
        method="post",
        target="none",
    ),
    Line(
        "api_key_revoke",
        everyone(302, analyst=403, manager=403, viewer=403),
        method="post",
        target="api_key",
    ),
    Line(
        "api_key_revoke",
        everyone(404, analyst=403, manager=403, viewer=403),
        method="post",
        target="foreign_api_key",
    ),
    Line("webhooks", everyone(200, analyst=403, manager=403, viewer=403), target="none"),
    # An empty POST comes back with the form's errors.
    Line(
        "webhooks",
        everyone(400, analyst=403, manager=403, viewer=403),
        method="post",
        target="none",
    ),
    Line("webhook", everyone(200, analyst=403, manager=403, viewer=403), target="webhook"),
    Line(
        "webhook",
        everyone(400, analyst=403, manager=403, viewer=403),
        method="post",
        target="webhook",
    ),
    Line("webhook", everyone(404, analyst=403, manager=403, viewer=403), target="foreign_webhook"),
    Line(
        "webhook_deliveries",
        everyone(200, analyst=403, manager=403, viewer=403),
        target="webhook",
    ),
    Line(
        "webhook_deliveries",
        everyone(404, analyst=403, manager=403, viewer=403),
        target="foreign_webhook",
    ),
    # The rotated secret is shown in the answer to the POST.
    Line(
        "webhook_rotate",
        everyone(200, analyst=403, manager=403, viewer=403),
        method="post",
        target="webhook",
    ),
    Line(
        "webhook_ping",
        everyone(302, analyst=403, manager=403, viewer=403),
        method="post",
        target="webhook",
    ),
    Line(
        "webhook_delete",
        everyone(302, analyst=403, manager=403, viewer=403),
        method="post",
        target="webhook",
    ),
    Line(
        "webhook_redeliver",
        everyone(302, analyst=403, manager=403, viewer=403),
        method="post",
        target="webhook_delivery",
    ),
    *(
        Line(
            name,
            everyone(404, analyst=403, manager=403, viewer=403),
            method="post",
            target="foreign_webhook",
        )
        for name in ("webhook_rotate", "webhook_ping", "webhook_delete")
    ),
    Line(
        "webhook_redeliver",
        everyone(404, analyst=403, manager=403, viewer=403),
        method="post",
        target="foreign_webhook_delivery",
    ),
    Line("campaigns", everyone(200), target="none"),
    Line("campaign_new", everyone(200, manager=403, viewer=403), target="none"),
    Line("campaign", everyone(200)),
    Line("campaign", everyone(404), target="foreign"),
    Line("campaign", everyone(200, manager=404), target="hidden"),
    Line("campaign_edit", everyone(200, manager=403, viewer=403)),
    Line("campaign_edit", everyone(404, manager=403, viewer=403), target="foreign"),
    Line("campaign_launch", everyone(200, manager=403, viewer=403), target="hidden"),
    Line("campaign_launch", everyone(404, manager=403, viewer=403), target="foreign"),
    Line("campaign_close", everyone(200, manager=403, viewer=403)),
    Line("campaign_close", everyone(404, manager=403, viewer=403), target="foreign"),
    Line("campaign_remind", everyone(302, manager=403, viewer=403), method="post"),
    Line(
        "campaign_remind", everyone(404, manager=403, viewer=403), method="post", target="foreign"
    ),
    Line("instrument", everyone(200), target="instrument"),
    Line("actions", everyone(200), target="none"),
    Line("action_new", everyone(200, viewer=403), target="none"),
    Line("action_edit", everyone(200, viewer=403), target="action"),
    # An action outside the manager's subtree, and another organisation's.
    Line("action_edit", everyone(200, manager=404, viewer=403), target="outside_action"),
    Line("action_edit", everyone(404, viewer=403), target="foreign_action"),
    Line("results", everyone(200, manager=404), target="closed"),
    Line("heatmap", everyone(200, manager=404), target="closed"),
    # The Excel export: like the overview, for the roles that may export (not viewers).
    Line("results_export", everyone(200, manager=404, viewer=403), target="closed"),
    Line("results_department", everyone(200, manager=404), target="closed", more=DEPARTMENT),
    Line("results_domain", everyone(200, manager=404), target="closed", more=DOMAIN),
    # A department of another organisation, or one without results in the campaign.
    Line(
        "results_department",
        everyone(404),
        target="closed",
        more=(("department", "foreign_department"),),
    ),
    Line(
        "results_department", everyone(404), target="closed", more=(("department", "department"),)
    ),
    Line("results_domain", everyone(404), target="closed", more=(("domain", "=no-such-area"),)),
    Line("results_department", everyone(404), target="campaign", more=DEPARTMENT),
    Line("results_domain", everyone(404), target="foreign", more=DOMAIN),
    Line("results", everyone(404), target="campaign"),  # still open: no results at all
    Line("heatmap", everyone(404), target="campaign"),
    Line("results_export", everyone(404, viewer=403), target="campaign"),
    Line("results", everyone(404), target="foreign"),
    Line("heatmap", everyone(404), target="foreign"),
    Line("results_export", everyone(404, viewer=403), target="foreign"),
    # PDF reports: everyone who reads results sees the list; requesting is a POST (an empty one
    # comes back with the form's errors), refused to viewers.
    Line("reports", everyone(200, manager=404), target="closed"),
    Line("reports_status", everyone(200, manager=404), target="closed"),
    Line("reports", everyone(200, manager=404, viewer=403), method="post", target="closed"),
    Line("reports", everyone(404), target="campaign"),
    Line("reports_status", everyone(404), target="campaign"),
    Line("reports", everyone(404, viewer=403), method="post", target="campaign"),
    Line("reports", everyone(404), target="foreign"),
    Line("reports_status", everyone(404), target="foreign"),
    Line("reports", everyone(404, viewer=403), method="post", target="foreign"),
    Line("participation", everyone(200, viewer=403)),
    Line("participation_live", everyone(200, viewer=403)),
    Line("retry_failed", everyone(302, manager=403, viewer=403), method="post"),
    Line("delivery_failures", everyone(200, analyst=403, manager=403, viewer=403)),
    # Another organisation's campaign under our slug: nobody learns it exists.
    Line("participation", everyone(404, viewer=403), target="foreign"),
    Line("participation_live", everyone(404, viewer=403), target="foreign"),
    Line("retry_failed", everyone(404, manager=403, viewer=403), method="post", target="foreign"),
    Line(
        "delivery_failures", everyone(404, analyst=403, manager=403, viewer=403), target="foreign"
    ),
    # Our campaign that asked nobody in the manager's subtree.
    Line("participation", everyone(200, manager=404, viewer=403), target="hidden"),
    # Pages outside any organisation.
    Line("home", {**everyone(302), "outsider": 302}, target="none", org=False),
    Line("organizations", {**everyone(200), "outsider": 200}, target="none", org=False),
    # Confirming a sign-in (or setting up an app): for anyone signed in.
    Line("two_factor", {**everyone(200), "outsider": 200}, target="none", org=False),
]

# Pages anyone may open signed out: sign-in and password reset.
PUBLIC = {
    "login",
    "logout",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
}


def _names(patterns) -> set[str]:
    found = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            found |= _names(pattern.url_patterns)
        elif isinstance(pattern, URLPattern) and pattern.name:
            found.add(pattern.name)
    return found


def test_every_url_has_a_line():
    covered = {line.name for line in TABLE} | PUBLIC
    assert _names(web_urls.urlpatterns) - covered == set()


@pytest.fixture
def world(core_instrument):
    organization = OrganizationFactory(name="Harbourside")
    campaign = open_campaign(organization, core_instrument, people=6)
    warehouse = campaign.target_departments.get()
    finance = department_create(organization=organization, name="Finance")
    hidden = CampaignFactory(organization=organization, instrument=core_instrument)
    hidden.target_departments.set([finance])
    elsewhere = OrganizationFactory(name="Tidewater")
    foreign = CampaignFactory(organization=elsewhere, instrument=core_instrument)
    users = {}
    for role in ("admin", "analyst", "manager", "viewer", "representative"):
        user = UserFactory()
        MembershipFactory(
            user=user,
            organization=organization,
            role=role,
            scope_department=warehouse if role == "manager" else None,
        )
        users[role] = user
    scored = build_scored_campaign(core_instrument, organization=organization)
    users["outsider"] = UserFactory()
    MembershipFactory(user=users["outsider"], organization=elsewhere, role="admin")
    # Someone to change or remove: a viewer, so removing them leaves everything else as it is.
    member = MembershipFactory(organization=organization, role="viewer")
    foreign_member = MembershipFactory(organization=elsewhere, role="viewer")
    return {
        "organization": organization,
        "users": users,
        "targets": {
            "campaign": campaign,
            "foreign": foreign,
            "hidden": hidden,
            "member": member,
            "foreign_member": foreign_member,
            "instrument": core_instrument,
            "closed": scored.campaign,
            "closed_department": scored.departments["lighthouse"],
            "department": finance,
            "import": directory_import_preview(
                organization=organization,
                data=directory_template_csv().encode(),
                filename="template.csv",
                mode="delta",
            ),
            "foreign_import": directory_import_preview(
                organization=elsewhere,
                data=directory_template_csv().encode(),
                filename="template.csv",
                mode="delta",
            ),
            "foreign_department": department_create(organization=elsewhere, name="Docks"),
            "api_key": api_key_create(
                organization=organization, name="Harbourside sync", scopes=["results:read"]
            )[0],
            "foreign_api_key": api_key_create(
                organization=elsewhere, name="Tidewater sync", scopes=["results:read"]
            )[0],
            **_webhooks(organization, elsewhere),
            "sync_run": _sync_run(organization),
            "foreign_sync_run": _sync_run(elsewhere),
            "action": action_create(
                campaign=campaign,
                department=warehouse,
                domain_code="demands",
                title="Plan the loading shifts",
                owner="Warehouse lead",
            ),
            "outside_action": action_create(
                campaign=hidden,
                department=finance,
                domain_code="demands",
                title="Share the month-end load",
                owner="Finance lead",
            ),
            "foreign_action": action_create(
                campaign=foreign,
                department=department_create(organization=elsewhere, name="Quay"),
                domain_code="demands",
                title="Tidewater plan",
                owner="Tidewater lead",
            ),
        },
    }


def _sync_run(organization):
    """A sync run the brake stopped, waiting for an admin."""
    return SyncRun.objects.create(
        organization=organization,
        mode="full",
        status="awaiting_approval",
        payload={"departments": [], "employees": []},
        summary={"format": "json", "department_rows": 0, "employee_rows": 0},
        reasons=["This would deactivate 3 of 10 active employees."],
        requested_by_label="API key HRIS",
    )


def _webhooks(organization, elsewhere) -> dict:
    """An endpoint with one delivery in each organisation (never sent: no commit in tests)."""
    found = {}
    for prefix, owner in (("", organization), ("foreign_", elsewhere)):
        endpoint, _ = webhook_endpoint_create(
            organization=owner, url="https://hooks.example.com/plimsoll", events=["report.ready"]
        )
        event = event_record(organization=owner, type="report.ready", data={})
        event_dispatch(event_id=str(event.pk))
        found[f"{prefix}webhook"] = endpoint
        found[f"{prefix}webhook_delivery"] = endpoint.deliveries.get()
    return found


def _url(line: Line, world) -> str:
    kwargs = {}
    if line.org:
        kwargs["org"] = world["organization"].slug
    if line.target != "none":
        kwargs["pk"] = world["targets"][line.target].pk
    for name, target in line.more:
        kwargs[name] = target[1:] if target.startswith("=") else world["targets"][target].pk
    return reverse(f"web:{line.name}", kwargs=kwargs)


def _text(response) -> str:
    """What a page says: its HTML, or every cell of a spreadsheet."""
    if response["Content-Type"].startswith("application/vnd.openxmlformats"):
        workbook = openpyxl.load_workbook(io.BytesIO(response.content))
        return "\n".join(
            str(value)
            for sheet in workbook.worksheets
            for row in sheet.iter_rows(values_only=True)
            for value in row
            if value is not None
        )
    return response.content.decode()


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("line", TABLE, ids=lambda line: f"{line.name}-{line.target}")
def test_each_persona_gets_what_the_table_says(client, world, line, persona):
    if persona != "anonymous":
        client.force_login(world["users"][persona])
    url = _url(line, world)
    response = getattr(client, line.method)(url)
    expected = line.expect[persona]
    if expected == LOGIN:
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("web:login")), response["Location"]
        return
    assert response.status_code == expected, (url, persona, response.status_code)
    if expected == 200:
        # Never another tenant's data.
        other = "Harbourside" if persona == "outsider" else "Tidewater"
        assert other not in _text(response)


def test_public_pages_open_signed_out(client):
    for name in ("login", "password_reset", "password_reset_done", "password_reset_complete"):
        assert client.get(reverse(f"web:{name}")).status_code == 200, name
