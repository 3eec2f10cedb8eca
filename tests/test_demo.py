"""`manage.py seed_demo`: a realistic organisation, the same for the same seed, never doubled."""

import hashlib
import io
from collections import Counter

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Department, Employee, Membership, Organization, Role, User
from assessments.models import Campaign, CampaignStatus, Instrument, Invitation, Response
from demo.seed import DEMO_PASSWORD, DEMO_SLUG, HR_EMAIL, MANAGER_EMAIL

pytestmark = pytest.mark.django_db


def _seed(seed: int, *, reports: bool = False) -> str:
    out = io.StringIO()
    # --force: under CI the test database is PostgreSQL, not the embedded SQLite file.
    call_command("seed_demo", seed=seed, force=True, no_reports=not reports, stdout=out)
    return out.getvalue()


def _fingerprint() -> str:
    """What a person sees, independent of database ids, UUIDs and token hashes."""
    org = Organization.objects.get(slug=DEMO_SLUG)
    names = dict(Department.objects.for_organization(org).values_list("pk", "name"))
    parts = sorted(
        (names[d.pk], names.get(d.parent_id, ""), d.depth)
        for d in Department.objects.for_organization(org)
    )
    people = sorted(
        (e.external_id, e.email, names[e.department_id], e.language, sorted(e.attributes.items()))
        for e in Employee.objects.for_organization(org)
    )
    answers = sorted(
        (c, names[d], bytes(a).hex())
        for c, d, a in Response.objects.for_organization(org).values_list(
            "campaign__name", "department_id", "answers"
        )
    )
    completed = sorted(
        (e, str(c))
        for e, c in Invitation.objects.for_organization(org).values_list(
            "employee__external_id", "completed_on"
        )
    )
    return hashlib.sha256(repr((parts, people, answers, completed)).encode()).hexdigest()


def test_seed_builds_a_realistic_organisation(core_instrument):
    output = _seed(1)
    org = Organization.objects.get(slug=DEMO_SLUG)
    departments = Department.objects.for_organization(org)
    assert 24 <= departments.count() <= 30
    assert {d.depth for d in departments} == {0, 1, 2, 3}  # four levels
    # Everyone but the two starters the HRIS sync added after the campaigns were launched.
    headcount = Counter(
        Employee.objects.for_organization(org)
        .exclude(external_id__startswith="E9")
        .values_list("department_id", flat=True)
    )
    small = [d for d in departments if 0 < headcount[d.pk] < 5]
    assert len(small) >= 3, "some departments must fall below the default k of 5"
    assert 700 <= sum(headcount.values()) <= 900

    # Last year's baseline, this spring's campaign (its follow-up) and the open autumn one.
    baseline, closed, opened = Campaign.objects.for_organization(org).order_by("opens_at")
    assert [c.status for c in (baseline, closed, opened)] == [
        CampaignStatus.CLOSED, CampaignStatus.CLOSED, CampaignStatus.OPEN
    ]  # fmt: skip
    assert opened.previous_campaign == closed and closed.previous_campaign == baseline
    for campaign in (baseline, closed, opened):
        invited = Invitation.objects.filter(campaign=campaign)
        assert invited.count() == sum(headcount.values())
        # Exactly one response per completed invitation, and none without one.
        completed = invited.filter(completed_on__isnull=False).count()
        assert Response.objects.filter(campaign=campaign).count() == completed > 0
    assert 0.5 < Response.objects.filter(campaign=closed).count() / sum(headcount.values()) < 0.9

    item_count = core_instrument.items.count()
    assert {len(bytes(a)) for a in Response.objects.values_list("answers", flat=True)} == {
        item_count
    }
    assert HR_EMAIL in output and MANAGER_EMAIL in output and DEMO_PASSWORD in output
    hr = User.objects.get(email=HR_EMAIL)
    assert hr.check_password(DEMO_PASSWORD) and hr.is_staff
    manager = Membership.objects.get(user__email=MANAGER_EMAIL)
    assert manager.role == Role.MANAGER
    assert manager.scope_department.name == "Warehouse North"
    # A login for every role, each printed and each able to sign in.
    roles = dict(
        Membership.objects.filter(organization__slug=DEMO_SLUG).values_list("user__email", "role")
    )
    assert set(roles.values()) == set(Role.values)
    for email in roles:
        assert email in output
        assert User.objects.get(email=email).check_password(DEMO_PASSWORD)
    assert "/login/" in output


