"""Every role's permissions from the one table, and what each persona reaches through every
selector that takes an access.

`EXPECTED_PERMISSIONS` is the table written out by hand: it must equal
`accounts.permissions.ROLE_PERMISSIONS` exactly, so a change to what a role may do is a reviewed
change to this test too.

One world, built once for the module, is then read by every persona through every selector.
What each persona may get is worked out here from the department tree (parent links walked in
Python; cells, invitations, reports and actions read straight from their tables), never through
`visible_to`, paths or `Access.covers`:

- admin, analyst and viewer see the whole organisation: every cell, participation row, report
  and action (the viewer's participation is refused, the table gives it no VIEW_PARTICIPATION);
- the manager of Quayside Operations (the group root above it; Lighthouse Crew published and
  Foghorn Unit suppressed below it) gets the cells, participation rows, packs and actions of that
  subtree only, never a row of the whole organisation, and NotVisible for a department outside;
- a member of another organisation only, a superuser without a membership and a signed-out
  visitor get nothing at all: NotVisible, or None from `report_for_download`. The outsider's
  access in their own organisation reaches their own rows and none of ours.

The tree (k = 5, the people and answer counts of tests/reports/report_fixtures.py, under one
group root so that a manager has a department above them):

    Harbourside Group           shown
      Quayside Operations       shown      <- the manager's subtree
        Lighthouse Crew         shown
        Foghorn Unit            hidden
      Compass Sales             shown
        Tiller Group            hidden
        Rudder Desk             hidden
      Beacon Finance            shown
      Buoy Depot                hidden
      Keel Works                hidden
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.db import transaction
from django.http import Http404
from django.test import override_settings
from django.utils import timezone

from accounts.models import Department, Employee, Organization, Role, User
from accounts.permissions import (
    NO_ACCESS,
    ROLE_PERMISSIONS,
    Access,
    NotVisible,
    Permission,
    access_for,
)
from accounts.services import department_create
from assessments.models import Campaign, CampaignStatus, Instrument, Invitation
from assessments.selectors import campaigns, instrument_spec
from assessments.services import campaign_create, campaign_launch, response_submit
from reports.models import Report, ReportStatus
from reports.selectors import actions, report_for_download, reports
from reports.services import action_create
from results.models import DomainResult, ResultRun, RunStatus
from results.scoring import OVERALL, RESPONDENTS
from results.scoring.engine import BAND_SEVERITY
from results.selectors import (
    campaign_results,
    current_run,
    department_results,
    departments_by_priority,
    heatmap,
    participation,
    top_risks,
)
from results.services import campaign_close, result_run_execute
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.reports.report_fixtures import PUBLISHED, SUPPRESSED, TREE, K

pytestmark = pytest.mark.django_db

P = Permission

# --- The table, written out ----------------------------------------------------------------

ROLES = (Role.ADMIN, Role.ANALYST, Role.MANAGER, Role.VIEWER, Role.REPRESENTATIVE)
Y, N = True, False

# fmt: off
EXPECTED_PERMISSIONS: dict[Permission, tuple[bool, bool, bool, bool, bool]] = {
    #                       admin analyst manager viewer representative
    P.VIEW_CAMPAIGNS:      (Y,    Y,      Y,      Y,      Y),
    P.MANAGE_CAMPAIGNS:    (Y,    Y,      N,      N,      N),
    P.VIEW_PARTICIPATION:  (Y,    Y,      Y,      N,      N),
    P.VIEW_RESULTS:        (Y,    Y,      Y,      Y,      Y),
    P.EXPORT_RESULTS:      (Y,    Y,      Y,      N,      N),
    P.VIEW_REPORTS:        (Y,    Y,      Y,      Y,      Y),
    P.REQUEST_REPORTS:     (Y,    Y,      Y,      N,      N),
    P.VIEW_ACTIONS:        (Y,    Y,      Y,      Y,      Y),
    P.MANAGE_ACTIONS:      (Y,    Y,      Y,      N,      N),
    P.VIEW_DIRECTORY:      (Y,    N,      N,      N,      N),
    P.MANAGE_DIRECTORY:    (Y,    N,      N,      N,      N),
    P.MANAGE_USERS:        (Y,    N,      N,      N,      N),
    P.MANAGE_API_KEYS:     (Y,    N,      N,      N,      N),
    P.MANAGE_WEBHOOKS:     (Y,    N,      N,      N,      N),
    P.VIEW_AUDIT:          (Y,    N,      N,      N,      Y),
}
# fmt: on

ALLOWED: dict[str, frozenset[Permission]] = {
    role: frozenset(p for p, row in EXPECTED_PERMISSIONS.items() if row[column])
    for column, role in enumerate(ROLES)
}


def test_the_matrix_names_every_permission_and_every_role():
    assert set(EXPECTED_PERMISSIONS) == set(Permission)
    assert set(ROLES) == set(Role)
    assert set(ROLE_PERMISSIONS) == set(ROLES)


@pytest.mark.parametrize("role", ROLES)
def test_the_one_table_is_the_reviewed_matrix(role):
    granted = ROLE_PERMISSIONS[role]
    assert sorted(granted - ALLOWED[role]) == [], "granted but not in the reviewed matrix"
    assert sorted(ALLOWED[role] - granted) == [], "in the reviewed matrix but not granted"


# --- The department tree, in plain Python ---------------------------------------------------

ROOT = "root"
MANAGER_SCOPE = "quayside"
ORGANISATION = "organisation"  # label of the rows of the whole organisation (no department)
PARENT: dict[str, str | None] = {ROOT: None} | {
    key: parent or ROOT for key, (_name, parent, *_rest) in TREE.items()
}
KEYS = tuple(PARENT)


def ancestors_or_self(key: str) -> set[str]:
    chain = set()
    while key is not None:
        chain.add(key)
        key = PARENT[key]
    return chain


def subtree(key: str) -> set[str]:
    return {other for other in KEYS if key in ancestors_or_self(other)}


@dataclass(frozen=True)
class Sight:
    """What a member of Harbourside may see: the whole organisation, or the manager's subtree."""

    whole: bool

    def sees(self, key: str) -> bool:
        if self.whole:
            return key == ORGANISATION or key in KEYS
        return key in KEYS and MANAGER_SCOPE in ancestors_or_self(key)


