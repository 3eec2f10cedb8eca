"""Shared by management commands: find what a command was pointed at, or say what is wrong."""

from django.core.management.base import CommandError

from assessments.models import Campaign


def campaign_or_error(campaign_id: int) -> Campaign:
    campaign = Campaign.objects.select_related("instrument").filter(pk=campaign_id).first()
    if campaign is None:
        raise CommandError(f"No campaign with id {campaign_id}.")
    return campaign
