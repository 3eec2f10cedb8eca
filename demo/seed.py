"""A realistic demo organisation with a closed and an open campaign, built from a seed.

Everything a person sees (departments, people, who answered, what they answered) follows from
the seed, so two runs with the same seed build the same organisation. The sample survey links
are the exception: their tokens are random, because a token derived from a public seed would
be a guessable survey link.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from accounts.models import (
    ApiScope,
    Department,
    Employee,
    EventType,
    Membership,
    Organization,
    Role,
    User,
)
from accounts.services import api_key_create, department_create, membership_grant
from accounts.sync import sync_run_execute, sync_run_request
from assessments.answers import encode_answers
from assessments.emails import survey_link
from assessments.models import Campaign, CampaignStatus, Instrument, Invitation, Response
from assessments.services import (
    campaign_create,
    campaign_population_freeze,
    campaign_transition,
    invitation_token_issue,
)
from reports.models import Action, Report
from reports.recommendations import recommendations
from reports.services import action_create, report_render, report_request
from results.models import DomainResult, ResultRun, RunStatus
from results.services import campaign_close, result_run_execute
from webhooks.services import webhook_endpoint_create, webhook_endpoint_update

DEMO_SLUG = "northwind-demo"
DEMO_NAME = "Northwind Logistics (demo)"
DEMO_PASSWORD = "plimsoll-demo"
HR_EMAIL = "hr@northwind.example"
MANAGER_EMAIL = "manager.warehouse-north@northwind.example"
ANALYST_EMAIL = "analyst@northwind.example"
VIEWER_EMAIL = "viewer@northwind.example"
REPRESENTATIVE_EMAIL = "council@northwind.example"


@dataclass
class Unit:
    """A department of the demo tree: its own headcount and how its work tends to feel."""

    name: str
    people: int = 0
    # Shift of the typical answer per domain, in scale points; positive means "more of it".
    stress: dict[str, float] = field(default_factory=dict)
    response_rate: float = 0.72
    children: list[Unit] = field(default_factory=list)


# The organisation: four levels, 28 departments, several with fewer than five people.
TREE = [
    Unit(
        "Operations",
        6,
        {"demands": 0.3},
        children=[
            Unit(
                "Warehouse North",
                5,
                children=[
                    Unit("Inbound North", 80, {"demands": 0.5, "control": -0.4}),
                    Unit(
                        "Outbound North",
                        90,
                        {"demands": 0.7, "exhaustion": 0.6, "manager_support": -0.5},
                    ),
                    Unit(
                        "Night Shift",
                        55,
                        {
                            "demands": 0.9,
                            "exhaustion": 1.0,
                            "mental_distance": 0.7,
                            "control": -0.8,
                            "peer_support": -0.3,
                        },
                        response_rate=0.6,
                    ),
                ],
            ),
            Unit(
                "Warehouse South",
                0,
                children=[
                    Unit("Inbound South", 70, {"control": -0.2}),
                    Unit("Outbound South", 75, {"demands": 0.3}),
                ],
            ),
            Unit(
                "Fleet",
                0,
                {"role": -0.2},
                children=[
                    Unit(
                        "Drivers",
                        0,
                        {"peer_support": -0.6},
                        children=[
                            Unit(
                                "Long Haul",
                                60,
                                {"exhaustion": 0.7, "peer_support": -0.5, "demands": 0.5},
                                response_rate=0.55,
                            ),
                            Unit("Regional Delivery", 50, {"demands": 0.4}),
                        ],
                    ),
                    Unit("Dispatch", 4, {"demands": 0.6}),
                ],
            ),
        ],
    ),
    Unit(
        "Commercial",
        4,
        children=[
            Unit(
                "Sales",
                0,
                {"demands": 0.4},
                children=[
                    Unit("Key Accounts", 30, {"role": 0.3, "efficacy": 0.3}),
                    Unit("Field Sales", 45, {"demands": 0.6, "change": -0.5, "exhaustion": 0.4}),
                ],
            ),
            Unit(
                "Customer Service",
                100,
                {
                    "relationships": 0.9,
                    "control": -0.7,
                    "exhaustion": 0.6,
                    "mental_distance": 0.5,
                    "manager_support": -0.3,
                },
            ),
            Unit("Marketing", 15, {"control": 0.5, "change": -0.3}),
        ],
    ),
    Unit(
        "Corporate Services",
        5,
        {"control": 0.3},
        children=[
            Unit("Finance", 28, {"role": 0.4, "demands": 0.2}),
            Unit("People & Culture", 10, {"manager_support": 0.4, "peer_support": 0.4}),
            Unit(
                "IT",
                0,
                children=[
                    Unit("Infrastructure", 22, {"change": -0.6, "demands": 0.3}),
                    Unit("Applications", 30, {"change": -0.8, "role": -0.4, "control": 0.4}),
                    Unit("Security", 3, {"demands": 0.5}),
                ],
            ),
            Unit("Legal", 4, {"demands": 0.4}),
        ],
    ),
    Unit("Executive Office", 3, {"demands": 0.8}),
]

TENURE_BANDS = ["under 1 year", "1-3 years", "3-10 years", "over 10 years"]
ROLE_TYPES = ["frontline", "specialist", "manager"]
# The attributes the demo campaigns break results down by: two, so the joint suppression shows.
DEMO_BREAKDOWNS = ("tenure_band", "role_type")
# A typical answer per domain on the 1-5 agreement scale, before department shifts.
BASELINE = {
    "demands": 3.0,
    "control": 3.4,
    "manager_support": 3.5,
    "peer_support": 3.8,
    "relationships": 2.2,
    "role": 3.9,
    "change": 3.2,
    "exhaustion": 2.8,
    "mental_distance": 2.3,
    "efficacy": 3.9,
}
FIRST_NAMES = [
    "Alex",
    "Sam",
    "Jo",
    "Kim",
    "Robin",
    "Chris",
    "Mika",
    "Noa",
    "Lou",
    "Eli",
    "Toni",
    "Charlie",
    "Jules",
    "Maxi",
    "Ari",
    "Kai",
]
LAST_NAMES = [
    "Becker",
    "Smith",
    "Novak",
    "Garcia",
    "Jansen",
    "Rossi",
    "Schulz",
    "Kowalski",
    "Dubois",
    "Meyer",
    "Brown",
    "Silva",
    "Weber",
    "Nilsen",
    "Okafor",
    "Ivanova",
]


@dataclass(frozen=True)
class DemoSummary:
    organization: Organization
    departments: int
    employees: int
    closed_campaign: Campaign
    open_campaign: Campaign
    baseline_campaign: Campaign | None
    responses: int
    sample_links: list[str]
    reports: list = field(default_factory=list)
    api_key: str = ""  # a read-only key for trying the API, shown once


Progress = Callable[[str], None]


def demo_seed(
    *, seed: int, progress: Progress = lambda message: None, reports: bool = False
) -> DemoSummary:
    """Replace the demo organisation with a fresh copy built from `seed`.

    Three campaigns: last year's baseline and this spring's follow-up, both closed and scored
    here and then, with action plans (last year's show what they changed), and an open one
    with answers so far. With `reports`, the spring campaign's organisation report (in English
    and German) and the Warehouse North pack are rendered too.
    """
    rng = random.Random(seed)
    instrument = Instrument.objects.filter(code="plimsoll-core").order_by("-version").first()
    if instrument is None:
        raise LookupError(
            "Instrument plimsoll-core is not loaded: run `manage.py load_instruments`."
        )
    with transaction.atomic():
        progress("Removing any previous demo organisation")
        _remove_demo_organization()
        organization = Organization.objects.create(name=DEMO_NAME, slug=DEMO_SLUG)
        progress("Building the department tree")
        units = _build_tree(organization)
        progress(f"Adding employees to {len(units)} departments")
        employees = _add_employees(organization, units, rng)
        _add_logins(organization, units)
        today = timezone.localdate()

        def run(days_ago: int, **options) -> Campaign:
            return _run_campaign(
                organization=organization,
                instrument=instrument,
                name=_campaign_name(today - dt.timedelta(days=days_ago)),
                opens=today - dt.timedelta(days=days_ago),
                days_open=21,
                units=units,
                employees=employees,
                rng=rng,
                progress=progress,
                **options,
            )

        progress("Simulating last year's baseline campaign")
        baseline = run(565, share_of_rate=1.0, close=True, shift=BASELINE_SHIFT)
        progress("Simulating the closed spring campaign")
        closed = run(200, share_of_rate=1.0, close=True, previous=baseline)
        progress("Simulating the open autumn campaign (answers so far)")
        opened = run(6, share_of_rate=0.45, close=False, previous=closed)
        # A few personal links into the open campaign, so a person can try the survey. Tokens
        # exist only for emails that were sent; these stand in for three such emails.
        waiting = Invitation.objects.filter(campaign=opened, completed_on__isnull=True)
        sample_links = [
            survey_link(invitation_token_issue(invitation=invitation))
            for invitation in waiting.order_by("employee__external_id")[:3]
        ]
    for campaign in (baseline, closed):  # in order: the later one compares with the earlier
        progress(f"Scoring {campaign.name}")
        run = campaign.result_runs.order_by("-created_at").first()
        if result_run_execute(run_id=run.pk).status != RunStatus.DONE:
            raise RuntimeError(f"Scoring the demo campaign failed: {run.error}")
    progress("Recording action plans")
    _add_actions(organization, instrument, baseline, closed, today)
    _key, api_key = api_key_create(
        organization=organization,
        name="Demo HRIS (read only)",
        scopes=[ApiScope.DIRECTORY_READ, ApiScope.CAMPAIGNS_READ, ApiScope.RESULTS_READ,
                ApiScope.REPORTS_READ],
    )  # fmt: skip
    progress("Recording two syncs from the HRIS")
    _add_syncs(organization)
    # A webhook endpoint as an HRIS team would register it, switched off: the demo's address
    # does not exist (switch it on with a real receiver to see deliveries).
    endpoint, _secret = webhook_endpoint_create(
        organization=organization,
        url="https://hris.northwind.example/plimsoll/events",
        events=[
            EventType.RESULTS_PUBLISHED,
            EventType.REPORT_READY,
            EventType.SYNC_AWAITING_APPROVAL,
        ],
        description="Northwind HRIS (demo: switched off, the address does not exist)",
    )
    webhook_endpoint_update(endpoint=endpoint, is_active=False)
    demo_reports = []
    if reports:
        warehouse = Department.objects.for_organization(organization).get(name="Warehouse North")
        for language, department in (("en", None), ("de", None), ("en", warehouse)):
            what = f"pack for {department.name}" if department else "organisation report"
            progress(f"Rendering the {what} ({language})")
            report = report_request(campaign=closed, language=language, department=department)
            demo_reports.append(report_render(report_id=report.pk))
    return DemoSummary(
        organization=organization,
        departments=len(units),
        employees=len(employees),
        closed_campaign=closed,
        open_campaign=opened,
        baseline_campaign=baseline,
        api_key=api_key,
        responses=Response.objects.for_organization(organization).count(),
        sample_links=sample_links,
        reports=demo_reports,
    )


# Last year, before its actions, the warehouse north teams and field sales carried more
# demands: the spring campaign shows whether the actions agreed then worked.
BASELINE_SHIFT = {
    name: {"demands": 0.7}
    for name in ("Warehouse North", "Inbound North", "Outbound North", "Night Shift")
} | {"Field Sales": {"demands": 0.6}}

# (campaign: "baseline" or "closed", department, domain, owner, status, due in days from today)
DEMO_ACTIONS = (
    ("baseline", "Warehouse North", "demands", "Head of warehouse north", "done", -120),
    ("baseline", "Field Sales", "demands", "Head of sales", "done", -150),
    ("baseline", "Customer Service", "control", "Customer service lead", "in_progress", -20),
    ("closed", "Warehouse North", "exhaustion", "Head of warehouse north", "planned", 30),
    ("closed", "Long Haul", "demands", "Fleet manager", "in_progress", -5),
    ("closed", "Field Sales", "change", "Head of sales", "planned", 45),
)


def _add_actions(organization, instrument, baseline, closed, today) -> None:
    """Action plans as HR would record them, each titled after the first suggestion of the
    recommendations library for its domain."""
    departments = {d.name: d for d in Department.objects.for_organization(organization)}
    campaigns = {"baseline": baseline, "closed": closed}
    for which, name, domain, owner, status, due in DEMO_ACTIONS:
        suggestions = recommendations(
            instrument_code=instrument.code, domain_code=domain, band="urgent", language="en"
        )
        action_create(
            campaign=campaigns[which],
            department=departments[name],
            domain_code=domain,
            title=suggestions[0].title if suggestions else f"Act on {domain}",
            owner=owner,
            due_date=today + dt.timedelta(days=due),
            status=status,
        )


def _add_syncs(organization: Organization) -> None:
    """What an HRIS connection leaves behind: a delta that was applied (two starters and a
    move) and a full sync that left out a whole division, stopped by the brake and waiting for
    an admin's approval (the HR app's home page says so)."""
    key, _raw = api_key_create(
        organization=organization,
        name="Demo HRIS sync",
        scopes=[ApiScope.DIRECTORY_READ, ApiScope.DIRECTORY_WRITE],
    )
    label = f"API key {key.name}"
    departments = dict(
        Department.objects.for_organization(organization).values_list("name", "external_id")
    )
    starters = [
        {
            "external_id": f"E9{number:04d}",
            "email": f"starter.{number}@northwind.example",
            "department_external_id": departments[name],
            "language": language,
            "attributes": {"tenure_band": TENURE_BANDS[0], "role_type": ROLE_TYPES[0]},
        }
        for number, name, language in ((1, "Inbound North", "en"), (2, "Field Sales", "de"))
    ]
    mover = (
        Employee.objects.for_organization(organization)
        .filter(department__name="Night Shift", is_active=True)
        .order_by("external_id")
        .first()
    )
    moves = [
        {
            "external_id": mover.external_id,
            "email": mover.email,
            "department_external_id": departments["Outbound North"],
        }
    ]
    delta = sync_run_request(
        organization=organization, mode="delta", dry_run=False, departments=[],
        employees=starters + moves, api_key=key, requested_by_label=label,
    )  # fmt: skip
    sync_run_execute(run_id=delta.pk)
    # A full export that forgot a division: every active employee but those of the top-level
    # department whose share of the staff is nearest a third.
    active = Employee.objects.for_organization(organization).filter(is_active=True)
    total = active.count()
    tops = Department.objects.for_organization(organization).filter(parent__isnull=True)
    largest = min(
        tops,
        key=lambda top: abs(
            active.filter(department__path__startswith=top.path).count() / total - 1 / 3
        ),
    )
    staff = (
        Employee.objects.for_organization(organization)
        .filter(is_active=True)
        .exclude(department__path__startswith=largest.path)
        .select_related("department")
        .order_by("external_id")
    )
    full = sync_run_request(
        organization=organization,
        mode="full",
        dry_run=False,
        departments=[],
        employees=[
            {
                "external_id": person.external_id,
                "email": person.email,
                "department_external_id": person.department.external_id,
            }
            for person in staff
        ],
        api_key=key,
        requested_by_label=label,
    )
    sync_run_execute(run_id=full.pk)


def _campaign_name(opens: dt.date) -> str:
    return f"Stress risk assessment {opens:%B %Y}"


class DemoConflictError(Exception):
    """An organisation that seed_demo did not make holds the demo's slug."""


