"""Attacks on the HR web app: each test tries to learn, through the HR pages only, something
the product promises to hide, and passes when the product resists.

- tenancy: another organisation's slug or ids in every URL (pages, POST endpoints, the live
  fragment, import previews, the export, the delivery-failure list);
- a manager changing ids to reach another subtree;
- differencing participation counts: an attacker who knows the directory (who was invited
  where) and the suppression code (it is open source) enumerates every answered count that is
  consistent with what the pages show; no group may be pinned to 1..k-1 people who answered;
- who answered: delivery failures, failed counts, per-person data;
- whether an email has an account: sign-in, password reset, the invitation form, the users page;
- open redirects through `next`; CSRF and GET on state-changing views; `Cache-Control`;
- HTML injection through names, emails, campaign names, import files, the one-pass tables and
  the FastSelect widget;
- a viewer or a manager trying analyst and admin actions; the second factor.

Tests that fail show a product problem that is still open (see the report of issue 11's
review); they are kept so that the fix is checked.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import re
from html import unescape
from types import SimpleNamespace

import numpy as np
import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client
from django.urls import URLPattern, resolve, reverse
from django.utils import timezone

from accounts.directory import directory_import_preview, directory_template_csv
from accounts.models import (
    ApiKey,
    Department,
    DirectoryImport,
    Employee,
    Membership,
    Organization,
    OutboxEvent,
    SyncRun,
    User,
)
from accounts.permissions import access_for
from accounts.services import api_key_create, department_create, event_record, user_invite
from assessments.models import Campaign, DeliveryStatus, Invitation
from assessments.selectors import campaign_participation_counts
from assessments.services import campaign_launch, invitations_send_pending, response_submit
from reports.models import Action, Report, ReportStatus
from reports.services import action_create
from results.models import ResultRun, RunStatus
from results.scoring.disclosure import participation_disclosed
from results.selectors import ParticipationRow, campaign_participation, participation
from tests.assessments.survey_fixtures import full_answers
from tests.factories import (
    ActionFactory,
    CampaignFactory,
    EmployeeFactory,
    MembershipFactory,
    OrganizationFactory,
    UserFactory,
)
from web import urls as web_urls
from web.access import SESSION_KEY
from web.forms import FastSelect
from web.tables import department_rows, participation_rows
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.services import event_dispatch, webhook_endpoint_create

pytestmark = pytest.mark.django_db

K = 5
PASSWORD = "a-long-attack-password"


# --- Builders --------------------------------------------------------------------------------


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses everything (down, or rejecting the sender)."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")


REFUSING_BACKEND = f"{__name__}.RefusingBackend"


def _people(organization, department, count):
    return [EmployeeFactory(organization=organization, department=department) for _ in range(count)]


def _launch(organization, instrument, targets, *, name="Harbour check", k=K):
    now = timezone.now()
    campaign = CampaignFactory(
        organization=organization,
        instrument=instrument,
        name=name,
        min_group_size=k,
        opens_at=now - dt.timedelta(hours=1),
        closes_at=now + dt.timedelta(days=14),
    )
    campaign.target_departments.set(targets)
    campaign = campaign_launch(campaign=campaign)
    invitations_send_pending(campaign_id=campaign.pk)
    return campaign


def _answer(campaign, department, count):
    """`count` more people of `department` (itself, not below) answer."""
    answers = full_answers(campaign.instrument)
    waiting = Invitation.objects.filter(
        campaign=campaign, department=department, completed_on__isnull=True
    ).order_by("pk")[:count]
    done = list(waiting)
    assert len(done) == count
    for invitation in done:
        response_submit(invitation_id=invitation.pk, answers=answers)
    return done


def _member(organization, role, scope=None, **user_fields):
    user = UserFactory(**user_fields)
    MembershipFactory(user=user, organization=organization, role=role, scope_department=scope)
    return user


def _org_url(name, organization, **kwargs):
    slug = organization if isinstance(organization, str) else organization.slug
    return reverse(f"web:{name}", kwargs={"org": slug, **kwargs})


@pytest.fixture
def world(core_instrument, settings):
    """Harbourside: Harbour > Quayside (8 people), Tower (6); an open campaign on the whole
    tree (k=5) with every invitation delivered, a draft on Tower only, an import preview, the
    four roles (the manager looks after Quayside). Tidewater: another tenant with the same
    kinds of objects."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    org = OrganizationFactory(name="Harbourside", slug="harbourside")
    root = department_create(organization=org, name="Harbour", external_id="HARBOUR")
    quay = department_create(organization=org, name="Quayside", parent=root, external_id="QUAY")
    tower = department_create(organization=org, name="Tower", parent=root, external_id="TOWER")
    _people(org, quay, 8)
    _people(org, tower, 6)
    campaign = _launch(org, core_instrument, [root])
    tower_draft = CampaignFactory(organization=org, instrument=core_instrument, name="Tower pulse")
    tower_draft.target_departments.set([tower])
    users = {
        "admin": _member(org, "admin"),
        "analyst": _member(org, "analyst"),
        "manager": _member(org, "manager", quay),
        "viewer": _member(org, "viewer"),
    }
    member = MembershipFactory(organization=org, role="viewer")

    other = OrganizationFactory(name="Tidewater", slug="tidewater")
    docks = department_create(organization=other, name="Docks", external_id="DOCKS")
    _people(other, docks, 6)
    other_campaign = _launch(other, core_instrument, [docks], name="Tidewater check")
    other_admin = _member(other, "admin")
    other_member = MembershipFactory(organization=other, role="viewer")
    action = action_create(
        campaign=campaign, department=quay, domain_code="demands", title="Quay huddle", owner="Lead"
    )
    other_action = action_create(
        campaign=other_campaign,
        department=docks,
        domain_code="demands",
        title="Dock rota",
        owner="Dock lead",
    )

    def preview(organization):
        return directory_import_preview(
            organization=organization,
            data=directory_template_csv().encode(),
            filename="template.csv",
            mode="delta",
        )

    return SimpleNamespace(
        org=org,
        root=root,
        quay=quay,
        tower=tower,
        campaign=campaign,
        tower_draft=tower_draft,
        users=users,
        member=member,
        directory_import=preview(org),
        instrument=core_instrument,
        other=other,
        docks=docks,
        other_campaign=other_campaign,
        other_admin=other_admin,
        other_member=other_member,
        other_import=preview(other),
        action=action,
        other_action=other_action,
        api_key=_api_key(org, "Harbourside sync"),
        other_api_key=_api_key(other, "Tidewater sync"),
        webhook=_webhook(org, "https://hooks.harbourside.example.com/plimsoll"),
        other_webhook=_webhook(other, "https://hooks.tidewater.example.com/plimsoll"),
        sync_run=_sync_run(org),
        other_sync_run=_sync_run(other),
    )


def _sync_run(organization):
    """A sync run that waits for an admin's approval: the one page that applies rows."""
    return SyncRun.objects.create(
        organization=organization,
        mode="delta",
        status="awaiting_approval",
        payload={"departments": [{"external_id": "D-NEW", "name": "Annex"}], "employees": []},
        summary={"format": "json", "department_rows": 1, "employee_rows": 0},
        reasons=["This would change a lot."],
        requested_by_label="API key HRIS",
    )


def _api_key(organization, name):
    return api_key_create(organization=organization, name=name, scopes=["results:read"])[0]


def _webhook(organization, url):
    """An endpoint with one delivery (of an event these tests never cause, so nothing is
    ever sent from them)."""
    endpoint, _ = webhook_endpoint_create(
        organization=organization, url=url, events=["directory.sync.failed"]
    )
    event = event_record(organization=organization, type="directory.sync.failed", data={})
    event_dispatch(event_id=str(event.pk))
    return endpoint


def _objects(world, *, foreign: bool) -> dict[str, object]:
    if foreign:
        return {
            "department": world.docks,
            "import": world.other_import,
            "member": world.other_member,
            "campaign": world.other_campaign,
            "instrument": world.instrument,
            "action": world.other_action,
            "api_key": world.other_api_key,
            "webhook": world.other_webhook,
            "webhook_delivery": world.other_webhook.deliveries.get(),
            "sync_run": world.other_sync_run,
        }
    return {
        "department": world.quay,
        "import": world.directory_import,
        "member": world.member,
        "campaign": world.campaign,
        "instrument": world.instrument,
        "action": world.action,
        "api_key": world.api_key,
        "webhook": world.webhook,
        "webhook_delivery": world.webhook.deliveries.get(),
        "sync_run": world.sync_run,
    }


