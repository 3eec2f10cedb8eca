"""Emails the HR app sends to people who use it (never to survey takers)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import Organization, User


def access_granted_send(*, user: User, organization: Organization, role_label: str) -> None:
    """Tell someone they were given a role, after the transaction that gave it commits.

    A new account gets a link to choose its first password (a password-reset link, valid for
    PASSWORD_RESET_TIMEOUT); an existing one gets the sign-in address.
    """
    site = settings.SITE_URL.rstrip("/")
    if user.has_usable_password():
        link = site + reverse("web:login")
    else:
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        link = site + reverse("web:password_reset_confirm", kwargs={"uidb64": uid, "token": token})
    context = {
        "organization": organization,
        "role": role_label,
        "link": link,
        "first_password": not user.has_usable_password(),
    }
    subject = render_to_string("hr/emails/access_granted_subject.txt", context).strip()
    body = render_to_string("hr/emails/access_granted.txt", context)
    transaction.on_commit(lambda: send_mail(subject, body, None, [user.email]))