def _domain_means(org, campaign_name: str) -> dict[str, dict[str, float]]:
    """Mean item value per department name and domain (reverse items turned back)."""
    instrument = Instrument.objects.get(code="plimsoll-core")
    items = list(instrument.items.select_related("domain").order_by("position"))
    names = dict(Department.objects.for_organization(org).values_list("pk", "name"))
    sums: dict[tuple[str, str], list[int]] = {}
    rows = Response.objects.for_organization(org).filter(campaign__name=campaign_name)
    for department_id, answers in rows.values_list("department_id", "answers"):
        for item, code in zip(items, bytes(answers), strict=True):
            if code:
                value = 6 - code if item.reverse else code
                sums.setdefault((names[department_id], item.domain.code), []).append(value)
    means: dict[str, dict[str, float]] = {}
    for (name, domain), values in sums.items():
        means.setdefault(name, {})[domain] = sum(values) / len(values)
    return means


def test_stress_patterns_differ_by_department(core_instrument):
    _seed(1)
    org = Organization.objects.get(slug=DEMO_SLUG)
    spring = Campaign.objects.for_organization(org).filter(status=CampaignStatus.CLOSED).first()
    means = _domain_means(org, spring.name)
    # The night shift carries far more exhaustion than people & culture, and less control.
    assert means["Night Shift"]["exhaustion"] > means["People & Culture"]["exhaustion"] + 0.7
    assert means["Night Shift"]["control"] < means["People & Culture"]["control"] - 0.7
    assert means["Customer Service"]["relationships"] > means["Finance"]["relationships"] + 0.5


def test_same_seed_same_organisation_and_rerun_does_not_duplicate(core_instrument):
    _seed(7)
    first = _fingerprint()
    counts = (
        Department.objects.count(),
        Employee.objects.count(),
        Response.objects.count(),
        Invitation.objects.count(),
        Campaign.objects.count(),
        User.objects.count(),
    )
    _seed(7)
    assert _fingerprint() == first
    assert Organization.objects.filter(slug=DEMO_SLUG).count() == 1
    assert (
        Department.objects.count(),
        Employee.objects.count(),
        Response.objects.count(),
        Invitation.objects.count(),
        Campaign.objects.count(),
        User.objects.count(),
    ) == counts
    _seed(8)
    assert _fingerprint() != first


def test_seed_shows_progress(core_instrument):
    output = _seed(1)
    assert "employees invited" in output
    assert output.count("\n") > 8


def test_seed_without_instrument_says_what_to_run(db):
    with pytest.raises(CommandError, match="load_instruments"):
        _seed(1)


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_seed_refuses_a_server_database_without_force(core_instrument, settings):
    # A new dict, so the fixture restores it and live connections keep their own settings.
    settings.DATABASES = {
        **settings.DATABASES,
        "default": {**settings.DATABASES["default"], "ENGINE": "django.db.backends.postgresql"},
    }
    with pytest.raises(CommandError, match="published password"):
        call_command("seed_demo", seed=1, stdout=io.StringIO())


def test_seed_never_replaces_an_organisation_it_did_not_make(core_instrument):
    Organization.objects.create(name="Real customer", slug=DEMO_SLUG)
    with pytest.raises(CommandError, match="is not the demo organisation"):
        _seed(1)
    assert Organization.objects.get(slug=DEMO_SLUG).name == "Real customer"


