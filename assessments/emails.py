"""Rendering of invitation and reminder emails, in the invitation's language."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from assessments.models import Campaign, Invitation


def survey_link(token: str) -> str:
    return settings.SITE_URL + reverse("survey:entry", args=[token])


def build_survey_email(
    *, kind: str, invitation: Invitation, campaign: Campaign, organization_name: str, token: str
) -> EmailMultiAlternatives:
    """An invitation (`kind="invitation"`) or reminder email with a personal link."""
    with translation.override(invitation.language):
        context = {
            "campaign": campaign,
            "organization_name": organization_name,
            "link": survey_link(token),
            "closes_at": campaign.closes_at,
            "min_group_size": campaign.min_group_size,
            "language": invitation.language,
        }
        subject = render_to_string(f"emails/{kind}_subject.txt", context).strip()
        text = render_to_string(f"emails/{kind}.txt", context)
        html = render_to_string(f"emails/{kind}.html", context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[invitation.employee.email],
        headers={"Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return message
