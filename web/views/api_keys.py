"""API keys: the keys an HRIS or a script uses to call the REST API (admins only)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.models import ApiScope
from accounts.permissions import Permission
from accounts.selectors import api_key_for, api_keys
from accounts.services import api_key_create, api_key_revoke
from web.access import org_view
from web.forms import ApiKeyForm, add_service_errors


@never_cache
@org_view(Permission.MANAGE_API_KEYS)
def api_keys_page(request: HttpRequest) -> HttpResponse:
    """The organisation's keys, and a form to create one. A new key is shown in the answer to
    the POST that created it, and nowhere else: not in a URL, the session or a later page."""
    form = ApiKeyForm(request.POST if request.method == "POST" else None)
    created = plaintext = None
    if request.method == "POST" and form.is_valid():
        try:
            created, plaintext = api_key_create(
                organization=request.organization,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.expires_at_datetime(),
                created_by=request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            form = ApiKeyForm()  # an empty form under the new key
    return render(
        request,
        "hr/api_keys.html",
        {
            "keys": api_keys(access=request.access),
            "form": form,
            "created": created,
            "plaintext": plaintext,
            "scopes": ApiScope,
            "nav": "api_keys",
        },
        status=400 if form.errors else 200,
    )


@require_POST
@org_view(Permission.MANAGE_API_KEYS)
def api_key_revoke_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Stop a key from opening the API, at once and for good."""
    key = api_key_for(access=request.access, pk=pk)
    api_key_revoke(key=key, revoked_by=request.user)
    messages.success(request, _("The API key “%(name)s” is revoked.") % {"name": key.name})
    return redirect("web:api_keys", org=request.organization.slug)