WHOLE, SUBTREE = Sight(whole=True), Sight(whole=False)


# --- The world ------------------------------------------------------------------------------

SPRING = "Spring pulse 2031"  # closed and scored; targets the group root
AUTUMN = "Autumn check-in 2031"  # open; targets the group root
BEACON_ONLY = "Beacon Finance deep dive"  # a draft for a department outside the subtree
LIGHTHOUSE_ONLY = "Lighthouse Crew deep dive"  # a draft for a department inside it
THEIRS = "Tidewater pulse"  # the other organisation's
TARGETS = {SPRING: [ROOT], AUTUMN: [ROOT], BEACON_ONLY: ["beacon"], LIGHTHOUSE_ONLY: ["lighthouse"]}
# Every top-level department and the parts of Quayside Operations hold k answers, so that its
# children's counts are shown while the campaign is open; Tiller Group's one is never shown.
AUTUMN_ANSWERS = {
    "quayside": 5, "lighthouse": 6, "foghorn": 5, "tiller": 1, "rudder": 5, "beacon": 5,
    "buoy": 5, "keel": 5,
}  # fmt: skip

# label -> (department key or ORGANISATION, language, status, from the current run)
REPORTS = {
    "organisation/en": (ORGANISATION, "en", ReportStatus.DONE, True),
    "root/en": (ROOT, "en", ReportStatus.DONE, True),
    "quayside/de": ("quayside", "de", ReportStatus.DONE, True),
    "quayside/en (withdrawn)": ("quayside", "en", ReportStatus.DONE, False),
    "lighthouse/en": ("lighthouse", "en", ReportStatus.DONE, True),
    "lighthouse/de (queued)": ("lighthouse", "de", ReportStatus.QUEUED, True),
    "foghorn/en (failed)": ("foghorn", "en", ReportStatus.FAILED, True),
    "compass/en": ("compass", "en", ReportStatus.DONE, True),
    "beacon/en": ("beacon", "en", ReportStatus.DONE, True),
}
THEIR_REPORT = "tidewater/en"

