"""Forms of the HR pages. They check shape; the services check the rules, and their errors are
put next to the field they name (`add_service_errors`)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import Department, Role
from web.access import ROLE_LABELS


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's refusal on the form: each message at its field, others at the top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            target = field if field in form.fields else None
            for error in errors:
                form.add_error(target, error.message % (error.params or {}))
    else:
        for message in exc.messages:
            form.add_error(None, message)


class DepartmentChoiceField(forms.ModelChoiceField):
    """A department of the organisation, shown indented by its place in the tree."""

    def label_from_instance(self, obj: Department) -> str:
        return f"{'— ' * obj.depth}{obj.name}"


def _role_choices():
    # No role is preselected: giving someone HR admin rights must be a choice, not a default.
    return [("", _("Choose a role")), *((role.value, ROLE_LABELS[role]) for role in Role)]


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=_role_choices)
    scope_department = DepartmentChoiceField(
        label=_("Department (for managers)"),
        queryset=Department.objects.none(),
        required=False,
        help_text=_("A manager sees this department and the departments below it, nothing else."),
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scope_department"].queryset = Department.objects.for_organization(
            organization
        ).order_by("path")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("role") == Role.MANAGER and not cleaned.get("scope_department"):
            self.add_error("scope_department", _("Choose the department a manager looks after."))
        return cleaned


class InviteForm(RoleForm):
    email = forms.EmailField(label=_("Email"))
    full_name = forms.CharField(label=_("Name"), max_length=200, required=False)
    field_order = ["email", "full_name", "role", "scope_department"]