# Which kind of object each /o/<slug>/…/<pk>/ URL names. A new URL with a pk must be added
# here, or `_organization_urls` fails: every page gets the tenancy attacks.
PK_KIND = {
    "department": "department",
    "department_active": "department",
    "import_preview": "import",
    "import_apply": "import",
    "import_discard": "import",
    "member": "member",
    "member_remove": "member",
    "campaign": "campaign",
    "campaign_edit": "campaign",
    "campaign_launch": "campaign",
    "campaign_close": "campaign",
    "campaign_remind": "campaign",
    "participation": "campaign",
    "participation_live": "campaign",
    "retry_failed": "campaign",
    "delivery_failures": "campaign",
    "instrument": "instrument",
    # Pages another developer is adding (results of a closed campaign).
    "results": "campaign",
    "heatmap": "campaign",
    "results_export": "campaign",
    "results_department": "campaign",
    "results_domain": "campaign",
    "reports": "campaign",
    "reports_status": "campaign",
    "action_edit": "action",
    "api_key_revoke": "api_key",
    "webhook": "webhook",
    "webhook_rotate": "webhook",
    "webhook_ping": "webhook",
    "webhook_delete": "webhook",
    "webhook_deliveries": "webhook",
    "webhook_redeliver": "webhook_delivery",
    "sync_run": "sync_run",
    "sync_run_decide": "sync_run",
}

# Further URL arguments of a page, by the kind of object they name ("=": the value itself).
MORE_KIND = {
    "results_department": {"department": "department"},
    "results_domain": {"domain": "=demands"},
}


PREFIX_KIND = {
    "campaigns/": "campaign",
    "departments/": "department",
    "import/": "import",
    "users/": "member",
    "instruments/": "instrument",
    "actions/": "action",
    "api-keys/": "api_key",
    "webhooks/": "webhook",
}


def _organization_urls() -> list[tuple[str, bool]]:
    """(URL name, takes a pk) for every page under /o/<slug>/. A page with a pk that is not in
    PK_KIND yet is attacked with the kind its path suggests (and fails the test below)."""
    found = []
    for pattern in web_urls.organization_urls:
        assert isinstance(pattern, URLPattern)
        takes_pk = "<int:pk>" in str(pattern.pattern)
        if takes_pk and pattern.name not in PK_KIND:
            route = str(pattern.pattern)
            kind = next(k for prefix, k in PREFIX_KIND.items() if route.startswith(prefix))
            PK_KIND[pattern.name] = kind
            UNLISTED.add(pattern.name)
        found.append((pattern.name, takes_pk))
    return found


UNLISTED: set[str] = set()


def test_every_organisation_url_with_an_id_says_what_it_names():
    """A new page under /o/<slug>/ that takes an id gets a line in PK_KIND, so that every
    tenancy attack below runs against it with the right kind of object."""
    _organization_urls()
    assert not UNLISTED, sorted(UNLISTED)


def _url_for(name, takes_pk, slug, objects):
    kwargs = {"pk": objects[PK_KIND[name]].pk} if takes_pk else {}
    for argument, kind in MORE_KIND.get(name, {}).items():
        kwargs[argument] = kind[1:] if kind.startswith("=") else objects[kind].pk
    return _org_url(name, slug, **kwargs)


def _snapshot_other_tenant(world):
    return {
        "campaign": Campaign.objects.filter(pk=world.other_campaign.pk)
        .values_list("status", "reminder_round", "name")
        .get(),
        "member": Membership.objects.filter(pk=world.other_member.pk)
        .values_list("role", flat=True)
        .first(),
        "import": DirectoryImport.objects.filter(pk=world.other_import.pk)
        .values_list("status", flat=True)
        .get(),
        "department": Department.objects.filter(pk=world.docks.pk)
        .values_list("name", "is_active", "external_id", "parent_id")
        .get(),
        "invitations": sorted(
            Invitation.objects.filter(campaign=world.other_campaign).values_list(
                "delivery_status", "reminders_sent"
            )
        ),
        "second_factor": Organization.objects.get(pk=world.other.pk).require_second_factor,
        "action": Action.objects.filter(pk=world.other_action.pk)
        .values_list("title", "owner", "status", "due_date")
        .get(),
        "sync_run": SyncRun.objects.filter(pk=world.other_sync_run.pk)
        .values_list("status", "decided_at")
        .get(),
        "other_departments": Department.objects.filter(organization=world.other).count(),
        "api_key": ApiKey.objects.filter(pk=world.other_api_key.pk)
        .values_list("name", "revoked_at", "scopes", "expires_at")
        .get(),
        "webhook": WebhookEndpoint.objects.filter(pk=world.other_webhook.pk)
        .values_list("url", "events", "is_active", "secret", "previous_secret")
        .get(),
        "webhook_deliveries": sorted(
            WebhookDelivery.objects.filter(endpoint=world.other_webhook.pk).values_list(
                "pk", "status", "attempts", "next_attempt_at"
            )
        ),
        "outbox": OutboxEvent.objects.filter(organization=world.other).count(),
    }


# --- Tenancy: another organisation's slug or ids -------------------------------------------


@pytest.mark.parametrize("method", ["get", "post"])
def test_another_organisations_slug_answers_404_on_every_page(client, world, method):
    """An admin of Harbourside puts Tidewater's slug (and Tidewater's ids) in every URL, and a
    slug that does not exist: always 404, never a 403 that confirms the page, never data."""
    client.force_login(world.users["admin"])
    before = _snapshot_other_tenant(world)
    for name, takes_pk in _organization_urls():
        for slug, objects in (
            ("tidewater", _objects(world, foreign=True)),
            ("tidewater", _objects(world, foreign=False)),
            ("no-such-organisation", _objects(world, foreign=False)),
        ):
            url = _url_for(name, takes_pk, slug, objects)
            response = getattr(client, method)(url)
            # GET on a POST-only view answers 405 whatever the slug: it tells nothing.
            allowed = {404, 405} if method == "get" else {404}
            assert response.status_code in allowed, (method, url, response.status_code)
            assert b"Tidewater" not in response.content and b"Docks" not in response.content
    assert _snapshot_other_tenant(world) == before