# title -> (campaign, department key)
ACTIONS = {
    "spring/root": (SPRING, ROOT),
    "spring/quayside": (SPRING, "quayside"),
    "spring/lighthouse": (SPRING, "lighthouse"),
    "spring/foghorn": (SPRING, "foghorn"),
    "spring/compass": (SPRING, "compass"),
    "spring/beacon": (SPRING, "beacon"),
    "autumn/lighthouse": (AUTUMN, "lighthouse"),
    "autumn/keel": (AUTUMN, "keel"),
}
THEIR_ACTION = "tidewater/docks"


@dataclass
class World:
    organization: Organization
    tidewater: Organization
    departments: dict[str, Department]
    docks: Department  # Tidewater's only department
    campaigns: dict[str, Campaign]  # by name, Tidewater's included
    run: ResultRun
    reports: dict[str, Report]  # by label, Tidewater's included
    users: dict[str, User]

    def __post_init__(self):
        self._keys = {d.pk: key for key, d in self.departments.items()}

    def key(self, department_id: int | None) -> str:
        if department_id is None:
            return ORGANISATION
        return self._keys.get(department_id, f"another organisation's #{department_id}")

    def cell_label(self, cell: DomainResult) -> str:
        label = f"{self.key(cell.department_id)}/{cell.domain_code}"
        if cell.breakdown_attribute:
            label += f"/{cell.breakdown_attribute}={cell.breakdown_value}"
        return label

    def cells(self) -> list[DomainResult]:
        """Every stored cell of the scored campaign's current run, read directly."""
        return list(DomainResult.objects.filter(run=self.run).select_related("department"))

    def report_label(self, report: Report | None) -> str | None:
        if report is None:
            return None
        return next(label for label, made in self.reports.items() if made.pk == report.pk)


def _answers(items: list[str], base: int, respondent: int) -> dict[str, int]:
    return {code: min(5, max(1, base + (respondent + i) % 3 - 1)) for i, code in enumerate(items)}


def _answer(campaign: Campaign, departments, counts: dict[str, int], items: list[str]) -> None:
    for key, count in counts.items():
        base = TREE[key][4]
        invitations = Invitation.objects.filter(
            campaign=campaign, department=departments[key]
        ).order_by("pk")[:count]
        for respondent, invitation in enumerate(invitations):
            response_submit(invitation_id=invitation.pk, answers=_answers(items, base, respondent))


