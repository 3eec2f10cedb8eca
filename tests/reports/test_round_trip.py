"""Close → score → report, for a first campaign and a follow-up with trends, through the
services a worker runs. Runs under `make test` (SQLite) and in CI (PostgreSQL)."""

import pytest

from reports.models import ReportStatus
from reports.services import report_render, report_request
from results.models import DomainResult, RunStatus
from tests.reports.pdf_tools import flat, pdf_text
from tests.reports.report_fixtures import build_scored_campaign

pytestmark = pytest.mark.django_db


def _organisation_report_text(scored) -> str:
    report = report_request(campaign=scored.campaign, language="en")
    report = report_render(report_id=report.pk)
    assert report.status == ReportStatus.DONE, report.error
    with report.file.open("rb") as handle:
        return flat(pdf_text(handle.read()))


def test_a_first_and_a_follow_up_campaign_are_scored_and_reported(core_instrument):
    first = build_scored_campaign(core_instrument)
    assert first.run.status == RunStatus.DONE
    assert "No significant changes" in _organisation_report_text(first)

    # Everyone answers a point higher: demands go up, so do the supportive domains.
    follow_up = build_scored_campaign(
        core_instrument, follow_up_of=first, name="Autumn pulse 2031", shift=1
    )
    assert follow_up.run.status == RunStatus.DONE, follow_up.run.error
    trends = DomainResult.objects.filter(run=follow_up.run, trend_diff__isnull=False)
    assert trends.exists()
    significant = trends.filter(trend_significant=True)
    assert significant.exists()
    assert all(isinstance(cell.trend_significant, bool) for cell in trends)
    text = _organisation_report_text(follow_up)
    assert "Largest significant changes since the previous survey" in text
    cell = significant.order_by("-trend_diff").first()
    assert f"{cell.trend_diff:.2f}" in text
