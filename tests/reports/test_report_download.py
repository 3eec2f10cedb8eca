"""`/reports/<pk>/download/`: a finished PDF for whoever's scope covers it, 404 for anyone else."""

from __future__ import annotations

import re

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from accounts.models import Role
from accounts.services import department_create
from reports.models import Report, ReportStatus
from reports.pdf import html_to_pdf
from reports.services import report_filename, report_render, report_request
from results.models import ResultRun, RunStatus
from tests.factories import CampaignFactory, MembershipFactory, OrganizationFactory, UserFactory
from tests.reports.pdf_tools import pdf_text
from tests.reports.report_fixtures import build_scored_campaign

pytestmark = pytest.mark.django_db

FILENAME = re.compile(r'^attachment; filename="([a-z0-9][a-z0-9-]*\.pdf)"$')


@pytest.fixture(scope="module")
def pdf_bytes():
    return html_to_pdf("<h1>Quarterly results</h1>")[0]


@pytest.fixture
def world(organization, core_instrument, pdf_bytes):
    """Quayside (Lighthouse below it) and Beacon; finished reports for the organisation and
    three packs, plus a queued and a failed one."""
    quayside = department_create(organization=organization, name="Quayside Operations")
    lighthouse = department_create(organization=organization, name="Lighthouse", parent=quayside)
    beacon = department_create(organization=organization, name="Beacon Finance")
    campaign = CampaignFactory(
        organization=organization, instrument=core_instrument, name="Spring pulse"
    )
    run = ResultRun.objects.create(
        organization=organization, campaign=campaign, status=RunStatus.DONE, is_current=True
    )

    def report(department=None, status=ReportStatus.DONE, language="en"):
        made = Report.objects.create(
            organization=organization,
            campaign=campaign,
            department=department,
            language=language,
            result_run=run,
            status=status,
        )
        if status != ReportStatus.QUEUED:
            made.file.save(report_filename(made), ContentFile(pdf_bytes))
        return made

    return {
        "organisation": report(),
        "quayside": report(quayside),
        "lighthouse": report(lighthouse, language="de"),
        "beacon": report(beacon),
        "queued": report(status=ReportStatus.QUEUED),
        "failed": report(status=ReportStatus.FAILED, language="de"),
        "departments": {"quayside": quayside, "lighthouse": lighthouse, "beacon": beacon},
    }


def _url(report: Report) -> str:
    return reverse("reports:download", args=[report.pk])


def _member(organization, role, department=None):
    return MembershipFactory(organization=organization, role=role, scope_department=department).user


def _download(client, report: Report):
    response = client.get(_url(report))
    # Reading the stream to its end closes the response (and its file) the way the test client
    # expects; closing it again would close the test's database connection on PostgreSQL.
    body = b"".join(response.streaming_content) if response.status_code == 200 else b""
    return response, body


def test_url_name():
    assert reverse("reports:download", args=[7]) == "/reports/7/download/"


def test_anonymous_visitors_are_sent_to_the_login(client, world):
    response = client.get(_url(world["organisation"]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))
    assert f"next={_url(world['organisation'])}" in response["Location"]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.ANALYST, Role.VIEWER])
def test_members_who_see_the_organisation_get_its_report(client, organization, world, role):
    client.force_login(_member(organization, role))
    for name in ("organisation", "quayside", "lighthouse", "beacon"):
        response, body = _download(client, world[name])
        assert response.status_code == 200, name
        assert response["Content-Type"] == "application/pdf"
        filename = FILENAME.match(response["Content-Disposition"]).group(1)
        assert filename == world[name].file.name.rsplit("/", 1)[1]
        assert filename.startswith(f"{organization.slug}-spring-pulse-")
        assert body.startswith(b"%PDF-") and body == world[name].file.open("rb").read()
        world[name].file.close()
    response, _ = _download(client, world["organisation"])
    assert FILENAME.match(response["Content-Disposition"]).group(1) == (
        f"{organization.slug}-spring-pulse-organisation-en.pdf"
    )


def test_a_manager_gets_the_packs_of_their_subtree_only(client, organization, world):
    client.force_login(_member(organization, Role.MANAGER, world["departments"]["quayside"]))
    assert _download(client, world["quayside"])[0].status_code == 200
    response, body = _download(client, world["lighthouse"])
    assert response.status_code == 200 and body.startswith(b"%PDF-")
    assert FILENAME.match(response["Content-Disposition"]).group(1).endswith("-lighthouse-de.pdf")
    assert _download(client, world["organisation"])[0].status_code == 404
    assert _download(client, world["beacon"])[0].status_code == 404

    # A manager lower down does not see the pack of the department above.
    client.force_login(_member(organization, Role.MANAGER, world["departments"]["lighthouse"]))
    assert _download(client, world["lighthouse"])[0].status_code == 200
    assert _download(client, world["quayside"])[0].status_code == 404


def test_people_of_another_organisation_get_nothing(client, world):
    outsider = _member(OrganizationFactory(), Role.ADMIN)
    client.force_login(outsider)
    for name in ("organisation", "quayside", "beacon"):
        assert _download(client, world[name])[0].status_code == 404
    client.force_login(UserFactory())  # no membership at all
    assert _download(client, world["organisation"])[0].status_code == 404


def test_unfinished_and_failed_reports_cannot_be_downloaded(client, organization, world):
    client.force_login(_member(organization, Role.ADMIN))
    assert _download(client, world["queued"])[0].status_code == 404
    # A failed report keeps an older file, but it is not handed out.
    assert world["failed"].file
    assert _download(client, world["failed"])[0].status_code == 404
    assert client.get(reverse("reports:download", args=[987654])).status_code == 404
    assert client.post(_url(world["organisation"])).status_code == 405


def test_a_superuser_has_no_special_reach_outside_the_admin_site(client, world):
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    assert _download(client, world["beacon"])[0].status_code == 404
    # The admin site is where a superuser works: its own download serves the file.
    response = client.get(reverse("admin:reports_report_download", args=[world["beacon"].pk]))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    from accounts.models import AuditEntry

    # The admin site's download is in the organisation's audit trail too.
    entry = AuditEntry.objects.get(action="report_downloaded")
    assert (
        entry.organization_id == world["beacon"].organization_id and "admin site" in entry.subject
    )


def test_a_rendered_report_downloads_end_to_end(client, core_instrument, organization):
    scored = build_scored_campaign(core_instrument, organization=organization)
    report = report_request(
        campaign=scored.campaign, language="en", department=scored.departments["lighthouse"]
    )
    report = report_render(report_id=report.pk)
    manager = _member(organization, Role.MANAGER, scored.departments["quayside"])
    client.force_login(manager)
    response, body = _download(client, report)
    assert response.status_code == 200
    # No browser or proxy may keep a copy of a results file.
    assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    assert (
        FILENAME.match(response["Content-Disposition"])
        .group(1)
        .startswith(f"{organization.slug}-spring-pulse-2031-lighthouse-crew-en")
    )
    text = pdf_text(body)
    assert "Lighthouse Crew" in text and "Beacon Finance" not in text