def _build_world(instrument: Instrument) -> World:
    now = timezone.now()
    organization = OrganizationFactory(name="Harbourside Shipping")
    departments = {ROOT: department_create(organization=organization, name="Harbourside Group")}
    for key, (name, _parent, *_rest) in TREE.items():
        departments[key] = department_create(
            organization=organization, name=name, parent=departments[PARENT[key]]
        )
    Employee.objects.bulk_create(
        Employee(
            organization=organization,
            department=departments[key],
            external_id=f"{key}-{index}",
            email=f"{key}.{index}@harbourside.test",
        )
        for key, (_name, _parent, invited, *_rest) in TREE.items()
        for index in range(invited)
    )
    items = list(instrument.items.order_by("position").values_list("code", flat=True))

    def create(name, opens_in_days, organization=organization, targets=None):
        return campaign_create(
            organization=organization,
            name=name,
            instrument=instrument,
            target_departments=targets or [departments[key] for key in TARGETS[name]],
            languages=["en", "de"],
            opens_at=now + dt.timedelta(days=opens_in_days),
            closes_at=now + dt.timedelta(days=opens_in_days + 21),
            min_group_size=K,
        )

    spring = campaign_launch(campaign=create(SPRING, -14), now=now - dt.timedelta(days=14))
    _answer(spring, departments, {key: spec[3] for key, spec in TREE.items()}, items)
    campaign_close(campaign=spring)
    run = result_run_execute(run_id=ResultRun.objects.get(campaign=spring).pk)
    assert current_run(campaign=spring) == run, run.error
    spring.refresh_from_db()

    autumn = campaign_launch(campaign=create(AUTUMN, -2), now=now - dt.timedelta(days=2))
    _answer(autumn, departments, AUTUMN_ANSWERS, items)
    autumn.refresh_from_db()
    assert autumn.status == CampaignStatus.OPEN

    by_name = {SPRING: spring, AUTUMN: autumn}
    by_name[BEACON_ONLY] = create(BEACON_ONLY, 30)
    by_name[LIGHTHOUSE_ONLY] = create(LIGHTHOUSE_ONLY, 30)

    # A run that was replaced: a report made from it is withdrawn.
    replaced = ResultRun.objects.create(
        organization=organization, campaign=spring, status=RunStatus.DONE, is_current=False
    )
    made = {}
    for label, (key, language, status, from_current) in REPORTS.items():
        made[label] = Report.objects.create(
            organization=organization,
            campaign=spring,
            department=None if key == ORGANISATION else departments[key],
            language=language,
            status=status,
            result_run=run if from_current else replaced,
        )
        if status == ReportStatus.DONE:
            made[label].file.save(f"{label.split()[0]}.pdf", ContentFile(b"%PDF-1.7 x"))
    for title, (campaign_name, key) in ACTIONS.items():
        action_create(
            campaign=by_name[campaign_name],
            department=departments[key],
            domain_code="demands",
            title=title,
            owner="Shift lead",
        )

    # Another organisation with a campaign, a current run, a finished report and an action.
    tidewater = OrganizationFactory(name="Tidewater Freight")
    docks = department_create(organization=tidewater, name="Docks")
    theirs = create(THEIRS, 30, organization=tidewater, targets=[docks])
    by_name[THEIRS] = theirs
    their_run = ResultRun.objects.create(
        organization=tidewater, campaign=theirs, status=RunStatus.DONE, is_current=True
    )
    made[THEIR_REPORT] = Report.objects.create(
        organization=tidewater,
        campaign=theirs,
        language="en",
        status=ReportStatus.DONE,
        result_run=their_run,
    )
    made[THEIR_REPORT].file.save("tidewater.pdf", ContentFile(b"%PDF-1.7 x"))
    action_create(
        campaign=theirs, department=docks, domain_code="demands", title=THEIR_ACTION, owner="Lead"
    )

    users = {
        role: MembershipFactory(organization=organization, role=role).user
        for role in (Role.ADMIN, Role.ANALYST, Role.VIEWER, Role.REPRESENTATIVE)
    }
    users[Role.MANAGER] = MembershipFactory(
        organization=organization, role=Role.MANAGER, scope_department=departments[MANAGER_SCOPE]
    ).user
    users["outsider"] = MembershipFactory(organization=tidewater, role=Role.ADMIN).user
    users["superuser"] = UserFactory(is_superuser=True, is_staff=True)
    return World(
        organization=organization,
        tidewater=tidewater,
        departments=departments,
        docks=docks,
        campaigns=by_name,
        run=run,
        reports=made,
        users=users,
    )


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """The world above, built once and rolled back when the module is done. Each test runs in
    a savepoint inside this transaction (pytest-django's `db`), so nothing leaks between them."""
    media = tmp_path_factory.mktemp("permissions-media")
    fast = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with (
        django_db_blocker.unblock(),
        override_settings(MEDIA_ROOT=str(media), PASSWORD_HASHERS=fast),
        transaction.atomic(),
    ):
        call_command("load_instruments", stdout=io.StringIO())
        yield _build_world(Instrument.objects.get(code="plimsoll-core", version=1))
        transaction.set_rollback(True)
    instrument_spec.cache_clear()  # its ids are gone with the rollback


