"""Scoring issues the same number of queries whatever the size of the campaign."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import department_create
from results.models import DomainResult, ResultRun
from results.services import campaign_close, result_run_execute
from tests.reports.scoring_fixtures import add_responses, build_tree, closed_campaign

pytestmark = pytest.mark.django_db


def _score(campaign) -> tuple[int, int]:
    campaign_close(campaign=campaign)
    run = ResultRun.objects.get(campaign=campaign)
    with CaptureQueriesContext(connection) as queries:
        result_run_execute(run_id=run.pk)
    return len(queries), DomainResult.objects.filter(run=run).count()


def test_query_count_does_not_grow_with_departments_or_responses(
    organization, other_organization, core_instrument
):
    small = closed_campaign(
        organization, core_instrument, build_tree(organization), attributes_used=["tenure_band"]
    )
    small_queries, small_cells = _score(small)

    tree = build_tree(other_organization)
    large = closed_campaign(
        other_organization, core_instrument, tree, attributes_used=["tenure_band"]
    )
    parent = tree["sales"]
    for index in range(40):
        parent = department_create(
            organization=other_organization, name=f"Team {index}", parent=tree["sales"]
        )
        add_responses(large, parent, 12, 1 + index % 5, tenure_band=f"band {index % 3}")
    large_queries, large_cells = _score(large)

    assert large_cells > 10 * small_cells
    assert large_queries == small_queries, (small_queries, large_queries)