def _remove_demo_organization() -> None:
    organization = Organization.objects.filter(slug=DEMO_SLUG).first()
    if organization is None:
        return
    if organization.name != DEMO_NAME:
        raise DemoConflictError(
            f"Organisation '{organization.name}' uses the slug '{DEMO_SLUG}' but is not the demo "
            "organisation; seed_demo will not replace it. Rename its slug first."
        )
    # Children before parents: responses and invitations protect employees and departments.
    for report in Report.objects.for_organization(organization).exclude(file=""):
        report.file.delete(save=False)
    Report.objects.for_organization(organization).delete()
    DomainResult.objects.filter(run__organization=organization).delete()
    ResultRun.objects.for_organization(organization).delete()
    Action.objects.for_organization(organization).delete()
    Response.objects.for_organization(organization).delete()
    Invitation.objects.for_organization(organization).delete()
    Campaign.objects.for_organization(organization).delete()
    Membership.objects.for_organization(organization).delete()
    Employee.objects.for_organization(organization).delete()
    for department in Department.objects.for_organization(organization).order_by("-depth"):
        department.delete()
    organization.delete()


def _build_tree(organization: Organization) -> list[tuple[Department, Unit]]:
    built: list[tuple[Department, Unit]] = []

    def add(unit: Unit, parent: Department | None, inherited: dict[str, float]) -> None:
        stress = dict(inherited)
        for domain, shift in unit.stress.items():
            stress[domain] = stress.get(domain, 0.0) + shift
        department = department_create(
            organization=organization,
            name=unit.name,
            parent=parent,
            external_id=f"D{len(built) + 1:03d}",
        )
        built.append((department, Unit(unit.name, unit.people, stress, unit.response_rate)))
        for child in unit.children:
            add(child, department, stress)

    for unit in TREE:
        add(unit, None, {})
    return built