def test_the_world_has_what_the_rules_are_tested_on(world):
    """The manager's subtree holds published and suppressed departments and is not the whole
    organisation; the organisation and the group root have cells of their own."""
    suppressed = {
        world.key(c.department_id): c.suppressed
        for c in world.cells()
        if c.domain_code == RESPONDENTS and not c.breakdown_attribute
    }
    # As drawn in the module docstring.
    assert {key for key, hidden in suppressed.items() if hidden} == set(SUPPRESSED)
    assert {key for key, hidden in suppressed.items() if not hidden} == {
        ORGANISATION,
        ROOT,
        *PUBLISHED,
    }
    assert {"lighthouse", "foghorn"} <= subtree(MANAGER_SCOPE)
    assert "lighthouse" in PUBLISHED and "foghorn" in SUPPRESSED
    assert subtree(MANAGER_SCOPE) == {"quayside", "lighthouse", "foghorn"}
    assert ROOT in ancestors_or_self(MANAGER_SCOPE) - subtree(MANAGER_SCOPE)
    assert world.campaigns[SPRING].status == CampaignStatus.CLOSED
    assert world.campaigns[AUTUMN].status == CampaignStatus.OPEN


# --- The personas ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Persona:
    name: str
    role: str | None = None  # the role in Harbourside; None: no membership there
    at_home: bool = False  # access built in the user's own organisation (Tidewater)

    def access(self, world: World) -> Access:
        user = AnonymousUser() if self.name == "anonymous" else world.users[self.user_key]
        organization = world.tidewater if self.at_home else world.organization
        return access_for(user=user, organization=organization)

    @property
    def user_key(self) -> str:
        return self.role or ("outsider" if self.name.startswith("outsider") else self.name)

    @property
    def sight(self) -> Sight:
        return SUBTREE if self.role == Role.MANAGER else WHOLE


PERSONAS = [
    Persona("admin", Role.ADMIN),
    Persona("analyst", Role.ANALYST),
    Persona("manager", Role.MANAGER),
    Persona("viewer", Role.VIEWER),
    Persona("representative", Role.REPRESENTATIVE),
    Persona("outsider"),  # a member of Tidewater only, asking for Harbourside
    Persona("outsider at home", at_home=True),  # the same user, in Tidewater
    Persona("superuser"),  # no membership anywhere
    Persona("anonymous"),  # signed out
]


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.name)
def test_access_for_builds_each_persona(world, persona):
    access = persona.access(world)
    if persona.at_home:
        assert (access.organization_id, access.role) == (world.tidewater.pk, Role.ADMIN)
        assert access.whole_organization
    elif persona.role is None:
        assert access == NO_ACCESS
    else:
        scope = world.departments[MANAGER_SCOPE].path if persona.role == Role.MANAGER else None
        assert access == Access(
            organization_id=world.organization.pk,
            role=persona.role,
            subtree_path=scope,
            user_id=world.users[persona.role].pk,
        )
        assert access.whole_organization is (persona.role != Role.MANAGER)


def _outcome(call: Callable[[], Any]) -> tuple:
    """What a call gave: ("ok", value), or the refusal it raised."""
    try:
        return ("ok", call())
    except NotVisible:
        return ("NotVisible",)
    except Http404:
        return ("Http404, not NotVisible",)
    except PermissionDenied:
        return ("PermissionDenied",)


NOT_VISIBLE = ("NotVisible",)
DENIED = ("PermissionDenied",)
NOTHING = ("ok", None)