@pytest.mark.parametrize("role", ["admin", "analyst", "manager", "viewer"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_own_slug_with_another_organisations_ids_never_reaches_them(client, world, role, method):
    """Our slug, Tidewater's ids (departments, imports, members, campaigns): 404 for a role
    that may use the page, 403 for one that may not; never 200 or a redirect that acted."""
    client.force_login(world.users[role])
    before = _snapshot_other_tenant(world)
    objects = _objects(world, foreign=True)
    for name, takes_pk in _organization_urls():
        if not takes_pk or PK_KIND[name] == "instrument":
            continue  # instruments are shared by every organisation
        url = _url_for(name, takes_pk, world.org, objects)
        response = getattr(client, method)(url)
        allowed = {403, 404, 405} if method == "get" else {403, 404}
        assert response.status_code in allowed, (role, method, url, response.status_code)
        for secret in (b"Tidewater", b"Docks", world.other_member.user.email.encode()):
            assert secret not in response.content, (url, secret)
    assert _snapshot_other_tenant(world) == before


def test_a_remembered_or_requested_organisation_never_opens_another_tenant(client, world):
    """The organisation lives in the URL; the session only remembers the last one, and a
    query parameter changes nothing."""
    client.force_login(world.users["admin"])
    session = client.session
    session[SESSION_KEY] = "tidewater"
    session.save()
    home = client.get(reverse("web:home"))
    assert home["Location"] == _org_url("org_home", world.org)
    for url in (
        _org_url("org_home", world.org) + "?org=tidewater&organization=tidewater",
        _org_url("employees", world.org) + f"?org=tidewater&department={world.docks.pk}",
        _org_url("directory_export", world.org) + "?org=tidewater",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode("utf-8-sig")
        assert "Tidewater" not in body and "Docks" not in body and "DOCKS" not in body


def test_the_export_holds_only_this_organisations_directory(client, world):
    client.force_login(world.users["admin"])
    export = client.get(_org_url("directory_export", world.org)).content.decode("utf-8-sig")
    mine = set(Employee.objects.filter(organization=world.org).values_list("email", flat=True))
    theirs = set(Employee.objects.filter(organization=world.other).values_list("email", flat=True))
    assert all(email in export for email in mine)
    assert not any(email in export for email in theirs)
    assert "DOCKS" not in export


def test_forms_refuse_another_organisations_departments_and_campaigns(client, world):
    """Ids of Tidewater's rows posted in our forms: refused, nothing written."""
    client.force_login(world.users["admin"])
    campaigns = Campaign.objects.count()
    page = client.post(
        _org_url("campaign_new", world.org),
        {
            "name": "Sneaky",
            "instrument": world.instrument.pk,
            "target_departments": [world.docks.pk],
            "languages": ["en"],
            "closes_at": "2099-06-30T17:00",
            "min_group_size": "5",
            "previous_campaign": world.other_campaign.pk,
        },
    )
    assert page.status_code == 400 and Campaign.objects.count() == campaigns
    page = client.post(
        _org_url("departments", world.org), {"name": "Annex", "parent": world.docks.pk}
    )
    assert page.status_code == 400 and not Department.objects.filter(name="Annex").exists()
    page = client.post(
        _org_url("member", world.org, pk=world.member.pk),
        {"role": "manager", "scope_department": world.docks.pk},
    )
    assert page.status_code == 400
    assert Membership.objects.get(pk=world.member.pk).role == "viewer"
    page = client.post(
        _org_url("users", world.org),
        {
            "email": "new.manager@example.test",
            "role": "manager",
            "scope_department": world.docks.pk,
        },
    )
    assert page.status_code == 400 and not User.objects.filter(email="new.manager@example.test")
    # A department filter naming Tidewater's department shows nothing of Tidewater.
    page = client.get(_org_url("employees", world.org), {"department": world.docks.pk})
    assert "DOCKS" not in page.content.decode()


# --- A manager changing ids ----------------------------------------------------------------


def test_a_manager_reaches_no_other_subtree_by_changing_ids(client, world, core_instrument):
    tower_only = _launch(world.org, core_instrument, [world.tower], name="Tower only")
    _answer(world.campaign, world.tower, 5)
    _answer(tower_only, world.tower, 5)
    client.force_login(world.users["manager"])
    for name in ("campaign", "participation", "participation_live"):
        for campaign in (tower_only, world.tower_draft):
            response = client.get(_org_url(name, world.org, pk=campaign.pk))
            assert response.status_code == 404, (name, campaign)
    for name in ("participation", "participation_live", "campaign", "org_home"):
        kwargs = {} if name == "org_home" else {"pk": world.campaign.pk}
        page = client.get(_org_url(name, world.org, **kwargs)).content.decode()
        assert "Tower" not in page, name
        assert "Whole campaign" not in page, name
        assert "of 14 invited" not in page and ">14<" not in page, name
    # Actions and pages for those who run campaigns: 403, whatever the id.
    for name in ("delivery_failures", "campaign_launch", "campaign_close", "campaign_edit"):
        for campaign in (tower_only, world.campaign):
            assert client.get(_org_url(name, world.org, pk=campaign.pk)).status_code == 403


# --- Differencing participation counts -----------------------------------------------------

NOT_SHOWN = "fewer than k invited"
HIDDEN = "hidden"


def _cells(html: str) -> dict[str, list[str]]:
    rows = re.findall(r"<tr>\s*<th scope=\"row\"[^>]*>(.*?)</th>(.*?)</tr>", html, re.S)
    return {
        re.sub(r"<[^>]+>", "", name).strip(): [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)
        ]
        for name, cells in rows
    }


def _observed(html: str, tree) -> dict[int, object]:
    """What one participation table shows per node of the campaign's frozen tree (the root is
    the whole campaign): an answered count, HIDDEN, or NOT_SHOWN. Nodes without a row are
    left out (nothing is learnt about them)."""
    cells = _cells(html)
    root = len(tree.ids)
    names = {root: "Whole campaign"} | {
        index: tree.departments[pk].name for index, pk in enumerate(tree.ids)
    }
    seen = {}
    for node, name in names.items():
        if name not in cells:
            continue
        row = cells[name]
        if row[0].startswith("fewer than"):
            seen[node] = NOT_SHOWN
        elif row[1] == "hidden":
            seen[node] = HIDDEN
        else:
            seen[node] = int(row[1])
    return seen


def _rolled(tree, direct: np.ndarray) -> np.ndarray:
    total = direct.astype(np.int64).copy()
    order = np.argsort(-np.array([*tree.depth, -1]), kind="stable")
    for node in order[:-1]:
        total[tree.parent[node]] += total[node]
    return total


class Attacker:
    """Someone who knows the directory (how many were invited directly in each department)
    and the disclosure rule, and reads participation tables over time: which answered counts
    are consistent with everything they saw?"""

    def __init__(self, campaign):
        counts = campaign_participation_counts(campaign=campaign)
        self.tree = counts.tree
        self.k = campaign.min_group_size
        self.invited_direct = counts.direct[0].astype(np.int64)
        self.invited = _rolled(self.tree, self.invited_direct)
        ranges = [range(int(n) + 1) for n in self.invited_direct]
        self.worlds = np.array(list(itertools.product(*ranges)), dtype=np.int64)
        self.alive = np.ones(len(self.worlds), dtype=bool)
        self.disclosed = np.zeros(len(self.invited), dtype=bool)  # as seen at the last moment

    def see(self, observations: list[dict[int, object]]) -> None:
        """The pages of one moment (several pages, the same answers). Counts only grow: a
        world is still possible if it could follow one possible at the moment before."""
        consistent = np.zeros(len(self.worlds), dtype=bool)
        disclosed = None
        for index, direct in enumerate(self.worlds):
            total = _rolled(self.tree, direct)
            shown = participation_disclosed(
                parent=self.tree.parent, invited=self.invited, answered=total, k=self.k,
                shown=self.disclosed,
            )  # fmt: skip
            if all(
                self._matches(seen, node, self.invited >= self.k, shown, total)
                for seen in observations
                for node in seen
            ):
                consistent[index] = True
                disclosed = shown if disclosed is None else disclosed | shown
        earlier = self.worlds[self.alive]
        reachable = np.array([bool((earlier <= world).all(axis=1).any()) for world in self.worlds])
        self.alive = consistent & reachable
        assert self.alive.any(), "nothing is consistent with the pages: the model is wrong"
        self.disclosed = disclosed

    def candidates(self, observations: list[dict[int, object]]) -> list[np.ndarray]:
        self.see(observations)
        return list(self.worlds[self.alive])

    @staticmethod
    def _matches(seen, node, invited_shown, completed_shown, total) -> bool:
        value = seen[node]
        if value == NOT_SHOWN:
            return not invited_shown[node]
        if value == HIDDEN:
            return bool(invited_shown[node]) and not completed_shown[node]
        return bool(invited_shown[node] and completed_shown[node]) and total[node] == value

    def pinned_small(self, candidates: list[np.ndarray]) -> dict[str, int]:
        """Groups (a department with everything below it, or the people attached directly to
        one) whose answered count every candidate agrees on, when it is 1..k-1 and not
        everyone in the group (a whole group answering shows in its rate, whatever the rule)."""
        assert candidates, "nothing is consistent with the pages: the model is wrong"
        names = {len(self.tree.ids): "whole campaign"} | {
            i: self.tree.departments[pk].name for i, pk in enumerate(self.tree.ids)
        }
        pinned = {}
        for node, name in names.items():
            if not self.invited[node]:
                continue
            totals = {int(_rolled(self.tree, c)[node]) for c in candidates}
            directs = {int(c[node]) for c in candidates}
            for label, values, cap in (
                (name, totals, self.invited[node]),
                (f"{name} (directly)", directs, self.invited_direct[node]),
            ):
                if len(values) == 1 and 0 < next(iter(values)) < min(self.k, cap):
                    pinned[label] = next(iter(values))
        return pinned


@pytest.fixture
def wide(core_instrument, settings):
    """Harbour (3 people directly) > Quayside (10) > Lighthouse (4); Harbour > Tower (6);
    an open campaign on everything, k=5; 7 answers in Quayside, 2 in Lighthouse, 2 in Tower,
    1 at Harbour itself."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    org = OrganizationFactory(name="Harbourside", slug="harbourside")
    root = department_create(organization=org, name="Harbour")
    quay = department_create(organization=org, name="Quayside", parent=root)
    light = department_create(organization=org, name="Lighthouse", parent=quay)
    tower = department_create(organization=org, name="Tower", parent=root)
    for department, people in ((root, 3), (quay, 10), (light, 4), (tower, 6)):
        _people(org, department, people)
    campaign = _launch(org, core_instrument, [root])
    for department, count in ((quay, 7), (light, 2), (tower, 2), (root, 1)):
        _answer(campaign, department, count)
    return SimpleNamespace(
        org=org,
        campaign=campaign,
        admin=_member(org, "admin"),
        analyst=_member(org, "analyst"),
        manager=_member(org, "manager", quay),
        tower_manager=_member(org, "manager", tower),
    )


def test_no_page_of_one_moment_pins_a_small_answered_count(client, wide):
    """Parent minus children, the whole campaign minus a subtree, a manager's view set against
    an admin's: nothing the pages show at one moment pins a group to 1..k-1 who answered."""
    attacker = Attacker(wide.campaign)
    observations = []
    for user in (wide.admin, wide.analyst, wide.manager, wide.tower_manager):
        client.force_login(user)
        for name in ("participation", "participation_live"):
            html = client.get(_org_url(name, wide.org, pk=wide.campaign.pk)).content.decode()
            observations.append(_observed(html, attacker.tree))
    candidates = attacker.candidates(observations)
    assert attacker.pinned_small(candidates) == {}


def test_watching_answers_arrive_pins_no_small_answered_count(client, core_instrument, settings):
    """Quayside (8) and Tower (6) under Harbour, k=5; HR reloads the participation page after
    every answer. Five answers in Quayside, then one in Tower: a rule deciding from the counts
    of the moment showed Quayside 5 and Tower 0, then hid both, which (with the whole going up
    by one) pinned Tower to exactly 1. Groups once shown stay shown, and a group is shown only
    once what is already shown makes k certain on both sides of the cut."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    org = OrganizationFactory(name="Quiet Harbour", slug="quiet-harbour")
    root = department_create(organization=org, name="Harbour")
    quay = department_create(organization=org, name="Quayside", parent=root)
    tower = department_create(organization=org, name="Tower", parent=root)
    _people(org, quay, 8)
    _people(org, tower, 6)
    campaign = _launch(org, core_instrument, [root])
    client.force_login(_member(org, "admin"))
    attacker = Attacker(campaign)
    url = _org_url("participation", org, pk=campaign.pk)
    for department in [quay] * 5 + [tower] + [quay] * 3 + [tower] * 4:
        _answer(campaign, department, 1)
        html = client.get(url).content.decode()
        candidates = attacker.candidates([_observed(html, attacker.tree)])
        assert attacker.pinned_small(candidates) == {}, html
    # 8 + 5 answered: 5 certain on each side, so both are shown now, and stay shown.
    rows = {row.department and row.department.name: row for row in campaign_participation(
        campaign=campaign)}  # fmt: skip
    assert (rows["Quayside"].completed, rows["Tower"].completed) == (8, 5)


def test_pages_show_no_count_the_participation_selector_does_not_allow(client, wide):
    """The home card, the campaign page, the participation page and the live fragment show,
    for each persona, only the selector's figures (the widest row on home and campaign)."""
    for user in (wide.admin, wide.manager, wide.tower_manager):
        client.force_login(user)
        access = access_for(user=user, organization=wide.org)
        rows = participation(access=access, campaign=wide.campaign)
        widest = min(rows, key=lambda row: row.depth)
        allowed = {str(row.completed) for row in rows if row.completed is not None}
        allowed |= {str(row.invited) for row in rows if row.invited is not None}
        for name in ("participation", "participation_live"):
            html = client.get(_org_url(name, wide.org, pk=wide.campaign.pk)).content.decode()
            for cells in _cells(html).values():
                numbers = [c for c in cells[:2] if c.isdigit()]
                assert set(numbers) <= allowed, (user, name, cells)
        for name, kwargs in (("org_home", {}), ("campaign", {"pk": wide.campaign.pk})):
            html = client.get(_org_url(name, wide.org, **kwargs)).content.decode()
            shown = re.findall(r"(\d+) of (\d+) invited", html)
            if widest.completed is None:
                assert shown == [], (user, name, shown)
            else:
                assert set(shown) == {(str(widest.completed), str(widest.invited))}, (user, name)


def test_the_failed_delivery_count_does_not_reveal_a_hidden_answered_count(
    client, world, reminded_while_mail_was_down
):
    """14 invited, 3 answered (all in Tower): the whole campaign's answered count is hidden.
    The number of failed deliveries shown beside it must not give it back by subtraction.

    PRODUCT PROBLEM (fails today): a failed *reminder* marks the invitation as a failed
    delivery, and reminders go only to those who have not answered; the page then says "11
    invitations could not be delivered" next to "14 invited": 3 answered."""
    client.force_login(world.users["admin"])
    html = client.get(_org_url("participation", world.org, pk=world.campaign.pk)).content.decode()
    whole = _cells(html)["Whole campaign"]
    assert whole[1] == "hidden"
    shown = re.search(r"(\d+) invitations? could not be delivered", html)
    failed = int(shown.group(1)) if shown else 0
    assert int(whole[0]) - failed != len(reminded_while_mail_was_down.answered), html
    home = client.get(_org_url("org_home", world.org)).content.decode()
    shown = re.search(r"(\d+) invitations? could not be delivered", home)
    failed = int(shown.group(1)) if shown else 0
    assert 14 - failed != len(reminded_while_mail_was_down.answered)


def test_the_delivery_failure_list_does_not_tell_who_answered(
    client, world, reminded_while_mail_was_down
):
    """Everyone's invitation went through; the list of failed addresses must not split the
    invitees by whether they answered.

    PRODUCT PROBLEM (fails today): the list shows exactly the people whose reminder failed,
    i.e. everyone who had not answered, by email; whoever is missing from it answered."""
    client.force_login(world.users["admin"])
    html = client.get(
        _org_url("delivery_failures", world.org, pk=world.campaign.pk)
    ).content.decode()
    people = reminded_while_mail_was_down
    listed = {email for email in people.waiting | people.answered if email in html}
    singled_out = listed & people.waiting
    assert not (singled_out and not listed & people.answered), sorted(singled_out)


@pytest.fixture
def reminded_while_mail_was_down(client, world, settings, django_capture_on_commit_callbacks):
    """Every invitation was delivered; 3 people in Tower answer; the mail server goes down;
    an analyst presses "remind now" (the reminders fail for everyone who has not answered)."""
    respondents = _answer(world.campaign, world.tower, 3)
    settings.EMAIL_BACKEND = REFUSING_BACKEND
    client.force_login(world.users["analyst"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_org_url("campaign_remind", world.org, pk=world.campaign.pk))
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    answered = {i.employee.email for i in respondents}
    everyone = set(
        Invitation.objects.filter(campaign=world.campaign).values_list("employee__email", flat=True)
    )
    return SimpleNamespace(answered=answered, waiting=everyone - answered)


def test_retrying_failed_deliveries_does_not_invite_someone_who_has_answered(
    client, world, django_capture_on_commit_callbacks
):
    """Invitations to Quayside failed; one person there answered anyway (with a link that
    reached them some other way). "Retry failed deliveries" sends a fresh invitation to the
    others only."""
    quay = Invitation.objects.filter(campaign=world.campaign, department=world.quay)
    quay.update(delivery_status=DeliveryStatus.FAILED, delivery_error="550 mailbox unavailable")
    answered = quay.filter(completed_on__isnull=True).first()
    response_submit(invitation_id=answered.pk, answers=full_answers(world.instrument))
    mail.outbox.clear()
    client.force_login(world.users["admin"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_org_url("retry_failed", world.org, pk=world.campaign.pk))
    sent_to = {address for message in mail.outbox for address in message.to}
    unanswered = quay.filter(completed_on__isnull=True).count()
    assert len(sent_to) == unanswered > 0
    assert answered.employee.email not in sent_to


def test_a_failed_reminder_leaves_no_trace_per_person(client, world, reminded_while_mail_was_down):
    """Reminders go only to those who have not answered, so a failed one is not recorded
    against the person (nor counted): the failure list and the count stay as they were."""
    assert not Invitation.objects.filter(
        campaign=world.campaign, delivery_status=DeliveryStatus.FAILED
    ).exists()
    client.force_login(world.users["admin"])
    page = client.get(_org_url("participation", world.org, pk=world.campaign.pk))
    assert "could not be delivered" not in page.content.decode()


def test_the_failure_list_is_for_admins_only_and_shows_no_counts(client, world):
    failed = Invitation.objects.filter(campaign=world.campaign, department=world.tower)[:2]
    Invitation.objects.filter(pk__in=[i.pk for i in failed]).update(
        delivery_status=DeliveryStatus.FAILED, delivery_error="550 mailbox unavailable"
    )
    _answer(world.campaign, world.quay, 5)
    url = _org_url("delivery_failures", world.org, pk=world.campaign.pk)
    for role in ("analyst", "manager", "viewer"):
        client.force_login(world.users[role])
        response = client.get(url)
        assert response.status_code == 403
        assert failed[0].employee.email.encode() not in response.content
    client.force_login(world.users["admin"])
    html = client.get(url).content.decode()
    table = html.split("<table>")[1].split("</table>")[0]
    assert "Tower" not in html and "Quayside" not in html
    assert not re.search(r"<td[^>]*>\s*\d+\s*</td>", table)  # no count beside the addresses
    # The analyst sees how many, never who.
    client.force_login(world.users["analyst"])
    html = client.get(_org_url("participation", world.org, pk=world.campaign.pk)).content.decode()
    assert "2 invitations could not be delivered" in html
    assert failed[0].employee.email not in html and "See the addresses" not in html


def test_no_hr_page_lists_people_next_to_participation(client, world):
    """The employee list, the export and a member's page carry no sign of who answered."""
    done = _answer(world.campaign, world.quay, 5)
    client.force_login(world.users["admin"])
    for url in (
        _org_url("employees", world.org) + "?active=all",
        _org_url("directory_export", world.org),
        _org_url("departments", world.org),
    ):
        body = client.get(url).content.decode("utf-8-sig").lower()
        for word in ("answered", "completed", "responded", str(dt.date.today().year) + "-"):
            assert word not in body, (url, word)
    assert done  # the five answered; nothing above says which


# --- Does this email have an account? ------------------------------------------------------


@pytest.fixture
def accounts(world):
    existing = User.objects.create_user("known@example.test", PASSWORD)
    MembershipFactory(user=existing, organization=world.other, role="analyst")
    inactive = User.objects.create_user("gone@example.test", PASSWORD)
    inactive.is_active = False
    inactive.save()
    invited = user_invite(organization=world.other, email="fresh@example.test", role="viewer").user
    return {"existing": existing, "inactive": inactive, "invited": invited}


def _without_tokens(page: str, *emails: str) -> str:
    page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)
    for email in emails:
        page = page.replace(email, "EMAIL")
    return page


def test_sign_in_answers_the_same_for_every_kind_of_account(client, accounts):
    emails = [
        "known@example.test",  # exists, wrong password
        "gone@example.test",  # deactivated, right password
        "fresh@example.test",  # invited, no password yet
        "nobody@example.test",  # no account
    ]
    pages = set()
    for email in emails:
        password = PASSWORD if email == "gone@example.test" else "not-the-password"
        response = client.post(reverse("web:login"), {"username": email, "password": password})
        assert response.status_code == 200
        pages.add(_without_tokens(response.content.decode(), email))
    assert len(pages) == 1


def test_the_lockout_answers_the_same_for_existing_and_unknown_accounts(client, accounts, settings):
    settings.AXES_FAILURE_LIMIT = 2
    pages = set()
    for email in ("known@example.test", "nobody@example.test", "fresh@example.test"):
        for _ in range(3):
            response = client.post(
                reverse("web:login"),
                {"username": email, "password": "wrong"},
                REMOTE_ADDR="203.0.113.50",
            )
        assert response.status_code == 429
        pages.add((_without_tokens(response.content.decode(), email), response["Retry-After"]))
    assert len(pages) == 1


def test_password_reset_answers_the_same_for_existing_and_unknown_accounts(client, accounts):
    answers = set()
    for email in ("known@example.test", "nobody@example.test", "gone@example.test"):
        response = client.post(reverse("web:password_reset"), {"email": email})
        answers.add((response.status_code, response["Location"]))
    assert answers == {(302, reverse("web:password_reset_done"))}


def test_an_invited_person_whose_link_expired_can_ask_for_a_new_one(client, accounts):
    """The first-password link lasts PASSWORD_RESET_TIMEOUT (3 days). Someone who missed it
    uses "Forgotten your password?" and gets a new link.

    PRODUCT PROBLEM (fails today): Django's reset form skips accounts without a usable
    password, and invited accounts have none until they choose one; the only way out is an
    admin removing and re-inviting them."""
    mail.outbox.clear()
    client.post(reverse("web:password_reset"), {"email": "fresh@example.test"})
    assert [m.to for m in mail.outbox] == [["fresh@example.test"]]


def test_the_invitation_form_does_not_tell_whether_an_account_exists(
    client, world, accounts, django_capture_on_commit_callbacks
):
    client.force_login(world.users["admin"])
    answers = []
    for email in ("known@example.test", "brand.new@example.test"):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                _org_url("users", world.org), {"email": email, "role": "viewer"}, follow=True
            )
        answers.append(_without_tokens(_messages(response), email))
    assert answers[0] == answers[1]


def _messages(response) -> str:
    found = re.search(r'<ul class="messages">(.*?)</ul>', response.content.decode(), re.S)
    return found.group(1) if found else ""


def test_the_users_page_does_not_reveal_an_account_used_elsewhere(
    client, world, accounts, django_capture_on_commit_callbacks
):
    """An admin of Harbourside invites two addresses, typing no name for either: one has an
    account in Tidewater (with a name, and sign-ins there), one is new. The users page must not
    tell them apart.

    PRODUCT PROBLEM (fails today): the row of the existing account shows its last sign-in
    date (in another organisation) where the new one says "invited, no password yet", and the
    name it was given elsewhere: an oracle for "does this email have a Plimsoll account", and
    a leak of another tenant's data."""
    existing = accounts["existing"]
    existing.full_name = "Kim from Tidewater"
    existing.last_login = timezone.now() - dt.timedelta(days=2)
    existing.save()
    client.force_login(world.users["admin"])
    for email in ("known@example.test", "brand.new@example.test"):
        with django_capture_on_commit_callbacks(execute=True):
            client.post(_org_url("users", world.org), {"email": email, "role": "viewer"})
    html = client.get(_org_url("users", world.org)).content.decode()
    rows = dict(re.findall(r"<th scope=\"row\">([^<]+)</th>(.*?)</tr>", html, re.S))

    def text(row, email):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", c)).replace(email, "X").strip()
                for c in cells]  # fmt: skip

    known = text(rows["known@example.test"], "known@example.test")
    new = text(rows["brand.new@example.test"], "brand.new@example.test")
    assert "Kim from Tidewater" not in html
    assert known == new


# --- Open redirects ------------------------------------------------------------------------

EVIL_NEXTS = [
    "https://evil.example/steal",
    "//evil.example/steal",
    "///evil.example/steal",
    "/\\evil.example/steal",
    "\\\\evil.example\\steal",
    "https:evil.example",
    " https://evil.example/",
    "\thttps://evil.example/",
    "javascript:alert(1)",
    "http://testserver@evil.example/",
]


def _local(location: str) -> bool:
    return (
        location.startswith("/")
        and not location.startswith("//")
        and not location.startswith("/\\")
        and "evil.example" not in location
    )


@pytest.mark.parametrize("target", EVIL_NEXTS)
def test_sign_in_never_sends_anyone_off_site(target):
    user = User.objects.create_user("ana@example.test", PASSWORD)
    client = Client()
    response = client.post(
        reverse("web:login"), {"username": user.email, "password": PASSWORD, "next": target}
    )
    assert response.status_code == 302 and _local(response["Location"]), response["Location"]
    # Already signed in: the sign-in page redirects at once, still never off site.
    again = client.get(reverse("web:login"), {"next": target})
    assert again.status_code == 302 and _local(again["Location"]), again["Location"]
    # Signing out and switching language with a `next`.
    switched = client.post("/i18n/setlang/", {"language": "de", "next": target})
    assert _local(switched["Location"]), switched["Location"]
    out = client.post(reverse("web:logout"), {"next": target})
    assert _local(out["Location"]), out["Location"]


@pytest.mark.parametrize("target", EVIL_NEXTS)
def test_the_second_factor_page_never_sends_anyone_off_site(client, world, target):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    admin = world.users["admin"]
    device = TOTPDevice.objects.create(user=admin, confirmed=True, name="phone")
    client.force_login(admin)
    page = client.get(reverse("web:two_factor"), {"next": target}).content.decode()
    # The code form carries the target on; it must already be a local one. (The language
    # switch repeats the whole URL, but set_language checks `next` itself.)
    form = r'<form method="post" class="stack".*?name="next" value="([^"]*)"'
    carried = re.search(form, page, re.S)
    assert carried and _local(unescape(carried.group(1))), carried
    code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"
    done = client.post(reverse("web:two_factor"), {"code": code, "next": target})
    assert done.status_code == 302 and _local(done["Location"]), done["Location"]
    # Verified now: the page redirects at once.
    again = client.get(reverse("web:two_factor"), {"next": target})
    assert again.status_code == 302 and _local(again["Location"]), again["Location"]


# --- CSRF and methods ----------------------------------------------------------------------


def _state(world):
    campaign = Campaign.objects.get(pk=world.campaign.pk)
    draft = Campaign.objects.get(pk=world.tower_draft.pk)
    return {
        "campaigns": Campaign.objects.count(),
        "campaign": (campaign.status, campaign.reminder_round, campaign.name),
        "draft": (draft.status, draft.name),
        "departments": sorted(
            Department.objects.values_list("pk", "name", "is_active", "external_id", "path")
        ),
        "memberships": sorted(Membership.objects.values_list("pk", "role", "scope_department")),
        "users": User.objects.count(),
        "imports": sorted(DirectoryImport.objects.values_list("pk", "status")),
        "invitations": sorted(
            Invitation.objects.values_list("pk", "delivery_status", "reminders_sent")
        ),
        "second_factor": sorted(Organization.objects.values_list("pk", "require_second_factor")),
        "employees": sorted(Employee.objects.values_list("pk", "email", "is_active")),
        "api_keys": sorted(ApiKey.objects.values_list("pk", "revoked_at")),
        "webhooks": sorted(
            WebhookEndpoint.objects.values_list("pk", "url", "events", "is_active", "secret")
        ),
        "webhook_deliveries": sorted(
            WebhookDelivery.objects.values_list("pk", "status", "attempts", "next_attempt_at")
        ),
        "outbox": OutboxEvent.objects.count(),
    }


def _posts(world):
    """Every state-changing request of the HR app, with data that would work with a token."""
    org = world.org
    csv = directory_template_csv().encode()
    return [
        (_org_url("departments", org), {"name": "Annex", "parent": world.root.pk}),
        (
            _org_url("department", org, pk=world.tower.pk),
            {"name": "Renamed", "parent": world.quay.pk, "external_id": "TOWER"},
        ),
        (_org_url("department_active", org, pk=world.tower.pk), {"active": "0"}),
        (
            _org_url("import", org),
            {"file": SimpleUploadedFile("d.csv", csv, "text/csv"), "mode": "full"},
        ),
        (_org_url("import_apply", org, pk=world.directory_import.pk), {"confirmed": "1"}),
        (_org_url("import_discard", org, pk=world.directory_import.pk), {}),
        (_org_url("users", org), {"email": "mallory@example.test", "role": "admin"}),
        (_org_url("member", org, pk=world.member.pk), {"role": "admin"}),
        (_org_url("member_remove", org, pk=world.member.pk), {}),
        (_org_url("security_save", org), {"require_second_factor": "1"}),
        (
            _org_url("api_keys", org),
            {
                "name": "Forged",
                "scopes": ["results:read"],
                "expires_at": (timezone.localdate() + dt.timedelta(days=300)).isoformat(),
            },
        ),
        (_org_url("api_key_revoke", org, pk=world.api_key.pk), {}),
        (
            _org_url("webhooks", org),
            {"url": "https://evil.example.com/x", "events": ["campaign.launched"]},
        ),
        (
            _org_url("webhook", org, pk=world.webhook.pk),
            {"url": "https://evil.example.com/x", "events": ["campaign.launched"]},
        ),
        (_org_url("webhook_rotate", org, pk=world.webhook.pk), {}),
        (_org_url("webhook_ping", org, pk=world.webhook.pk), {}),
        (_org_url("webhook_delete", org, pk=world.webhook.pk), {}),
        (_org_url("webhook_redeliver", org, pk=world.webhook.deliveries.get().pk), {}),
        (
            _org_url("campaign_new", org),
            {
                "name": "Forged",
                "instrument": world.instrument.pk,
                "target_departments": [world.root.pk],
                "languages": ["en"],
                "closes_at": "2099-06-30T17:00",
                "min_group_size": "5",
            },
        ),
        (
            _org_url("campaign_edit", org, pk=world.tower_draft.pk),
            {
                "name": "Forged",
                "instrument": world.instrument.pk,
                "target_departments": [world.tower.pk],
                "languages": ["en"],
                "closes_at": "2099-06-30T17:00",
                "min_group_size": "3",
            },
        ),
        (_org_url("campaign_launch", org, pk=world.tower_draft.pk), {}),
        (_org_url("campaign_close", org, pk=world.campaign.pk), {}),
        (_org_url("campaign_remind", org, pk=world.campaign.pk), {}),
        (_org_url("retry_failed", org, pk=world.campaign.pk), {}),
    ]


def test_every_state_changing_request_needs_a_csrf_token(world, django_capture_on_commit_callbacks):
    Invitation.objects.filter(campaign=world.campaign).update(delivery_status=DeliveryStatus.FAILED)
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["admin"])
    before = _state(world)
    with django_capture_on_commit_callbacks(execute=True):
        for url, data in _posts(world):
            response = client.post(url, data)
            assert response.status_code == 403, (url, response.status_code)
        for url, data in (
            (reverse("web:logout"), {}),
            ("/i18n/setlang/", {"language": "de", "next": "/"}),
            (reverse("web:two_factor"), {"code": "123456"}),
        ):
            assert client.post(url, data).status_code == 403, url
    assert _state(world) == before
    assert client.get(_org_url("org_home", world.org)).status_code == 200  # still signed in
    # Signed out: sign-in and password reset need the token too (no login CSRF).
    mail.outbox.clear()
    anonymous = Client(enforce_csrf_checks=True)
    for url, data in (
        (reverse("web:login"), {"username": "ana@example.test", "password": PASSWORD}),
        (reverse("web:password_reset"), {"email": world.users["admin"].email}),
    ):
        assert anonymous.post(url, data).status_code == 403, url
    assert mail.outbox == []


