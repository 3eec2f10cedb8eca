"""Builders shared by the survey tests: an open campaign with invitations and tokens."""

import datetime as dt

from django.utils import timezone

from accounts.services import department_create
from assessments.models import Campaign, Invitation
from assessments.services import campaign_launch, invitation_token_issue
from tests.factories import CampaignFactory, EmployeeFactory


def open_campaign(
    organization,
    instrument,
    *,
    people=3,
    languages=("en", "de"),
    employee_language="en",
    employee_attributes=None,
    **fields,
):
    """Launch a campaign on one department with `people` employees; returns the campaign."""
    department = department_create(organization=organization, name="Warehouse")
    for _ in range(people):
        EmployeeFactory(
            organization=organization,
            department=department,
            language=employee_language,
            attributes=dict(employee_attributes or {}),
        )
    now = timezone.now()
    campaign = CampaignFactory(
        organization=organization,
        instrument=instrument,
        languages=list(languages),
        opens_at=fields.pop("opens_at", now - dt.timedelta(hours=1)),
        closes_at=fields.pop("closes_at", now + dt.timedelta(days=14)),
        **fields,
    )
    campaign.target_departments.set([department])
    return campaign_launch(campaign=campaign)


def link_token(campaign: Campaign, index: int = 0) -> tuple[Invitation, str]:
    invitation = campaign.invitations.order_by("pk")[index]
    return invitation, invitation_token_issue(invitation=invitation)


def full_answers(instrument, value: int = 4) -> dict[str, str]:
    return {item.code: str(value) for item in instrument.items.all()}