def _add_employees(
    organization: Organization, units: list[tuple[Department, Unit]], rng: random.Random
) -> list[Employee]:
    rows = []
    number = 0
    for department, unit in units:
        for _ in range(unit.people):
            number += 1
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            rows.append(
                Employee(
                    organization=organization,
                    external_id=f"E{number:05d}",
                    email=f"{first}.{last}.{number}@northwind.example".lower(),
                    department=department,
                    language="de" if rng.random() < 0.3 else "en",
                    attributes={
                        "tenure_band": rng.choices(TENURE_BANDS, weights=[2, 4, 5, 3])[0],
                        "role_type": rng.choices(ROLE_TYPES, weights=[7, 3, 1])[0],
                    },
                )
            )
    return Employee.objects.bulk_create(rows)


def _add_logins(organization: Organization, units: list[tuple[Department, Unit]]) -> None:
    hr, _ = User.objects.update_or_create(
        email=HR_EMAIL,
        defaults={"full_name": "Helena Ruiz (HR)", "is_staff": True, "is_superuser": True},
    )
    hr.set_password(DEMO_PASSWORD)
    hr.save()
    manager, _ = User.objects.update_or_create(
        email=MANAGER_EMAIL, defaults={"full_name": "Mats Berg (Warehouse North)"}
    )
    manager.set_password(DEMO_PASSWORD)
    manager.save()
    warehouse_north = next(d for d, _ in units if d.name == "Warehouse North")
    membership_grant(user=hr, organization=organization, role=Role.ADMIN)
    membership_grant(
        user=manager, organization=organization, role=Role.MANAGER, scope_department=warehouse_north
    )
    for email, name, role in (
        (ANALYST_EMAIL, "Ari Novak (analyst)", Role.ANALYST),
        (VIEWER_EMAIL, "Vera Lind (viewer)", Role.VIEWER),
        (REPRESENTATIVE_EMAIL, "Rosa Koch (works council)", Role.REPRESENTATIVE),
    ):
        user, _ = User.objects.update_or_create(email=email, defaults={"full_name": name})
        user.set_password(DEMO_PASSWORD)
        user.save()
        membership_grant(user=user, organization=organization, role=role)


