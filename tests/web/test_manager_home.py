"""A manager signs in and finds their part of the latest results, their pack and their actions;
nothing of the rest of the organisation."""

from __future__ import annotations

import re

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from reports.models import Report, ReportStatus
from results.scoring import OVERALL, RESPONDENTS
from results.selectors import current_run
from tests.factories import MembershipFactory, UserFactory
from tests.reports.report_fixtures import (
    OUTSIDE_ACTION,
    OVERDUE_ACTION,
    PLANNED_ACTION,
    build_scored_campaign,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def scored(core_instrument, organization):
    return build_scored_campaign(core_instrument, organization=organization)


def _pack(scored, key, language="en"):
    report = Report.objects.create(
        organization=scored.organization,
        campaign=scored.campaign,
        department=scored.departments[key],
        language=language,
        status=ReportStatus.DONE,
        result_run=scored.run,
    )
    report.file.save(f"{key}.pdf", ContentFile(b"%PDF-1.7 pack"))
    return report


def test_a_manager_home_shows_their_latest_results_pack_and_actions(client, scored):
    quayside = scored.departments["quayside"]
    mine, theirs = _pack(scored, "quayside"), _pack(scored, "beacon")
    user = UserFactory()
    MembershipFactory(
        user=user, organization=scored.organization, role="manager", scope_department=quayside
    )
    client.force_login(user)
    html = client.get(reverse("web:org_home", kwargs={"org": scored.organization.slug})).content
    html = html.decode()
    latest = html.split('id="latest"')[1].split("</section>")[0]
    cells = {
        c.domain_code: c
        for c in current_run(campaign=scored.campaign).rows.filter(
            department=quayside, breakdown_attribute="", domain_code__in=[OVERALL, RESPONDENTS]
        )
    }
    assert f"Average risk score {cells[OVERALL].risk_score:.0f} of 100" in latest
    assert f"{cells[RESPONDENTS].n} respondents" in latest
    department_url = reverse(
        "web:results_department",
        kwargs={
            "org": scored.organization.slug,
            "pk": scored.campaign.pk,
            "department": quayside.pk,
        },
    )
    assert department_url in latest
    assert reverse("reports:download", args=[mine.pk]) in latest
    assert reverse("reports:download", args=[theirs.pk]) not in html
    # Their open actions with due dates, overdue ones marked; none from elsewhere.
    assert OVERDUE_ACTION in html and PLANNED_ACTION in html and OUTSIDE_ACTION not in html
    assert re.search(rf"{OVERDUE_ACTION}.*?overdue", html, re.S)
    for other in ("Beacon Finance", "Compass Sales", "Keel Works"):
        assert other not in html


def test_hr_sees_the_organisation_at_the_top_of_the_latest_results(client, scored):
    user = UserFactory()
    MembershipFactory(user=user, organization=scored.organization, role="viewer")
    client.force_login(user)
    html = client.get(reverse("web:org_home", kwargs={"org": scored.organization.slug})).content
    latest = html.decode().split('id="latest"')[1].split("</section>")[0]
    assert "The whole organisation" in latest
    assert (
        reverse("web:results", kwargs={"org": scored.organization.slug, "pk": scored.campaign.pk})
        in latest
    )