def test_a_csrf_token_from_the_page_is_accepted(world):
    """The check above is a real check: with the page's token the same request works."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["admin"])
    page = client.get(_org_url("departments", world.org)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(
        _org_url("departments", world.org),
        {"name": "Annex", "parent": world.root.pk, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302 and Department.objects.filter(name="Annex").exists()


def test_state_changing_views_refuse_get_or_change_nothing_on_it(
    client, world, django_capture_on_commit_callbacks
):
    Invitation.objects.filter(campaign=world.campaign).update(delivery_status=DeliveryStatus.FAILED)
    client.force_login(world.users["admin"])
    before = _state(world)
    post_only = {
        "department_active",
        "import_apply",
        "import_discard",
        "member_remove",
        "security_save",
        "api_key_revoke",
        "webhook_rotate",
        "webhook_ping",
        "webhook_delete",
        "webhook_redeliver",
        "campaign_remind",
        "retry_failed",
    }
    with django_capture_on_commit_callbacks(execute=True):
        for url, data in _posts(world):
            name = resolve(url).url_name
            response = client.get(url, {k: v for k, v in data.items() if isinstance(v, str)})
            if name in post_only:
                assert response.status_code == 405, (url, response.status_code)
            else:
                assert response.status_code == 200, (url, response.status_code)
        assert client.get(reverse("web:logout")).status_code == 405
    assert _state(world) == before


# --- Cache-Control -------------------------------------------------------------------------

NO_STORE_PAGES = [
    ("org_home", None),
    ("participation", "campaign"),
    ("participation_live", "campaign"),
    ("delivery_failures", "campaign"),
    ("campaign", "campaign"),
    ("campaign_launch", "draft"),
    ("campaign_new", None),
    ("campaign_edit", "draft"),
    ("employees", None),
    ("departments", None),
    ("department", "department"),
    ("users", None),
    ("api_keys", None),
    ("webhooks", None),
    ("webhook", "webhook"),
    ("webhook_deliveries", "webhook"),
    ("member", "member"),
    ("import", None),
    ("import_preview", "import"),
    ("directory_export", None),
]


@pytest.mark.parametrize(("name", "target"), NO_STORE_PAGES, ids=[n for n, _ in NO_STORE_PAGES])
def test_pages_with_participation_or_personal_data_are_never_stored(client, world, name, target):
    _answer(world.campaign, world.quay, 5)
    client.force_login(world.users["admin"])
    objects = {
        "campaign": world.campaign,
        "draft": world.tower_draft,
        "department": world.quay,
        "member": world.member,
        "import": world.directory_import,
        "webhook": world.webhook,
    }
    kwargs = {"pk": objects[target].pk} if target else {}
    response = client.get(_org_url(name, world.org, **kwargs))
    assert response.status_code == 200
    assert "no-store" in response.get("Cache-Control", ""), (name, response.get("Cache-Control"))
    # A form sent back with errors shows the same data: not stored either.
    if name == "users":
        bad = client.post(_org_url(name, world.org), {"email": "not an email", "role": "viewer"})
        assert bad.status_code == 400 and "no-store" in bad["Cache-Control"]


def test_the_second_factor_secret_and_password_links_are_never_stored(client, world):
    client.force_login(world.users["admin"])
    setup = client.get(reverse("web:two_factor"))
    assert "secret" in setup.content.decode() and "no-store" in setup["Cache-Control"]
    client.post(reverse("web:logout"))
    invited = user_invite(organization=world.org, email="new@example.test", role="viewer").user
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    uid = urlsafe_base64_encode(force_bytes(invited.pk))
    token = default_token_generator.make_token(invited)
    link = reverse("web:password_reset_confirm", kwargs={"uidb64": uid, "token": token})
    form = client.get(link, follow=True)
    assert form.status_code == 200 and "no-store" in form["Cache-Control"]


# --- HTML injection ------------------------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(2)>'
SVG = "<svg/onload=alert(3)>"


def _assert_no_markup_injected(html: str, where: str) -> None:
    assert "<script>alert" not in html, where
    assert "<img src=x" not in html, where
    assert "<svg/onload" not in html, where
    assert "<b>bold</b>" not in html, where
    # No inline script at all (the CSP forbids them; base.html loads two files).
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), where


@pytest.fixture
def hostile(core_instrument, settings):
    """Every name an HR user or an HRIS file controls carries markup."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    org = OrganizationFactory(name=f"Harbour {SCRIPT} Ltd", slug="hostile")
    root = department_create(organization=org, name=f"Harbour {ATTRIBUTE}", external_id=SVG)
    evil = department_create(organization=org, name=SCRIPT, parent=root, external_id=ATTRIBUTE)
    small = department_create(organization=org, name=f"<b>bold</b>{SVG}", parent=root)
    plain = department_create(organization=org, name="Plain", parent=root)
    _people(org, evil, 6)
    _people(org, small, 2)
    people = _people(org, plain, 6)
    Employee.objects.filter(pk=people[0].pk).update(
        email=f'"{SVG}"@example.test',
        attributes={"site": SCRIPT, "tenure_band": ATTRIBUTE},
    )
    campaign = _launch(org, core_instrument, [root], name=f"Check {ATTRIBUTE}")
    _answer(campaign, evil, 5)
    Invitation.objects.filter(campaign=campaign, employee=people[0]).update(
        delivery_status=DeliveryStatus.FAILED, delivery_error=f"550 {SCRIPT}"
    )
    draft = CampaignFactory(organization=org, instrument=core_instrument, name=SCRIPT)
    draft.target_departments.set([small, evil])
    admin = _member(org, "admin", full_name=SCRIPT)
    manager = _member(org, "manager", evil, full_name=ATTRIBUTE)
    member = MembershipFactory(
        organization=org, role="manager", scope_department=small, user=UserFactory(full_name=SVG)
    )
    ActionFactory(
        organization=org, campaign=campaign, department=evil, title=SCRIPT, owner=ATTRIBUTE
    )

    def csv_file(rows):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        columns = directory_template_csv().splitlines()[0].split(",")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(column, "") for column in columns])
        return out.getvalue().encode()

    upload = csv_file(
        [
            {"kind": "department", "external_id": "NEW1", "name": SCRIPT},
            {
                "kind": "department",
                "external_id": "NEW2",
                "name": ATTRIBUTE,
                "parent_external_id": f"NOPE{SVG}",
            },
            {
                "kind": "employee",
                "external_id": "E-9",
                "email": SVG,
                "department_external_id": "NEW1",
                "language": SCRIPT,
                "active": "true",
                "tenure_band": ATTRIBUTE,
            },
            {
                "kind": "employee",
                "external_id": ATTRIBUTE,
                "email": "ok@example.test",
                "department_external_id": "NEW1",
                "language": "en",
                "active": f"maybe{SVG}",
            },
        ]
    )
    bad_import = directory_import_preview(
        organization=org, data=upload, filename=f"{SCRIPT}.csv", mode="delta", user=admin
    )
    good_import = directory_import_preview(
        organization=org,
        data=csv_file(
            [
                {
                    "kind": "department",
                    "external_id": "NEW3",
                    "name": SCRIPT,
                    "parent_external_id": ATTRIBUTE,
                }
            ]
        ),
        filename=f"{ATTRIBUTE}.csv",
        mode="delta",
        user=admin,
    )
    webhook = _webhook(org, f"https://hooks.example.com/?q={SVG}")
    WebhookEndpoint.objects.filter(pk=webhook.pk).update(
        description=SCRIPT, is_active=False, disabled_reason=ATTRIBUTE
    )
    WebhookDelivery.objects.filter(endpoint=webhook).update(
        status="pending", attempts=1, last_status_code=500, last_error=f"HTTP 500 {SCRIPT}"
    )
    webhook.deliveries.get().attempt_log.create(
        status_code=500, error=f"HTTP 500 {SCRIPT}", response=f"<b>bold</b>{ATTRIBUTE}"
    )
    return SimpleNamespace(
        org=org,
        root=root,
        evil=evil,
        small=small,
        plain=plain,
        campaign=campaign,
        draft=draft,
        admin=admin,
        manager=manager,
        member=member,
        imports=(bad_import, good_import),
        upload=upload,
        webhook=webhook,
    )


