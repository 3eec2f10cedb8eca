"""The Reports page: who may request which PDF, the live status list, and what each role sees."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from reports import rendering
from reports.models import Report, ReportStatus
from reports.services import report_render, report_request
from tests.assessments.survey_fixtures import open_campaign
from tests.reports.report_fixtures import build_scored_campaign
from tests.web.people import sign_in_as

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(core_instrument, organization):
    return build_scored_campaign(core_instrument, organization=organization)


def _client_as(client, scored, role, scope=None):
    return sign_in_as(client, scored.organization, role, scope, full_name=f"Pat {role.title()}")


def _url(scored, name="reports", campaign=None):
    campaign = campaign or scored.campaign
    return reverse(f"web:{name}", kwargs={"org": scored.organization.slug, "pk": campaign.pk})


def _errors(html: str, field: str) -> str:
    """The error text shown at one field of the request form ('' when there is none)."""
    found = re.search(rf'<ul class="errorlist" id="id_{field}_errors">(.*?)</ul>', html, re.S)
    return re.sub(r"<[^>]+>", " ", found.group(1)) if found else ""


def _row_titles(html: str) -> list[str]:
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    return [
        re.sub(r"<[^>]+>", "", title).strip()
        for title in re.findall(r'<th scope="row">(.*?)</th>', body)
    ]


def _fail_rendering(monkeypatch, message="the fonts are missing"):
    def refuse(**_kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr(rendering, "render_report", refuse)


def test_an_analyst_requests_the_german_organisation_report_and_downloads_it(
    client, scored, django_capture_on_commit_callbacks
):
    user = _client_as(client, scored, "analyst")
    page = client.get(_url(scored))
    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    assert 'value="organisation"' in page.content.decode()

    with django_capture_on_commit_callbacks() as enqueued:
        response = client.post(_url(scored), {"kind": "organisation", "language": "de"})
    assert response.status_code == 302 and response["Location"] == _url(scored)
    report = Report.objects.get(campaign=scored.campaign)
    assert (report.department, report.language, report.status) == (None, "de", "queued")
    assert report.requested_by == user

    html = client.get(_url(scored)).content.decode()
    assert "1 report requested" in html
    assert _row_titles(html) == ["Organisation report"]
    assert "German" in html and "Queued" in html and "Pat Analyst" in html
    # Queued: the list asks again until the report is finished.
    assert 'data-poll-seconds="' in html and _url(scored, "reports_status") in html
    assert 'aria-live="polite"' in html

    # The task the request enqueued on commit, run here (tasks are eager in tests).
    for callback in enqueued:
        callback()
    report.refresh_from_db()
    assert report.status == ReportStatus.DONE, report.error

    fragment = client.get(_url(scored, "reports_status"))
    assert fragment.status_code == 200
    assert "no-store" in fragment["Cache-Control"]
    text = fragment.content.decode()
    assert "Done" in text and "Queued" not in text
    download = reverse("reports:download", kwargs={"pk": report.pk})
    assert f'href="{download}"' in text
    # Nothing is queued or running any more: the fragment no longer asks to be polled.
    assert "data-poll-seconds" not in text and "hx-get" not in text
    pdf = client.get(download)
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")


def test_the_status_fragment_answers_nothing_while_nothing_changed(client, scored):
    _client_as(client, scored, "admin")
    client.post(_url(scored), {"kind": "organisation", "language": "en"})
    fragment = client.get(_url(scored, "reports_status")).content.decode()
    polled = re.search(r'hx-get="([^"]+)"', fragment).group(1).replace("&amp;", "&")
    unchanged = client.get(polled)
    assert unchanged.status_code == 204
    assert "no-store" in unchanged["Cache-Control"]
    Report.objects.filter(campaign=scored.campaign).update(status=ReportStatus.RUNNING)
    changed = client.get(polled)
    assert changed.status_code == 200 and "Running" in changed.content.decode()


def test_a_failed_report_shows_its_reason(client, scored, monkeypatch):
    _client_as(client, scored, "viewer")
    _fail_rendering(monkeypatch)
    report = report_request(campaign=scored.campaign, language="en")
    assert report_render(report_id=report.pk).status == ReportStatus.FAILED
    html = client.get(_url(scored)).content.decode()
    assert "Failed" in html
    assert "RuntimeError: the fonts are missing" in html
    assert reverse("reports:download", kwargs={"pk": report.pk}) not in html
    assert "data-poll-seconds" not in html


def test_a_manager_requests_and_sees_only_the_packs_of_their_subtree(client, scored):
    quay = scored.departments["quayside"]
    others = {
        "organisation": report_request(campaign=scored.campaign, language="en"),
        "beacon": report_request(
            campaign=scored.campaign, language="en", department=scored.departments["beacon"]
        ),
    }
    _client_as(client, scored, "manager", scope=quay)
    page = client.get(_url(scored)).content.decode()
    assert 'value="organisation"' not in page  # the organisation report is not theirs to ask
    options = re.search(r'<select name="department".*?</select>', page, re.S).group(0)
    assert quay.name in options and scored.departments["lighthouse"].name in options
    for key in ("beacon", "compass", "foghorn"):  # outside, or hidden (fewer than k)
        assert scored.departments[key].name not in options

    response = client.post(_url(scored), {"kind": "packs", "language": "de"})
    assert response.status_code == 302
    mine = Report.objects.filter(campaign=scored.campaign).exclude(
        pk__in=[r.pk for r in others.values()]
    )
    assert {(r.department.name, r.language) for r in mine} == {
        (quay.name, "de"),
        (scored.departments["lighthouse"].name, "de"),
    }
    html = client.get(_url(scored)).content.decode()
    assert "2 reports requested" in html
    assert sorted(_row_titles(html)) == sorted(
        [f"Pack: {quay.name}", f"Pack: {scored.departments['lighthouse'].name}"]
    )
    assert "Organisation report" not in html.split("<tbody>")[1]
    assert "Beacon Finance" not in html


def test_bad_requests_are_refused_at_their_field_and_create_nothing(client, scored):
    _client_as(client, scored, "manager", scope=scored.departments["quayside"])
    beacon = scored.departments["beacon"]
    refused = {
        "language": {"kind": "packs", "language": "fr"},
        "department": {"kind": "department", "department": beacon.pk, "language": "en"},
        "kind": {"kind": "organisation", "language": "en"},
    }
    for field, data in refused.items():
        response = client.post(_url(scored), data)
        assert response.status_code == 200, field
        html = response.content.decode()
        assert _errors(html, field), (field, html)
        assert not Report.objects.exists(), field
    html = client.post(_url(scored), refused["language"]).content.decode()
    assert "“fr” is not a language" in _errors(html, "language")
    assert "English, Deutsch" in _errors(html, "language")
    html = client.post(_url(scored), refused["department"]).content.decode()
    assert "choose a department in your scope" in _errors(html, "department")
    assert beacon.name not in html

    # An analyst asking for one pack without naming the department, or a hidden one.
    _client_as(client, scored, "analyst")
    html = client.post(_url(scored), {"kind": "department", "language": "en"}).content.decode()
    assert "Choose the department" in _errors(html, "department")
    foghorn = scored.departments["foghorn"]
    html = client.post(
        _url(scored), {"kind": "department", "department": foghorn.pk, "language": "en"}
    ).content.decode()
    assert _errors(html, "department")
    assert not Report.objects.exists()


def test_an_analyst_requests_one_department_pack(client, scored):
    _client_as(client, scored, "analyst")
    beacon = scored.departments["beacon"]
    response = client.post(
        _url(scored), {"kind": "department", "department": beacon.pk, "language": "en"}
    )
    assert response.status_code == 302
    report = Report.objects.get()
    assert (report.department, report.language) == (beacon, "en")


def test_a_viewer_sees_the_list_but_may_not_request(client, scored):
    report_request(campaign=scored.campaign, language="en")
    _client_as(client, scored, "viewer")
    page = client.get(_url(scored))
    html = page.content.decode()
    assert page.status_code == 200 and _row_titles(html) == ["Organisation report"]
    assert 'name="kind"' not in html and '<form method="post" class="stack"' not in html
    response = client.post(_url(scored), {"kind": "organisation", "language": "de"})
    assert response.status_code == 403
    assert Report.objects.count() == 1


def test_an_open_campaign_has_no_reports_page(client, scored, core_instrument):
    campaign = open_campaign(scored.organization, core_instrument)
    _client_as(client, scored, "admin")
    assert client.get(_url(scored, campaign=campaign)).status_code == 404
    assert client.get(_url(scored, "reports_status", campaign=campaign)).status_code == 404
    response = client.post(
        _url(scored, campaign=campaign), {"kind": "organisation", "language": "en"}
    )
    assert response.status_code == 404
    assert not Report.objects.exists()


def test_the_results_tabs_link_to_the_reports_page(client, scored):
    _client_as(client, scored, "viewer")
    html = client.get(_url(scored, "results")).content.decode()
    assert f'href="{_url(scored)}"' in html
