"""A closed campaign with answers in a small tree, for the scoring service and selectors."""

import datetime as dt

from django.utils import timezone

from accounts.services import department_create
from assessments.answers import encode_answers
from assessments.models import Campaign, CampaignStatus, Response
from assessments.selectors import instrument_spec
from tests.factories import CampaignFactory


def build_tree(organization):
    """Ops (5 people directly) → North (6) and Tiny (2); Sales (7)."""
    ops = department_create(organization=organization, name="Ops")
    north = department_create(organization=organization, name="North", parent=ops)
    tiny = department_create(organization=organization, name="Tiny", parent=ops)
    sales = department_create(organization=organization, name="Sales")
    return {"ops": ops, "north": north, "tiny": tiny, "sales": sales}


def add_responses(campaign: Campaign, department, count: int, value: int, **attributes):
    spec = instrument_spec(campaign.instrument_id)
    packed = encode_answers([value] * len(spec.items), spec.scales)
    Response.objects.bulk_create(
        Response(
            organization_id=campaign.organization_id,
            campaign=campaign,
            department=department,
            answers=packed,
            attributes=attributes,
        )
        for _ in range(count)
    )


def closed_campaign(organization, instrument, tree, *, k=5, **fields) -> Campaign:
    now = timezone.now()
    campaign = CampaignFactory(
        organization=organization,
        instrument=instrument,
        min_group_size=k,
        opens_at=now - dt.timedelta(days=10),
        closes_at=now + dt.timedelta(days=1),
        **fields,
    )
    campaign.target_departments.set([tree["ops"], tree["sales"]])
    Campaign.objects.filter(pk=campaign.pk).update(
        status=CampaignStatus.OPEN, launched_at=now - dt.timedelta(days=10)
    )
    add_responses(campaign, tree["ops"], 5, 3)
    add_responses(campaign, tree["north"], 6, 4)
    add_responses(campaign, tree["tiny"], 2, 1)
    add_responses(campaign, tree["sales"], 7, 2)
    campaign.refresh_from_db()
    return campaign