def test_markup_in_names_emails_and_files_comes_out_escaped_on_every_page(client, hostile):
    org = hostile.org
    client.force_login(hostile.admin)
    pages = [
        _org_url("org_home", org),
        _org_url("departments", org),
        _org_url("department", org, pk=hostile.plain.pk),
        _org_url("department", org, pk=hostile.evil.pk),
        _org_url("employees", org) + "?active=all",
        _org_url("employees", org) + f"?department={hostile.evil.pk}&q=%3Cscript%3E",
        _org_url("users", org),
        _org_url("member", org, pk=hostile.member.pk),
        _org_url("campaigns", org),
        _org_url("campaign_new", org),
        _org_url("campaign", org, pk=hostile.draft.pk),
        _org_url("campaign_edit", org, pk=hostile.draft.pk),
        _org_url("campaign_launch", org, pk=hostile.draft.pk),
        _org_url("campaign", org, pk=hostile.campaign.pk),
        _org_url("campaign_close", org, pk=hostile.campaign.pk),
        _org_url("participation", org, pk=hostile.campaign.pk),
        _org_url("participation_live", org, pk=hostile.campaign.pk),
        _org_url("delivery_failures", org, pk=hostile.campaign.pk),
        _org_url("import", org),
        _org_url("import_preview", org, pk=hostile.imports[0].pk),
        _org_url("import_preview", org, pk=hostile.imports[1].pk),
        _org_url("security", org),
        reverse("web:organizations"),
        _org_url("webhooks", org),
        _org_url("webhook", org, pk=hostile.webhook.pk),
        _org_url("webhook_deliveries", org, pk=hostile.webhook.pk),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        _assert_no_markup_injected(response.content.decode(), url)
    # The values really are on the pages, escaped (so the test looks at the right places).
    participation_page = client.get(pages[15]).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in participation_page
    preview = client.get(pages[19]).content.decode()
    assert "&lt;svg/onload=alert(3)&gt;" in preview
    deliveries = client.get(pages[-1]).content.decode()
    assert "HTTP 500 &lt;script&gt;alert(1)&lt;/script&gt;" in deliveries
    assert "&lt;b&gt;bold&lt;/b&gt;&quot;&gt;&lt;img" in deliveries
    # Forms sent back with errors and the messages after a change.
    responses = [
        client.post(
            _org_url("campaign_new", org),
            {
                "name": SCRIPT,
                "instrument": hostile.campaign.instrument_id,
                "target_departments": [hostile.small.pk, hostile.evil.pk],
                "languages": ["en"],
                "closes_at": "2099-06-30T17:00",
                "reminder_days": SCRIPT,
                "min_group_size": "5",
            },
        ),
        client.post(
            _org_url("departments", org),
            {"name": ATTRIBUTE, "parent": hostile.evil.pk},
            follow=True,
        ),
        client.post(
            _org_url("users", org),
            {"email": "x@example.test", "full_name": SCRIPT, "role": "viewer"},
            follow=True,
        ),
        client.post(
            _org_url("import", org),
            {"file": SimpleUploadedFile(f"{SVG}.csv", hostile.upload, "text/csv"), "mode": "delta"},
            follow=True,
        ),
        client.post(
            _org_url("department", org, pk=hostile.plain.pk),
            {"name": SCRIPT, "parent": hostile.root.pk, "external_id": SVG},
            follow=True,
        ),
    ]
    for response in responses:
        assert response.status_code in (200, 400)
        _assert_no_markup_injected(response.content.decode(), response.request["PATH_INFO"])
    # The manager: their scope's name on home and on the list of organisations.
    client.force_login(hostile.manager)
    for url in (
        _org_url("org_home", org),
        _org_url("participation", org, pk=hostile.campaign.pk),
        reverse("web:organizations"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        _assert_no_markup_injected(response.content.decode(), url)


def test_the_one_pass_tables_escape_every_value():
    class FakeDepartment:
        def __init__(self, pk, name, external_id):
            self.pk, self.name, self.external_id = pk, name, external_id
            self.is_active, self.depth = True, 0

    evil = FakeDepartment(7, SCRIPT, ATTRIBUTE)
    rows = participation_rows(
        [
            (ParticipationRow(evil, 0, True, 9, 6), 0),
            (ParticipationRow(evil, 1, True, 9, None), 1),
            (ParticipationRow(evil, 1, False, None, None), 1),
        ],
        k=5,
    )
    _assert_no_markup_injected(str(rows), "participation_rows")
    assert rows.count("&lt;script&gt;") == 3
    headcount = SimpleNamespace(department=evil, direct=2, subtree=2)
    tree = department_rows([(headcount, 0)], organization_slug="o", usual_k=5)
    _assert_no_markup_injected(str(tree), "department_rows")
    assert "&quot;&gt;&lt;img" in tree and "&lt;script&gt;" in tree


def test_the_fast_select_escapes_names_values_labels_and_attributes():
    widget = FastSelect(attrs={"data-note": ATTRIBUTE, "aria-label": SCRIPT})
    widget.choices = [("", "—"), (ATTRIBUTE, SCRIPT), ("7", SVG), ("8", "<b>bold</b>")]
    html = str(widget.render(f"name{ATTRIBUTE}", ATTRIBUTE, attrs={"id": f"id{ATTRIBUTE}"}))
    _assert_no_markup_injected(html, "FastSelect")
    assert html.count("<option") == 4 and html.count("<select") == 1
    assert " selected>&lt;script&gt;" in html  # the chosen (markup) value is still selected


def test_the_csv_export_does_not_carry_formulas_into_a_spreadsheet(client, world):
    department_create(
        organization=world.org, name='=HYPERLINK("https://evil.example","x")', external_id="+X1"
    )
    EmployeeFactory(
        organization=world.org,
        department=world.quay,
        email="@SUM(1+1)@example.test",
        external_id="-E1",
        attributes={"site": "=cmd|' /C calc'!A0"},
    )
    client.force_login(world.users["admin"])
    export = client.get(_org_url("directory_export", world.org)).content.decode("utf-8-sig")
    for row in csv.reader(io.StringIO(export)):
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


# --- A viewer or a manager trying what they may not ----------------------------------------


@pytest.mark.parametrize("role", ["viewer", "manager"])
def test_viewers_and_managers_cannot_run_campaigns_or_manage_people(
    world, role, django_capture_on_commit_callbacks
):
    """With a valid CSRF token, each of these is refused with 403 and changes nothing."""
    Invitation.objects.filter(campaign=world.campaign).update(delivery_status=DeliveryStatus.FAILED)
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users[role])
    home = client.get(_org_url("org_home", world.org))
    token = home.cookies["csrftoken"].value if "csrftoken" in home.cookies else None
    if token is None:
        page = client.get(_org_url("campaigns", world.org)).content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    before = _state(world)
    with django_capture_on_commit_callbacks(execute=True):
        for url, data in _posts(world):
            response = client.post(url, {**data, "csrfmiddlewaretoken": token})
            assert response.status_code == 403, (role, url, response.status_code)
    assert _state(world) == before
    for name in ("delivery_failures", "campaign_launch", "campaign_close", "campaign_edit"):
        assert client.get(_org_url(name, world.org, pk=world.campaign.pk)).status_code == 403
    if role == "viewer":
        for name in ("participation", "participation_live"):
            response = client.get(_org_url(name, world.org, pk=world.campaign.pk))
            assert response.status_code == 403 and b"Quayside" not in response.content


# --- The second factor ---------------------------------------------------------------------


def test_every_organisation_page_asks_for_the_second_factor_when_required(client, world):
    world.org.require_second_factor = True
    world.org.save()
    client.force_login(world.users["admin"])
    for name, takes_pk in _organization_urls():
        url = _url_for(name, takes_pk, world.org, _objects(world, foreign=False))
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            if response.status_code == 405:  # GET on a POST-only view, before anything else
                continue
            assert response.status_code == 302, (method, url, response.status_code)
            assert response["Location"].startswith(reverse("web:two_factor")), url


def test_a_report_download_asks_for_the_second_factor_when_required(client, world, tmp_path):
    """An organisation requires a second factor of its admins and analysts; one of them signs
    in with the password alone. Results PDFs are the most sensitive thing in the app.

    PRODUCT PROBLEM (fails today): /reports/<pk>/download/ is not an org_view, checks only
    the membership, and streams the PDF without asking for the code."""
    run = ResultRun.objects.create(
        organization=world.org, campaign=world.campaign, status=RunStatus.DONE, is_current=True
    )
    report = Report.objects.create(
        organization=world.org, campaign=world.campaign, result_run=run, status=ReportStatus.DONE
    )
    report.file.save("organisation.pdf", ContentFile(b"%PDF-1.4 results"))
    world.org.require_second_factor = True
    world.org.save()
    client.force_login(world.users["analyst"])
    assert client.get(_org_url("org_home", world.org))["Location"].startswith(
        reverse("web:two_factor")
    )
    response = client.get(reverse("reports:download", args=[report.pk]))
    body = b"".join(response.streaming_content) if response.status_code == 200 else b""
    assert response.status_code == 302, (response.status_code, body[:20])
    assert response["Location"].startswith(reverse("web:two_factor"))


# --- Bugs found while reviewing ------------------------------------------------------------


@pytest.fixture
def plain_client(world):
    """A client that answers 500 like a server instead of raising the view's exception."""
    client = Client(raise_request_exception=False)
    client.force_login(world.users["admin"])
    return client


def test_a_refusal_quoting_an_hris_id_with_a_percent_sign_is_shown_not_a_crash(plain_client, world):
    """web.forms.add_service_errors formats every service message with `% params`, also when
    it has none: a refusal that quotes a department name or HRIS id with "%" breaks the page.

    PRODUCT PROBLEM (fails today): 500 (ValueError: unsupported format character) instead of
    400 with "External id 'SALES-100%' is already used by 'Sales 100%'." next to the field."""
    department_create(organization=world.org, name="Sales 100%", external_id="SALES-100%")
    page = plain_client.post(
        _org_url("department", world.org, pk=world.tower.pk),
        {"name": "Tower", "parent": world.root.pk, "external_id": "SALES-100%"},
    )
    assert page.status_code == 400, page.status_code
    assert "already used" in page.content.decode()


def test_a_refusal_quoting_an_email_with_a_percent_sign_is_shown_not_a_crash(plain_client, world):
    """ "a%b@example.test" is a valid address; inviting it a second time is refused with a
    message that quotes it.

    PRODUCT PROBLEM (fails today): 500 instead of 400 "… already has a role …"."""
    first = plain_client.post(
        _org_url("users", world.org), {"email": "a%b@example.test", "role": "viewer"}
    )
    assert first.status_code == 302
    again = plain_client.post(
        _org_url("users", world.org), {"email": "a%b@example.test", "role": "viewer"}
    )
    assert again.status_code == 400, again.status_code
    assert "already has a role" in again.content.decode()


def test_a_closed_campaigns_hidden_count_does_not_claim_too_few_were_invited(
    client, world, django_capture_on_commit_callbacks
):
    """After close, a group whose respondent count is suppressed comes back from the selector
    with shown=False, and the table then says "fewer than 5 invited: no counts" even where 6
    or 8 were invited: a false statement on the page that explains anonymity.

    PRODUCT PROBLEM (fails today): web/tables.participation_rows has one text for "fewer than k
    invited" and "suppressed after close" (results.selectors.participation sets shown=False
    for both)."""
    _answer(world.campaign, world.quay, 5)
    _answer(world.campaign, world.tower, 2)
    client.force_login(world.users["admin"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_org_url("campaign_close", world.org, pk=world.campaign.pk))
    assert ResultRun.objects.filter(campaign=world.campaign, is_current=True).exists()
    html = client.get(_org_url("participation", world.org, pk=world.campaign.pk)).content.decode()
    invited = {"Quayside": 8, "Tower": 6, "Harbour": 14, "Whole campaign": 14}
    cells = _cells(html)
    assert set(cells) == set(invited)
    wrong = {
        name: row[0]
        for name, row in cells.items()
        if row[0].startswith("fewer than") and invited[name] >= K
    }
    assert wrong == {}
