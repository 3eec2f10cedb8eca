"""A campaign with no or too few responses gets a report that says so, not one that implies
that all is well, and never prints how many answered."""

import pytest
from django.utils import timezone

from accounts.services import department_create
from assessments.models import Campaign, CampaignStatus
from reports.rendering import render_report
from results.services import result_run_execute, result_run_request
from tests.factories import CampaignFactory
from tests.reports.pdf_tools import flat, pdf_text
from tests.reports.scoring_fixtures import add_responses

pytestmark = pytest.mark.django_db


def _closed(organization, instrument, answered: int):
    department = department_create(organization=organization, name="Small team")
    campaign = CampaignFactory(organization=organization, instrument=instrument)
    campaign.target_departments.set([department])
    now = timezone.now()
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.CLOSED, launched_at=now, closed_at=now
    )
    add_responses(campaign, department, answered, 3)
    run = result_run_execute(run_id=result_run_request(campaign=campaign).pk)
    assert run.status == "done", run.error
    return campaign


@pytest.mark.parametrize("answered", [0, 3])
@pytest.mark.parametrize("language", ["en", "de"])
def test_too_few_responses_are_named_plainly(organization, core_instrument, answered, language):
    campaign = _closed(organization, core_instrument, answered)
    rendered = render_report(campaign=campaign, language=language)
    text = flat(pdf_text(rendered.pdf))
    heading = {"en": "Too few responses to show results", "de": "Zu wenige Antworten"}[language]
    assert heading in text
    assert rendered.pages <= 4
    for misleading in ("No department has a domain in a band that needs action", "Heatmap"):
        assert misleading not in text
    assert f"{answered} responses" not in text and f"{answered} Antworten" not in text
