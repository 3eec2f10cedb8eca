"""The audit trail: each auditable action through the HR app writes exactly one entry, with
who, what and when, and never answers, tokens or figures."""

import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import AuditAction, AuditEntry, Membership
from reports.models import Report, ReportStatus
from tests.factories import MembershipFactory, UserFactory
from tests.reports.report_fixtures import build_scored_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(core_instrument, organization):
    return build_scored_campaign(core_instrument, organization=organization)


@pytest.fixture
def admin(client, organization):
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="admin")
    client.force_login(user)
    return user


def _one_new(action, before: set[int]) -> AuditEntry:
    new = AuditEntry.objects.exclude(pk__in=before)
    assert [entry.action for entry in new] == [action], list(new.values("action"))
    return new.get()


def _no_figures(entry: AuditEntry, scored) -> None:
    text = json.dumps([entry.subject, entry.detail])
    for cell in scored.run.rows.filter(suppressed=False)[:50]:
        assert f"{cell.mean}" not in text
    assert "token" not in text.lower()


def test_each_auditable_action_writes_exactly_one_entry(client, admin, organization, scored):
    org = organization.slug
    campaign = scored.campaign
    results = reverse("web:results", kwargs={"org": org, "pk": campaign.pk})
    heatmap = reverse("web:heatmap", kwargs={"org": org, "pk": campaign.pk})
    users = reverse("web:users", kwargs={"org": org})
    invite = {"email": "new.person@example.test", "role": "viewer"}
    lighthouse = scored.departments["lighthouse"]
    department = reverse(
        "web:results_department",
        kwargs={"org": org, "pk": campaign.pk, "department": lighthouse.pk},
    )
    area = reverse("web:results_domain", kwargs={"org": org, "pk": campaign.pk, "domain": "role"})
    export = reverse("web:results_export", kwargs={"org": org, "pk": campaign.pk})
    new_action = reverse("web:action_new", kwargs={"org": org})
    plan = {
        "campaign": campaign.pk,
        "department": lighthouse.pk,
        "domain_code": "demands",
        "title": "Weekly load check",
        "owner": "Team lead",
        "status": "planned",
    }
    steps = [
        (AuditAction.RESULTS_VIEWED, lambda: client.get(results)),
        (AuditAction.RESULTS_VIEWED, lambda: client.get(heatmap)),
        (AuditAction.RESULTS_VIEWED, lambda: client.get(department)),
        (AuditAction.RESULTS_VIEWED, lambda: client.get(area)),
        (AuditAction.RESULTS_EXPORTED, lambda: client.get(export)),
        (AuditAction.ACTION_CREATED, lambda: client.post(new_action, plan)),
        (AuditAction.USER_INVITED, lambda: client.post(users, invite)),
    ]
    for action, step in steps:
        before = set(AuditEntry.objects.values_list("pk", flat=True))
        assert step().status_code in (200, 302)
        entry = _one_new(action, before)
        assert entry.actor == admin and entry.actor_label == admin.email
        assert entry.organization_id == organization.pk
        _no_figures(entry, scored)

    member = Membership.objects.get(user__email="new.person@example.test")
    before = set(AuditEntry.objects.values_list("pk", flat=True))
    client.post(reverse("web:member", kwargs={"org": org, "pk": member.pk}), {"role": "analyst"})
    assert _one_new(AuditAction.ROLE_CHANGED, before).detail == {"role": "analyst"}
    before = set(AuditEntry.objects.values_list("pk", flat=True))
    client.post(reverse("web:member_remove", kwargs={"org": org, "pk": member.pk}))
    assert _one_new(AuditAction.ROLE_REMOVED, before).subject == "new.person@example.test"

    report = Report.objects.create(
        organization=organization,
        campaign=campaign,
        result_run=scored.run,
        language="en",
        status=ReportStatus.DONE,
    )
    report.file.save("org.pdf", ContentFile(b"%PDF-1.7 audit"))
    before = set(AuditEntry.objects.values_list("pk", flat=True))
    response = client.get(reverse("reports:download", args=[report.pk]))
    b"".join(response.streaming_content)
    _one_new(AuditAction.REPORT_DOWNLOADED, before)

    upload = SimpleUploadedFile(
        "people.csv", b"kind,external_id,name\ndepartment,NEW,New team\n", content_type="text/csv"
    )
    preview = client.post(
        reverse("web:import", kwargs={"org": org}), {"file": upload, "mode": "delta"}
    )
    pk = int(preview["Location"].rstrip("/").rsplit("/", 1)[1])
    before = set(AuditEntry.objects.values_list("pk", flat=True))
    client.post(reverse("web:import_apply", kwargs={"org": org, "pk": pk}))
    assert _one_new(AuditAction.DIRECTORY_IMPORTED, before).subject == "people.csv"


