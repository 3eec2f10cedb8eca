"""The second factor: set up an authenticator app (TOTP), then confirm each sign-in with it."""

from __future__ import annotations

import base64

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.permissions import Permission
from accounts.services import organization_second_factor_set
from web.access import org_view


class CodeForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code from your authenticator app"),
        max_length=8,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return "/"


@never_cache
@login_required
def two_factor(request: HttpRequest) -> HttpResponse:
    """Confirm this sign-in with a code; someone without an app set up sets one up here."""
    user = request.user
    if user.is_verified():
        return redirect(_next(request))
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    setting_up = device is None
    if setting_up:
        device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    form = CodeForm(request.POST or None)
    allowed, why = device.verify_is_allowed()
    if request.method == "POST" and form.is_valid() and not allowed:
        wait = why.get("locked_until") if why else None
        form.add_error(
            "code",
            _("Too many wrong codes. Wait a little, then enter the newest code.")
            if wait is None
            else _("Too many wrong codes. Try again after %(time)s.")
            % {"time": timezone.localtime(wait).strftime("%H:%M:%S")},
        )
    elif request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["code"].strip().replace(" ", "")):
            with transaction.atomic():
                if setting_up:
                    device.confirmed = True
                    device.save(update_fields=["confirmed"])
                otp_login(request, device)
            if setting_up:
                messages.success(request, _("Your authenticator app is set up."))
            return redirect(_next(request))
        form.add_error(
            "code",
            _("That code does not match. Check the time on your phone, then try the newest code."),
        )
    context = {"form": form, "setting_up": setting_up, "next": _next(request)}
    if setting_up:
        context["qr_svg"] = segno.make(device.config_url, error="m").svg_inline(
            scale=5, title=_("QR code for your authenticator app")
        )
        context["secret"] = _grouped_secret(device)
    return render(request, "hr/two_factor.html", context, status=400 if form.errors else 200)


def _grouped_secret(device: TOTPDevice) -> str:
    """The key in groups of four, for typing into an app by hand."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@never_cache
@org_view(Permission.MANAGE_USERS)
def security_page(request: HttpRequest) -> HttpResponse:
    """Whether this organisation's admins and analysts must use a second factor."""
    return render(request, "hr/security.html", {"nav": "users"})


@require_POST
@org_view(Permission.MANAGE_USERS)
def security_save(request: HttpRequest) -> HttpResponse:
    required = request.POST.get("require_second_factor") == "1"
    try:
        organization_second_factor_set(organization=request.organization, required=required)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if required:
            messages.success(
                request,
                _("Admins and analysts now confirm each sign-in with an authenticator app."),
            )
        else:
            messages.success(request, _("A second factor is no longer required here."))
    return redirect("web:security", org=request.organization.slug)