def ok(value) -> tuple:
    return ("ok", value)


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.name)
def test_can_and_require_follow_the_table(world, persona):
    access = persona.access(world)
    role = Role.ADMIN if persona.at_home else persona.role
    allowed = ALLOWED[role] if role else frozenset()
    assert {p: access.can(p) for p in Permission} == {p: p in allowed for p in Permission}
    refusal = DENIED if role else NOT_VISIBLE
    assert {p: _outcome(lambda p=p: access.require(p)) for p in Permission} == {
        p: ok(None) if p in allowed else refusal for p in Permission
    }


# --- What each selector should give each persona --------------------------------------------


@dataclass(frozen=True)
class Case:
    """One selector call: what it gives (as plain labels), the permission it needs, and what a
    member of Harbourside who has that permission should get."""

    id: str
    permission: Permission
    read: Callable[[World, Access], Any]
    expect: Callable[[World, Sight], tuple]
    lacking: tuple = DENIED  # a member without the permission
    refused: tuple = NOT_VISIBLE  # no role in Harbourside
    at_home: Callable[[World], tuple] = lambda world: NOT_VISIBLE  # Tidewater's admin


def expected(world: World, persona: Persona, case: Case) -> tuple:
    if persona.at_home:
        return case.at_home(world)
    if persona.role is None:
        return case.refused
    if case.permission not in ALLOWED[persona.role]:
        return case.lacking
    return case.expect(world, persona.sight)


def _scored(world):
    return world.campaigns[SPRING]


def _department(world: World, key: str) -> Department:
    return world.docks if key == "docks" else world.departments[key]


def _grid(cell: DomainResult) -> bool:
    """A department-by-domain cell (no breakdown, not the priority or respondents row)."""
    return not cell.breakdown_attribute and cell.domain_code not in (OVERALL, RESPONDENTS)


# Results


def _cells_of(world: World, keys) -> list[str]:
    return sorted(world.cell_label(c) for c in world.cells() if world.key(c.department_id) in keys)


def _results_expect(world, sight):
    return ok(_cells_of(world, [ORGANISATION, *KEYS] if sight.whole else subtree(MANAGER_SCOPE)))


def _department_results(key: str) -> Case:
    def read(world, access):
        department = _department(world, key)
        cells = department_results(access=access, campaign=_scored(world), department=department)
        return sorted(world.cell_label(c) for c in cells)

    def expect(world, sight):
        if key == "docks" or not sight.sees(key):
            return NOT_VISIBLE
        return ok(_cells_of(world, subtree(key)))

    return Case(f"department_results[{key}]", P.VIEW_RESULTS, read, expect)


def _label_or_none(world: World, cell: DomainResult | None) -> str | None:
    return None if cell is None else world.cell_label(cell)


def _heatmap_read(world, access):
    grid = heatmap(access=access, campaign=_scored(world))
    rows = [
        (world.key(d.pk if d else None), [_label_or_none(world, c) for c in cells])
        for d, cells in grid.rows
    ]
    return grid.domains, rows


def _heatmap_expect(world, sight):
    domains = list(
        _scored(world).instrument.domains.order_by("position").values_list("code", flat=True)
    )
    by_place = {
        (world.key(c.department_id), c.domain_code): c
        for c in world.cells()
        if _grid(c) and sight.sees(world.key(c.department_id))
    }
    keys = {key for key, _code in by_place}
    # The organisation first, then the departments in tree order.
    order = sorted(keys, key=lambda k: "" if k == ORGANISATION else world.departments[k].path)
    rows = [
        (key, [_label_or_none(world, by_place.get((key, code))) for code in domains])
        for key in order
    ]
    return ok((domains, rows))


def _top(world, key: str) -> list[str]:
    cells = [
        c
        for c in world.cells()
        if _grid(c) and not c.suppressed and world.key(c.department_id) == key
    ]
    cells.sort(key=lambda c: (-c.risk_score, c.domain_code))
    return [world.cell_label(c) for c in cells[:3]]


