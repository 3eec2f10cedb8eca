"""The email set-up Plimsoll insists on: chosen explicitly, never printed by accident."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail.backends.base import BaseEmailBackend

MISSING = (
    "EMAIL_URL is not set. Plimsoll emails personal survey links: set EMAIL_URL to your mail "
    "server (for example smtp+tls://user:password@smtp.example.org:587), or to consolemail:// "
    "to print emails into the log on purpose (only where nobody else reads the log)."
)


class UnconfiguredEmailBackend(BaseEmailBackend):
    """Used while EMAIL_URL is unset: every send fails, so an invitation is marked failed
    (and can be retried) instead of being printed, with its working link, into a log."""

    def send_messages(self, email_messages):
        raise ImproperlyConfigured(MISSING)


def require_email_url() -> None:
    """Refuse to start a server that would send survey links nowhere (or into its log)."""
    if not settings.EMAIL_URL:
        raise ImproperlyConfigured(MISSING)
