"""People and departments (admins): the department tree and the employee list."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from accounts.permissions import Permission
from accounts.selectors import department_for, department_headcounts, employees
from accounts.services import (
    department_create,
    department_deactivate,
    department_reactivate,
    department_update,
)
from assessments.models import DEFAULT_MIN_GROUP_SIZE
from web.access import org_view
from web.forms import DepartmentForm, EmployeeFilterForm, add_service_errors
from web.tables import department_rows

EMPLOYEES_PER_PAGE = 50


@never_cache
@org_view(Permission.MANAGE_DIRECTORY)
def departments_page(request: HttpRequest) -> HttpResponse:
    """The tree with headcounts (departments below the usual k marked), and a form to add one."""
    form = DepartmentForm(request.POST or None, organization=request.organization)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            department = department_create(
                organization=request.organization,
                name=data["name"],
                parent=data["parent"],
                external_id=data["external_id"].strip() or None,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Department “%(name)s” added.") % {"name": department})
            return redirect("web:departments", org=request.organization.slug)
    headcounts = department_headcounts(access=request.access)
    top_depth = min((h.department.depth for h in headcounts), default=0)
    rows = [(h, min(h.department.depth - top_depth, 6)) for h in headcounts]
    return render(
        request,
        "hr/departments.html",
        {
            "rows": rows,
            "rows_html": department_rows(
                rows,
                organization_slug=request.organization.slug,
                usual_k=DEFAULT_MIN_GROUP_SIZE,
            ),
            "form": form,
            "usual_k": DEFAULT_MIN_GROUP_SIZE,
            "nav": "people",
        },
        status=400 if form.errors else 200,
    )


@never_cache
@org_view(Permission.MANAGE_DIRECTORY)
def department_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Rename a department, change its HRIS id, move it (with everything below it)."""
    department = department_for(access=request.access, pk=pk)
    initial = {
        "name": department.name,
        "parent": department.parent,
        "external_id": department.external_id or "",
    }
    form = DepartmentForm(
        request.POST or None,
        organization=request.organization,
        exclude=department,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            department_update(
                department=department,
                name=data["name"],
                external_id=data["external_id"],
                parent=data["parent"],
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, _("Department “%(name)s” saved.") % {"name": data["name"]})
            return redirect("web:departments", org=request.organization.slug)
    return render(
        request,
        "hr/department.html",
        {"department": department, "form": form, "nav": "people"},
        status=400 if form.errors else 200,
    )


@require_POST
@org_view(Permission.MANAGE_DIRECTORY)
def department_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Deactivate a department that is no longer used, or bring it back."""
    department = department_for(access=request.access, pk=pk)
    service = department_reactivate if request.POST.get("active") == "1" else department_deactivate
    try:
        changed = service(department=department)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("web:department", org=request.organization.slug, pk=department.pk)
    if changed.is_active:
        messages.success(request, _("“%(name)s” is active again.") % {"name": changed})
    else:
        messages.success(request, _("“%(name)s” is deactivated.") % {"name": changed})
    return redirect("web:departments", org=request.organization.slug)


@never_cache
@org_view(Permission.MANAGE_DIRECTORY)
def employees_page(request: HttpRequest) -> HttpResponse:
    """Employees, searched and filtered, 50 a page."""
    form = EmployeeFilterForm(request.GET or None, organization=request.organization)
    filters = form.cleaned_data if form.is_valid() else {}
    active = {"yes": True, "no": False, "all": None}.get(filters.get("active") or "yes")
    rows = employees(
        access=request.access,
        search=filters.get("q") or "",
        department=filters.get("department"),
        active=active,
        attribute=filters.get("attribute") or "",
        value=filters.get("value") or "",
    )
    page = Paginator(rows, EMPLOYEES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "hr/employees.html",
        {"form": form, "page": page, "query": query.urlencode(), "nav": "people"},
    )