def _top_risks(key: str | None) -> Case:
    def read(world, access):
        department = None if key is None else _department(world, key)
        found = top_risks(access=access, campaign=_scored(world), department=department)
        return [world.cell_label(c) for c in found]

    def expect(world, sight):
        if key is None:  # the organisation's own, or the top of the manager's subtree
            return ok(_top(world, ORGANISATION if sight.whole else MANAGER_SCOPE))
        if key == "docks" or not sight.sees(key):
            return NOT_VISIBLE
        return ok(_top(world, key))

    return Case(f"top_risks[{key or 'no department'}]", P.VIEW_RESULTS, read, expect)


def _priorities_read(world, access):
    ranked = departments_by_priority(access=access, campaign=_scored(world))
    return [world.key(c.department_id) for c in ranked]


def _priorities_expect(world, sight):
    rows = [
        c
        for c in world.cells()
        if c.domain_code == OVERALL
        and not c.breakdown_attribute
        and not c.suppressed
        and c.department_id is not None
        and sight.sees(world.key(c.department_id))
    ]
    rows.sort(key=lambda c: (-BAND_SEVERITY[c.band], -c.risk_score, c.department.path))
    return ok([world.key(c.department_id) for c in rows])


# Participation


def _participation(name: str) -> Case:
    def read(world, access):
        rows = participation(access=access, campaign=world.campaigns[name])
        return sorted(world.key(row.department.pk if row.department else None) for row in rows)

    def expect(world, sight):
        # A row for the whole campaign, and one for each department someone was invited in,
        # at or below it.
        invited = Invitation.objects.filter(campaign=world.campaigns[name]).values_list(
            "department_id", flat=True
        )
        reached = set().union(*(ancestors_or_self(world.key(pk)) for pk in invited))
        return ok(sorted(key for key in {ORGANISATION, *reached} if sight.sees(key)))

    return Case(f"participation[{name}]", P.VIEW_PARTICIPATION, read, expect)


# Reports


def _reports_read(world, access):
    return sorted(world.report_label(r) for r in reports(access=access, campaign=_scored(world)))


def _reports_expect(world, sight):
    return ok(
        sorted(
            label
            for label, (key, _language, _status, current) in REPORTS.items()
            if current and sight.sees(key)
        )
    )


def _download(label: str) -> Case:
    def read(world, access):
        return world.report_label(
            report_for_download(access=access, report_id=world.reports[label].pk)
        )

    def expect(world, sight):
        if label == THEIR_REPORT:
            return NOTHING
        key, _language, status, current = REPORTS[label]
        return ok(label if status == ReportStatus.DONE and current and sight.sees(key) else None)

    return Case(
        f"report_for_download[{label}]",
        P.VIEW_REPORTS,
        read,
        expect,
        lacking=NOTHING,
        refused=NOTHING,
        at_home=lambda world: ok(label if label == THEIR_REPORT else None),
    )


# Actions and campaigns


def _actions(name: str | None) -> Case:
    def read(world, access):
        campaign = world.campaigns[name] if name else None
        return sorted(a.title for a in actions(access=access, campaign=campaign))

    def expect(world, sight):
        if name == THEIRS:
            return NOT_VISIBLE
        return ok(
            sorted(
                title
                for title, (campaign_name, key) in ACTIONS.items()
                if name in (None, campaign_name) and sight.sees(key)
            )
        )

    def at_home(world):
        return ok([THEIR_ACTION]) if name in (None, THEIRS) else NOT_VISIBLE

    label = f"actions[{name or 'every campaign'}]"
    return Case(label, P.VIEW_ACTIONS, read, expect, at_home=at_home)


def _campaigns_read(world, access):
    return sorted(c.name for c in campaigns(access=access))