def test_seed_prints_working_survey_links_and_reports(core_instrument, client):
    from reports.models import Report, ReportStatus
    from results.models import ResultRun

    output = _seed(1, reports=True)
    links = [line.strip() for line in output.splitlines() if "/s/" in line]
    assert len(links) == 3
    path = links[0].split("127.0.0.1:8000", 1)[1]
    assert client.get(path).status_code == 302
    # Both closed campaigns are scored and the spring one's reports are rendered.
    assert ResultRun.objects.filter(is_current=True, status="done").count() == 2
    reports = Report.objects.all()
    assert reports.count() == 3
    assert {r.status for r in reports} == {ReportStatus.DONE}
    assert all(r.file.open("rb").read(5) == b"%PDF-" for r in reports)
    assert output.count("/reports/") == 3


def test_report_pngs_writes_every_page_of_the_demo_reports(core_instrument, tmp_path):
    """`make report-pngs`: one PNG per page of each finished demo report, none left out."""
    import re
    import subprocess

    from reports.models import Report
    from reports.services import report_filename

    _seed(1, reports=True)
    out = io.StringIO()
    call_command("report_pngs", out=tmp_path, dpi=20, stdout=out)
    for report in Report.objects.all():
        stem = report_filename(report).removesuffix(".pdf")
        info = subprocess.run(
            ["pdfinfo", "-"], input=report.file.open("rb").read(), capture_output=True, check=True
        )
        pages = int(re.search(rb"Pages:\s+(\d+)", info.stdout).group(1))
        pngs = sorted(tmp_path.glob(f"{stem}-*.png"))
        assert len(pngs) == pages > 1, stem
        assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
        assert f"{stem}: {pages} pages" in out.getvalue()


def test_report_pngs_without_reports_says_what_to_run(db, tmp_path):
    with pytest.raises(CommandError, match="make demo"):
        call_command("report_pngs", out=tmp_path)


def test_the_demo_shows_actions_and_what_they_changed(core_instrument):
    """Last year's actions on demands in warehouse north and field sales worked (the spring
    campaign shows them improved significantly); customer service's on control is unchanged."""
    from accounts.permissions import access_for_organization
    from reports.effectiveness import Verdict, actions_effectiveness
    from reports.models import Action

    _seed(1)
    org = Organization.objects.get(slug=DEMO_SLUG)
    baseline = Campaign.objects.for_organization(org).order_by("opens_at").first()
    old = Action.objects.filter(campaign=baseline).select_related("department")
    effects = actions_effectiveness(access=access_for_organization(org), actions=old)
    verdicts = {a.department.name: effects[a.pk].verdict for a in old}
    assert verdicts["Warehouse North"] == Verdict.IMPROVED
    assert verdicts["Field Sales"] == Verdict.IMPROVED
    assert verdicts["Customer Service"] == Verdict.UNCHANGED
    assert Action.objects.filter(campaign__organization=org).exclude(campaign=baseline).exists()


def test_the_printed_api_key_reads_the_demo_directory(core_instrument):
    import re

    from rest_framework.test import APIClient

    output = _seed(1)
    key = re.search(r"read-only scopes\): (\S+)", output).group(1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = client.get("/api/v1/directory/departments")
    assert response.status_code == 200 and response.json()["results"]
    assert "/api/v1/docs/" in output


def test_the_demo_has_an_applied_sync_and_one_waiting_for_approval(core_instrument):
    from accounts.models import SyncRun

    _seed(1)
    org = Organization.objects.get(slug=DEMO_SLUG)
    runs = {run.mode: run for run in SyncRun.objects.for_organization(org)}
    assert runs["delta"].status == "applied"
    assert len(runs["delta"].changes["employees_created"]) == 2
    assert len(runs["delta"].changes["employees_moved"]) == 1
    waiting = runs["full"]
    assert waiting.status == "awaiting_approval"
    assert waiting.reasons and waiting.payload["employees"]  # kept for the admin's decision
    assert not waiting.changes["employees_created"]


def test_the_demo_has_a_webhook_endpoint_switched_off(core_instrument):
    from webhooks.models import WebhookEndpoint

    _seed(1)
    org = Organization.objects.get(slug=DEMO_SLUG)
    endpoint = WebhookEndpoint.objects.get(organization=org)
    assert not endpoint.is_active and endpoint.url.startswith("https://")
    assert not endpoint.deliveries.exists()  # nothing is sent to an address that does not exist
