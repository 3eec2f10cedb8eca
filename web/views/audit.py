"""The audit trail: who looked at what and who changed what (admins; later representatives)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from accounts.permissions import Permission
from accounts.selectors import audit_entries
from web.access import org_view

ENTRIES_PER_PAGE = 100


@never_cache
@org_view(Permission.VIEW_AUDIT)
def audit_page(request: HttpRequest) -> HttpResponse:
    page = Paginator(audit_entries(access=request.access), ENTRIES_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "hr/audit.html", {"page": page, "nav": "audit"})