def _campaigns_expect(world, sight):
    # A manager sees the campaigns that asked people of their subtree: a target inside it or
    # above it.
    reach = subtree(MANAGER_SCOPE) | ancestors_or_self(MANAGER_SCOPE)
    return ok(
        sorted(
            name
            for name, targets in TARGETS.items()
            if sight.whole or any(key in reach for key in targets)
        )
    )


CASES = [
    Case(
        "campaign_results",
        P.VIEW_RESULTS,
        lambda world, access: sorted(
            world.cell_label(c) for c in campaign_results(access=access, campaign=_scored(world))
        ),
        _results_expect,
    ),
    Case(
        "campaign_results[open campaign]",
        P.VIEW_RESULTS,
        lambda world, access: [
            world.cell_label(c)
            for c in campaign_results(access=access, campaign=world.campaigns[AUTUMN])
        ],
        lambda world, sight: ok([]),  # no run while open: nothing to show anyone
    ),
    *(_department_results(key) for key in (*KEYS, "docks")),
    Case("heatmap", P.VIEW_RESULTS, _heatmap_read, _heatmap_expect),
    *(_top_risks(key) for key in (None, *KEYS, "docks")),
    Case("departments_by_priority", P.VIEW_RESULTS, _priorities_read, _priorities_expect),
    _participation(SPRING),
    _participation(AUTUMN),
    Case("reports", P.VIEW_REPORTS, _reports_read, _reports_expect),
    *(_download(label) for label in (*REPORTS, THEIR_REPORT)),
    *(_actions(name) for name in (SPRING, AUTUMN, None, THEIRS)),
    Case(
        "campaigns",
        P.VIEW_CAMPAIGNS,
        _campaigns_read,
        _campaigns_expect,
        at_home=lambda world: ok([THEIRS]),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.name)
def test_each_persona_gets_exactly_what_its_role_may_see(world, persona, case):
    access = persona.access(world)
    assert _outcome(lambda: case.read(world, access)) == expected(world, persona, case)


# --- Participation: the scope limits which rows, never their figures ------------------------


@pytest.mark.parametrize("name", [SPRING, AUTUMN])
def test_a_managers_participation_rows_are_the_organisations_rows_of_their_subtree(world, name):
    campaign = world.campaigns[name]
    admin = participation(access=Persona("admin", Role.ADMIN).access(world), campaign=campaign)
    manager = participation(
        access=Persona("manager", Role.MANAGER).access(world), campaign=campaign
    )
    mine = subtree(MANAGER_SCOPE)
    assert manager == [r for r in admin if r.department and world.key(r.department.pk) in mine]
    assert all(row.department is not None for row in manager)
    # There are figures to compare: Lighthouse Crew's six answers are shown, open or closed;
    # Foghorn Unit's count only while open (five of six), its two respondents never.
    by_key = {world.key(row.department.pk): row for row in manager}
    assert (by_key["lighthouse"].invited, by_key["lighthouse"].completed) == (8, 6)
    assert by_key["foghorn"].completed == (5 if name == AUTUMN else None)


def test_a_manager_gets_not_visible_for_a_campaign_that_did_not_ask_their_subtree(world):
    """Handed a campaign `campaigns()` does not list for them, every campaign selector answers
    NotVisible (a 404), not an empty page that confirms the campaign exists."""
    manager = PERSONAS[2].access(world)
    elsewhere = world.campaigns[BEACON_ONLY]
    calls = [
        lambda: campaign_results(access=manager, campaign=elsewhere),
        lambda: heatmap(access=manager, campaign=elsewhere),
        lambda: participation(access=manager, campaign=elsewhere),
        lambda: reports(access=manager, campaign=elsewhere),
        lambda: actions(access=manager, campaign=elsewhere),
    ]
    for call in calls:
        with pytest.raises(NotVisible):
            call()
    inside = world.campaigns[LIGHTHOUSE_ONLY]
    assert list(reports(access=manager, campaign=inside)) == []
