"""Webhooks: the URLs that receive the organisation's events, signed (admins only).

A new endpoint's secret, and a rotated one, are shown in the answer to the POST that made
them, and nowhere else: not in a URL, the session or a later page.
"""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.models import EventType
from accounts.permissions import Permission
from web.access import org_view
from web.forms import add_service_errors
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.selectors import (
    webhook_deliveries,
    webhook_delivery_for,
    webhook_endpoint_for,
    webhook_endpoints,
)
from webhooks.services import (
    SUBSCRIBABLE,
    delivery_redeliver,
    endpoint_errors,
    signing_secrets,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
    webhook_ping,
    webhook_secret_rotate,
)

DELIVERIES_PER_PAGE = 50
RECENT = 10


class EndpointForm(forms.Form):
    """Where events go and which ones. The services check the rules (HTTPS, public address)."""

    url = forms.CharField(
        label=gettext_lazy("URL"),
        max_length=2000,
        widget=forms.TextInput(attrs={"inputmode": "url", "autocomplete": "off"}),
        help_text=gettext_lazy(
            "The address of the receiving system, e.g. https://hris.example.com/plimsoll. "
            "HTTPS to a public address; redirects are not followed."
        ),
    )
    description = forms.CharField(
        label=gettext_lazy("Description"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("What receives the events, e.g. “HRIS” or “Works council bot”."),
    )
    events = forms.MultipleChoiceField(
        label=gettext_lazy("Events"),
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy(
            "Each event names what changed by its id; it never carries figures, answers or "
            "people. Fetch the details through the API."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        labels = dict(EventType.choices)
        self.fields["events"].choices = [
            (value, f"{value} — {labels[value]}") for value in SUBSCRIBABLE
        ]
        if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
            self.fields["url"].help_text = _(
                "The address of the receiving system. This server also allows plain HTTP and "
                "addresses on its own network (WEBHOOK_ALLOW_PRIVATE_TARGETS)."
            )

    def clean(self):
        # The services' rules, shown next to every field at once (the service checks again).
        data = super().clean()
        problems = endpoint_errors(
            url=data.get("url", ""),
            events=data.get("events") or [],
            description=data.get("description", ""),
        )
        for name, problem in problems.items():
            if name not in self.errors:
                self.add_error(name, problem)
        return data


class EndpointEditForm(EndpointForm):
    is_active = forms.BooleanField(
        label=gettext_lazy("Active: send events to this endpoint"),
        required=False,
        help_text=gettext_lazy("Switching it off cancels the deliveries still waiting."),
    )


def _outcome(delivery: WebhookDelivery) -> tuple[int, str]:
    """A message about a delivery just asked for: the result of its attempt if that is known
    already (with no broker configured, tasks run in the web process), else that it is on its
    way."""
    attempts_before = delivery.attempts
    delivery.refresh_from_db()
    if delivery.attempts == attempts_before:
        return messages.SUCCESS, _("on its way; its result appears in the list of deliveries.")
    if delivery.status == DeliveryStatus.SUCCEEDED:
        return messages.SUCCESS, _("delivered, the endpoint answered %(code)s.") % {
            "code": delivery.last_status_code
        }
    if delivery.status == DeliveryStatus.PENDING:
        return messages.WARNING, _("the attempt failed (%(error)s); it is tried again later.") % {
            "error": delivery.last_error
        }
    return messages.ERROR, _("not delivered (%(error)s).") % {"error": delivery.last_error}


@never_cache
@org_view(Permission.MANAGE_WEBHOOKS)
def webhooks_page(request: HttpRequest) -> HttpResponse:
    """The organisation's endpoints with their last delivery, the latest deliveries, and a
    form to add an endpoint."""
    form = EndpointForm(request.POST if request.method == "POST" else None)
    created = secret = None
    if request.method == "POST" and form.is_valid():
        try:
            created, secret = webhook_endpoint_create(
                organization=request.organization,
                url=form.cleaned_data["url"],
                description=form.cleaned_data["description"],
                events=form.cleaned_data["events"],
                created_by=request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            form = EndpointForm()  # an empty form under the new endpoint
    return render(
        request,
        "hr/webhooks.html",
        {
            "endpoints": webhook_endpoints(access=request.access),
            "recent": webhook_deliveries(access=request.access)[:RECENT],
            "form": form,
            "created": created,
            "secret": secret,
            "nav": "webhooks",
        },
        status=400 if form.errors else 200,
    )


def _endpoint_page(request, endpoint: WebhookEndpoint, form, *, secret=None, status=200):
    deliveries = webhook_deliveries(access=request.access, endpoint=endpoint)[:5]
    return render(
        request,
        "hr/webhook.html",
        {
            "endpoint": endpoint,
            "url_parts": _wrappable(endpoint.url),
            "form": form,
            "secret": secret,
            "deliveries": deliveries,
            "old_secret_until": endpoint.previous_secret_expires_at
            if len(signing_secrets(endpoint)) > 1
            else None,
            "nav": "webhooks",
        },
        status=status,
    )


def _wrappable(url: str) -> list[str]:
    """The URL in pieces a line may break between (after . / ? &), so it fits a phone."""
    return re.split(r"(?<=[./?&])", url)


def _initial(endpoint: WebhookEndpoint) -> dict:
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "events": endpoint.events,
        "is_active": endpoint.is_active,
    }


@never_cache
@org_view(Permission.MANAGE_WEBHOOKS)
def webhook_page(request: HttpRequest, pk: int) -> HttpResponse:
    """One endpoint: change it, test it, rotate its secret, delete it; its latest deliveries."""
    endpoint = webhook_endpoint_for(access=request.access, pk=pk)
    data = request.POST if request.method == "POST" else None
    form = EndpointEditForm(data, initial=_initial(endpoint))
    if request.method == "POST" and form.is_valid():
        try:
            webhook_endpoint_update(
                endpoint=endpoint,
                url=form.cleaned_data["url"],
                description=form.cleaned_data["description"],
                events=form.cleaned_data["events"],
                is_active=form.cleaned_data["is_active"],
                updated_by=request.user,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("The endpoint is saved."))
            return redirect("web:webhook", org=request.organization.slug, pk=endpoint.pk)
    return _endpoint_page(request, endpoint, form, status=400 if form.errors else 200)


@never_cache
@require_POST
@org_view(Permission.MANAGE_WEBHOOKS)
def webhook_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    """A new secret, shown once in this answer; the old one keeps signing for a while."""
    endpoint = webhook_endpoint_for(access=request.access, pk=pk)
    endpoint, secret = webhook_secret_rotate(endpoint=endpoint, rotated_by=request.user)
    form = EndpointEditForm(initial=_initial(endpoint))
    return _endpoint_page(request, endpoint, form, secret=secret)


@require_POST
@org_view(Permission.MANAGE_WEBHOOKS)
def webhook_ping_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a signed test event to this endpoint only."""
    endpoint = webhook_endpoint_for(access=request.access, pk=pk)
    try:
        delivery = webhook_ping(endpoint=endpoint, requested_by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("web:webhook", org=request.organization.slug, pk=endpoint.pk)
    level, text = _outcome(delivery)
    messages.add_message(request, level, _("Test ping: %(outcome)s") % {"outcome": text})
    return redirect("web:webhook_deliveries", org=request.organization.slug, pk=endpoint.pk)


@require_POST
@org_view(Permission.MANAGE_WEBHOOKS)
def webhook_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """Remove the endpoint with its deliveries, for good."""
    endpoint = webhook_endpoint_for(access=request.access, pk=pk)
    webhook_endpoint_delete(endpoint=endpoint, deleted_by=request.user)
    messages.success(request, _("The endpoint %(url)s is deleted.") % {"url": endpoint.url})
    return redirect("web:webhooks", org=request.organization.slug)


@never_cache
@org_view(Permission.MANAGE_WEBHOOKS)
def webhook_deliveries_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Every delivery to one endpoint, newest first, with each attempt."""
    endpoint = webhook_endpoint_for(access=request.access, pk=pk)
    rows = webhook_deliveries(access=request.access, endpoint=endpoint)
    page = Paginator(rows, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "hr/webhook_deliveries.html",
        {
            "endpoint": endpoint,
            "url_parts": _wrappable(endpoint.url),
            "page": page,
            "nav": "webhooks",
        },
    )


@require_POST
@org_view(Permission.MANAGE_WEBHOOKS)
def webhook_redeliver(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a delivery again now (same event, same id)."""
    delivery = webhook_delivery_for(access=request.access, pk=pk)
    try:
        delivery = delivery_redeliver(delivery=delivery, requested_by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        level, text = _outcome(delivery)
        messages.add_message(request, level, _("Redelivery: %(outcome)s") % {"outcome": text})
    return redirect(
        "web:webhook_deliveries", org=request.organization.slug, pk=delivery.endpoint_id
    )
