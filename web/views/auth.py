"""Signing in and out, password resets, and choosing an organisation."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache

from accounts.models import User
from web.access import SESSION_KEY, memberships_of


class SignInForm(AuthenticationForm):
    """Email and password. The error never says whether the account exists."""

    username = forms.EmailField(
        label=_("Email"),
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )
    error_messages = {
        "invalid_login": _(
            "That email and password do not match an account that may sign in. Check both, "
            "or reset your password."
        ),
        "inactive": _(
            "That email and password do not match an account that may sign in. Check both, "
            "or reset your password."
        ),
    }


class SignInView(auth_views.LoginView):
    template_name = "hr/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True


def locked_out(request: HttpRequest, credentials: dict | None = None, *args, **kwargs):
    """What django-axes answers after too many failed sign-ins for one account from one
    address: the sign-in page with a message, the same for existing and unknown accounts."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    form = SignInForm(request)
    message = _(
        "Too many failed sign-ins for this email from your network. Wait %(minutes)d minutes "
        "and try again, or reset your password."
    ) % {"minutes": minutes}
    response = render(request, "hr/login.html", {"form": form, "locked_out": message}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


class ResetForm(PasswordResetForm):
    """Also for invited people who never chose a password (their first link may have
    expired); the page says the same whether or not the address has an account."""

    def get_users(self, email):
        return User.objects.filter(email__iexact=email.strip(), is_active=True).iterator()


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "hr/password_reset.html"
    form_class = ResetForm
    email_template_name = "hr/emails/password_reset.txt"
    subject_template_name = "hr/emails/password_reset_subject.txt"
    success_url = reverse_lazy("web:password_reset_done")

    @property
    def extra_email_context(self) -> dict:
        # Links in emails use the public address, whatever host the request came in on.
        return {"site_url": settings.SITE_URL.rstrip("/")}


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "hr/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Both a reset and an invitation's first password end here."""

    template_name = "hr/password_reset_confirm.html"
    success_url = reverse_lazy("web:password_reset_complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "hr/password_reset_complete.html"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Straight into the organisation last worked in, or the only one; otherwise a choice."""
    memberships = memberships_of(request.user)
    slugs = [m.organization.slug for m in memberships]
    last = request.session.get(SESSION_KEY)
    if last in slugs:
        return redirect("web:org_home", org=last)
    if len(slugs) == 1:
        return redirect("web:org_home", org=slugs[0])
    return redirect("web:organizations")


@never_cache
@login_required
def organizations(request: HttpRequest) -> HttpResponse:
    """The organisations the user belongs to, with their role in each."""
    return render(request, "hr/organizations.html", {"memberships": memberships_of(request.user)})