def test_a_refused_change_writes_no_entry(client, admin, organization):
    mine = Membership.objects.get(user=admin)
    before = AuditEntry.objects.count()
    client.post(reverse("web:member_remove", kwargs={"org": organization.slug, "pk": mine.pk}))
    assert AuditEntry.objects.count() == before  # the last admin stays, and nothing is logged


def test_launching_and_closing_a_campaign_are_recorded(
    client, admin, organization, core_instrument, django_capture_on_commit_callbacks
):
    from accounts.services import department_create
    from tests.factories import CampaignFactory, EmployeeFactory

    team = department_create(organization=organization, name="Harbour")
    for _ in range(6):
        EmployeeFactory(organization=organization, department=team)
    from django.utils import timezone

    campaign = CampaignFactory(
        organization=organization,
        instrument=core_instrument,
        opens_at=timezone.now() - timezone.timedelta(hours=1),
        closes_at=timezone.now() + timezone.timedelta(days=7),
    )
    campaign.target_departments.set([team])
    org = organization.slug
    for name, action in (
        ("web:campaign_launch", AuditAction.CAMPAIGN_LAUNCHED),
        ("web:campaign_close", AuditAction.CAMPAIGN_CLOSED),
    ):
        before = set(AuditEntry.objects.values_list("pk", flat=True))
        with django_capture_on_commit_callbacks(execute=True):
            client.post(reverse(name, kwargs={"org": org, "pk": campaign.pk}))
        entry = _one_new(action, before)
        assert entry.subject == f"campaign {campaign.pk}: {campaign.name}"


def test_admins_and_representatives_read_the_trail_and_nobody_else(
    client, admin, organization, scored
):
    client.get(reverse("web:results", kwargs={"org": organization.slug, "pk": scored.campaign.pk}))
    page = client.get(reverse("web:audit", kwargs={"org": organization.slug}))
    assert "no-store" in page["Cache-Control"]
    assert "Results viewed" in page.content.decode() and admin.email in page.content.decode()
    viewer = MembershipFactory(organization=organization, role="viewer").user
    client.force_login(viewer)
    assert client.get(reverse("web:audit", kwargs={"org": organization.slug})).status_code == 403
    analyst = MembershipFactory(organization=organization, role="analyst").user
    client.force_login(analyst)
    assert client.get(reverse("web:audit", kwargs={"org": organization.slug})).status_code == 403
    # An employee representative (works council) checks who looked at what: the analyst's
    # look at the heatmap is there, and so is their own look at the results.
    representative = MembershipFactory(organization=organization, role="representative").user
    client.force_login(analyst)
    client.get(reverse("web:heatmap", kwargs={"org": organization.slug, "pk": scored.campaign.pk}))
    client.force_login(representative)
    client.get(reverse("web:results", kwargs={"org": organization.slug, "pk": scored.campaign.pk}))
    page = client.get(reverse("web:audit", kwargs={"org": organization.slug}))
    assert page.status_code == 200
    html = page.content.decode()
    assert analyst.email in html and representative.email in html
    assert (
        "Audit trail"
        in client.get(reverse("web:org_home", kwargs={"org": organization.slug})).content.decode()
    )
    # Beyond a viewer's reading, nothing: no participation, no export, no campaign changes.
    for name in ("participation", "campaign_close", "campaign_edit"):
        url = reverse(f"web:{name}", kwargs={"org": organization.slug, "pk": scored.campaign.pk})
        assert client.get(url).status_code == 403, name
    for name in ("users", "departments", "import"):
        url = reverse(f"web:{name}", kwargs={"org": organization.slug})
        assert client.get(url).status_code == 403, name