def _run_campaign(
    *,
    organization: Organization,
    instrument: Instrument,
    name: str,
    opens: dt.date,
    days_open: int,
    units: list[tuple[Department, Unit]],
    employees: list[Employee],
    rng: random.Random,
    share_of_rate: float,
    close: bool,
    progress: Progress,
    previous: Campaign | None = None,
    shift: dict[str, dict[str, float]] | None = None,
) -> Campaign:
    tz = timezone.get_current_timezone()
    opens_at = dt.datetime.combine(opens, dt.time(8, 0), tzinfo=tz)
    closes_at = opens_at + dt.timedelta(days=days_open)
    campaign = campaign_create(
        organization=organization,
        name=name,
        instrument=instrument,
        target_departments=[d for d, _ in units if d.depth == 0],
        opens_at=opens_at,
        closes_at=closes_at,
        reminder_days=[7, 14],
        attributes_used=list(DEMO_BREAKDOWNS),
        previous_campaign=previous,
    )
    campaign_transition(campaign=campaign, to=CampaignStatus.OPEN, now=opens_at)

    items = list(instrument.items.select_related("domain").order_by("position"))
    scales = [item.scale for item in items]
    by_department = {d.pk: u for d, u in units}
    invitations, responses = [], []
    days_elapsed = min(days_open, (timezone.localdate() - opens).days)
    for index, employee in enumerate(employees, start=1):
        unit = by_department[employee.department_id]
        answered = rng.random() < unit.response_rate * share_of_rate
        snapshot = {name: employee.attributes[name] for name in DEMO_BREAKDOWNS}
        completed_on = opens + dt.timedelta(days=rng.randint(0, max(days_elapsed - 1, 0)))
        invitations.append(
            Invitation(
                organization=organization,
                campaign=campaign,
                employee=employee,
                department_id=employee.department_id,
                language=employee.language,
                delivery_status="sent",
                completed_on=completed_on if answered else None,
                attributes=snapshot,
            )
        )
        if answered:
            responses.append(
                Response(
                    organization=organization,
                    campaign=campaign,
                    department_id=employee.department_id,
                    answers=encode_answers(
                        _simulate_answers(items, unit, rng, (shift or {}).get(unit.name)), scales
                    ),
                    attributes=snapshot,
                )
            )
        if index % 200 == 0 or index == len(employees):
            progress(f"  {index}/{len(employees)} employees invited, {len(responses)} answered")
    Invitation.objects.bulk_create(invitations, batch_size=500)
    # Stored in an order unrelated to the invitations, so row order cannot pair them either.
    rng.shuffle(responses)
    Response.objects.bulk_create(responses, batch_size=500)
    campaign_population_freeze(campaign=campaign)
    if close:
        campaign_close(campaign=campaign, now=closes_at)
    return campaign


def _simulate_answers(
    items: list, unit: Unit, rng: random.Random, shift: dict[str, float] | None = None
) -> list[int | None]:
    """One person's answers: a personal level per domain, item noise, a few skipped items.
    `shift` moves the unit's levels for one campaign (a team under more pressure then)."""
    shift = shift or {}
    levels = {
        code: base + unit.stress.get(code, 0.0) + shift.get(code, 0.0) + rng.gauss(0, 0.6)
        for code, base in BASELINE.items()
    }
    answers: list[int | None] = []
    for item in items:
        if rng.random() < 0.03:
            answers.append(None)
            continue
        level = levels.get(item.domain.code, 3.0) + rng.gauss(0, 0.5)
        value = min(5, max(1, round(level)))
        answers.append(6 - value if item.reverse else value)
    return answers
