"""Result rows: a suppressed cell can hold no figure; one current run per campaign."""

import pytest
from django.db import IntegrityError, transaction

from results.models import RESULT_FIGURES, DomainResult, ResultRun, RunStatus
from tests.factories import CampaignFactory, DepartmentFactory, ResultRunFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(organization, core_instrument):
    campaign = CampaignFactory(organization=organization, instrument=core_instrument)
    return ResultRunFactory(campaign=campaign, organization=organization)


def test_suppressed_cell_without_figures_is_stored(run):
    department = DepartmentFactory(organization=run.organization)
    row = DomainResult.objects.create(
        run=run, department=department, domain_code="demands", suppressed=True
    )
    assert all(getattr(row, name) is None for name in RESULT_FIGURES)


FIGURE_VALUES = {
    "n": 3,
    "mean": 2.5,
    "sd": 0.4,
    "share_high_risk": 0.1,
    "risk_score": 40.0,
    "band": "good",
    "trend_diff": 0.2,
    "trend_ci_low": -0.1,
    "trend_ci_high": 0.5,
    "trend_significant": False,
    "band_counts": {"urgent": 1, "improve": 0, "good": 1, "well": 1},
}


@pytest.mark.parametrize("figure", RESULT_FIGURES)
def test_database_refuses_any_figure_on_a_suppressed_cell(run, figure):
    department = DepartmentFactory(organization=run.organization)
    with pytest.raises(IntegrityError), transaction.atomic():
        DomainResult.objects.create(
            run=run,
            department=department,
            domain_code="demands",
            suppressed=True,
            **{figure: FIGURE_VALUES[figure]},
        )
    assert set(FIGURE_VALUES) == set(RESULT_FIGURES)


def test_published_cell_needs_n_and_mean(run):
    with pytest.raises(IntegrityError), transaction.atomic():
        DomainResult.objects.create(run=run, domain_code="demands", suppressed=False, n=8)
    DomainResult.objects.create(run=run, domain_code="demands", suppressed=False, n=8, mean=3.1)


def test_published_cell_below_three_respondents_is_refused(run):
    with pytest.raises(IntegrityError), transaction.atomic():
        DomainResult.objects.create(run=run, domain_code="control", suppressed=False, n=2, mean=3)


def test_one_organisation_cell_per_domain_and_run(run):
    DomainResult.objects.create(run=run, domain_code="demands", suppressed=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        DomainResult.objects.create(run=run, domain_code="demands", suppressed=True)


def test_only_one_current_run_per_campaign_and_only_when_done(run):
    run.status = RunStatus.DONE
    run.is_current = True
    run.save()
    second = ResultRunFactory(
        campaign=run.campaign, organization=run.organization, status=RunStatus.DONE
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        ResultRun.objects.filter(pk=second.pk).update(is_current=True)
    pending = ResultRunFactory(
        campaign=CampaignFactory(organization=run.organization, instrument=run.campaign.instrument),
        organization=run.organization,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        ResultRun.objects.filter(pk=pending.pk).update(is_current=True)
