"""Forms of the HR pages. They check shape; the services check the rules, and their errors are
put next to the field they name (`add_service_errors`)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiScope, Department, Role
from assessments.models import Campaign, Instrument, InstrumentDomain
from reports.models import ActionStatus
from web.access import ROLE_LABELS


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Show a service's refusal on the form: each message at its field, others at the top."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            target = field if field in form.fields else None
            for error in errors:
                # Only a message with parameters is a format string; others may hold a "%".
                message = error.message % error.params if error.params else error.message
                form.add_error(target, message)
    else:
        for message in exc.messages:
            form.add_error(None, message)


class FastSelect(forms.Select):
    """A select whose options are written in one pass instead of one template each: a tree of
    1,000 departments renders in milliseconds, not a quarter of a second."""

    def render(self, name, value, attrs=None, renderer=None):
        attrs = self.build_attrs(self.attrs, attrs)
        chosen = {str(v) for v in (value if isinstance(value, (list, tuple)) else [value])}
        parts = [f'<select name="{escape(name)}"']
        parts += [
            f' {escape(key)}="{escape(val)}"' for key, val in attrs.items() if val is not False
        ]
        parts.append(">")
        for option_value, label in self.choices:
            option_value = "" if option_value is None else str(option_value)
            selected = " selected" if option_value in chosen else ""
            parts.append(
                f'<option value="{escape(option_value)}"{selected}>{escape(label)}</option>'
            )
        parts.append("</select>")
        # Every name, value and label above is escaped.
        return mark_safe("".join(parts))


class DepartmentChoiceField(forms.ModelChoiceField):
    """A department of the organisation, shown indented by its place in the tree."""

    widget = FastSelect

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


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class TargetDepartmentsField(forms.ModelMultipleChoiceField):
    """Departments shown indented, each with its active headcount (itself and below)."""

    def __init__(self, *args, headcounts: dict[int, int], **kwargs):
        self.headcounts = headcounts
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj: Department) -> str:
        people = self.headcounts.get(obj.pk, 0)
        return f"{'— ' * obj.depth}{obj.name} ({people})"


class CampaignForm(forms.Form):
    """The settings of a campaign. While a campaign runs, only its name, dates and reminders
    can change (`locked` names the rest, shown but disabled)."""

    name = forms.CharField(label=_("Name"), max_length=200)
    instrument = forms.ModelChoiceField(
        label=_("Questionnaire"),
        queryset=Instrument.objects.none(),
        help_text=_(
            "Each version is fixed: a campaign always asks exactly what it was set up with."
        ),
    )
    target_departments = forms.ModelMultipleChoiceField(
        label=_("Who is asked"), queryset=Department.objects.none()
    )
    languages = forms.MultipleChoiceField(
        label=_("Languages"),
        choices=settings.LANGUAGES,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Each person gets the survey in their own language if it is one of these."),
    )
    opens_at = forms.DateTimeField(
        label=_("Opens"),
        required=False,
        widget=DateTimeLocalInput(),
        help_text=_("Leave empty to open at launch."),
    )
    closes_at = forms.DateTimeField(label=_("Closes"), widget=DateTimeLocalInput())
    reminder_days = forms.CharField(
        label=_("Reminders"),
        required=False,
        help_text=_(
            "Days after opening on which those who have not answered get a reminder, e.g. “7, 14”."
        ),
    )
    min_group_size = forms.IntegerField(
        label=_("Minimum group size (k)"),
        min_value=3,
        initial=5,
        help_text=_(
            "No figure about fewer than k people is ever shown, nor one that could be worked out "
            "by subtracting shown figures. 5 is usual; 3 is the least allowed. A larger k hides "
            "more small teams."
        ),
    )
    attributes_used = forms.MultipleChoiceField(
        label=_("Breakdowns"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Coarse attributes (such as tenure band or site) whose groups are compared in the "
            "results. Each one splits departments into smaller groups, and more of them are "
            "hidden to protect people: choose only what you will act on."
        ),
    )
    previous_campaign = forms.ModelChoiceField(
        label=_("Follows up on"),
        queryset=Campaign.objects.none(),
        required=False,
        help_text=_("A closed campaign on the same questionnaire, to show change since then."),
    )

    def __init__(self, *args, organization, headcounts: dict[int, int], locked=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["instrument"].queryset = Instrument.objects.order_by("code", "-version")
        self.fields["target_departments"] = TargetDepartmentsField(
            label=_("Who is asked"),
            queryset=Department.objects.for_organization(organization)
            .filter(is_active=True)
            .order_by("path"),
            headcounts=headcounts,
            widget=forms.CheckboxSelectMultiple,
            help_text=_(
                "Everyone active in a chosen department and the departments below it is invited. "
                "The number is the active employees there now."
            ),
        )
        self.fields["attributes_used"].choices = [
            (name, name.replace("_", " ")) for name in settings.EMPLOYEE_ATTRIBUTES
        ]
        self.fields["previous_campaign"].queryset = Campaign.objects.for_organization(
            organization
        ).filter(status="closed")
        for name in locked:
            self.fields[name].disabled = True

    def clean_reminder_days(self) -> list[int]:
        raw = self.cleaned_data.get("reminder_days") or ""
        days = []
        for part in raw.replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isdigit() or int(part) < 1:
                raise ValidationError(
                    _("“%(value)s” is not a number of days (1 or more).") % {"value": part}
                )
            days.append(int(part))
        return sorted(set(days))

    def service_values(self) -> dict:
        """The cleaned values in the services' terms."""
        data = dict(self.cleaned_data)
        data["target_departments"] = list(data["target_departments"])
        return data


class DepartmentForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    parent = DepartmentChoiceField(
        label=_("Part of"),
        queryset=Department.objects.none(),
        required=False,
        empty_label=_("(top of the tree)"),
    )
    external_id = forms.CharField(
        label=_("HRIS id"),
        max_length=100,
        required=False,
        help_text=_("The department's identifier in your HR system, used by imports and the API."),
    )

    def __init__(self, *args, organization, exclude: Department | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        parents = Department.objects.for_organization(organization).filter(is_active=True)
        if exclude is not None:
            # Its own subtree cannot take it: that would make a cycle.
            parents = parents.exclude(path__startswith=exclude.path)
        self.fields["parent"].queryset = parents.order_by("path")


ACTIVE_CHOICES = [("yes", _("Active")), ("no", _("Inactive")), ("all", _("All"))]


class EmployeeFilterForm(forms.Form):
    """The employee list's search and filters (a GET form: every view is a link)."""

    q = forms.CharField(label=_("Search"), required=False, help_text=_("Email or HRIS id."))
    department = DepartmentChoiceField(
        label=_("Department (and below)"), queryset=Department.objects.none(), required=False
    )
    active = forms.ChoiceField(label=_("Status"), choices=ACTIVE_CHOICES, required=False)
    attribute = forms.ChoiceField(label=_("Attribute"), required=False)
    value = forms.CharField(label=_("Attribute value"), required=False, max_length=100)

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["department"].queryset = Department.objects.for_organization(
            organization
        ).order_by("path")
        self.fields["attribute"].choices = [("", _("Any"))] + [
            (name, name.replace("_", " ")) for name in settings.EMPLOYEE_ATTRIBUTES
        ]


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_("CSV (UTF-8) or Excel (.xlsx), in the layout of the template."),
    )
    mode = forms.ChoiceField(
        label=_("What the file holds"),
        widget=forms.RadioSelect,
        initial="delta",
        choices=[
            ("delta", _("Changes only: people and departments not in the file stay as they are")),
            ("full", _("Everyone: active employees missing from the file are deactivated")),
        ],
    )


class ReportRequestForm(forms.Form):
    """What PDF to make and in which language. The kinds offered follow the scope: the
    organisation report only for those who see the whole organisation; a manager's packs and
    departments are those of their own subtree."""

    kind = forms.ChoiceField(
        label=_("Report"),
        widget=forms.RadioSelect,
        error_messages={
            "invalid_choice": _(
                "“%(value)s” is not a report you can request here: choose one of the options."
            )
        },
    )
    department = DepartmentChoiceField(
        label=_("Department (for the pack of one department)"),
        queryset=Department.objects.none(),
        required=False,
        empty_label=_("Choose a department"),
        help_text=_("Only departments whose results are published can get a pack."),
        error_messages={
            "invalid_choice": _(
                "That department is not one you can request a pack for: choose a department "
                "in your scope whose results are published."
            )
        },
    )
    language = forms.ChoiceField(label=_("Language"))

    def __init__(self, *args, whole_organization: bool, departments, languages, **kwargs):
        super().__init__(*args, **kwargs)
        kinds = [("organisation", _("The organisation report"))] if whole_organization else []
        kinds += [
            ("packs", _("A pack for every department with published results")),
            ("department", _("The pack of one department")),
        ]
        self.fields["kind"].choices = kinds
        self.fields["department"].queryset = departments
        names = dict(settings.LANGUAGES)
        self.fields["language"].choices = [(code, names.get(code, code)) for code in languages]
        self.fields["language"].error_messages["invalid_choice"] = _(
            "“%(value)s” is not a language these reports are made in: choose one of %(choices)s."
        ) % {"value": "%(value)s", "choices": ", ".join(names.get(c, c) for c in languages)}

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == "department" and not cleaned.get("department"):
            self.add_error("department", _("Choose the department whose pack you want."))
        return cleaned


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


class CampaignChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Campaign) -> str:
        return obj.name


def _domain_choices(campaigns) -> list[tuple[str, str]]:
    """Every domain of the campaigns' questionnaires, once, by code (the services check that a
    domain belongs to the campaign's own questionnaire)."""
    language = get_language() or "en"
    found: dict[str, str] = {}
    for domain in InstrumentDomain.objects.filter(
        instrument__in=campaigns.values("instrument")
    ).order_by("instrument", "position"):
        found.setdefault(domain.code, domain.title.get(language) or domain.title.get("en", ""))
    return list(found.items())


class ActionForm(forms.Form):
    """An action agreed for one department and domain of a campaign. Once made, its campaign,
    department and domain stay (`locked`); the rest can change."""

    campaign = CampaignChoiceField(label=_("Campaign"), queryset=Campaign.objects.none())
    department = DepartmentChoiceField(label=_("Department"), queryset=Department.objects.none())
    domain_code = forms.ChoiceField(label=_("Domain"))
    title = forms.CharField(
        label=_("Action"),
        max_length=200,
        required=False,  # the service names what is missing
        help_text=_("Prefilled from the suggested actions when you start from a result; edit it."),
    )
    owner = forms.CharField(
        label=_("Owner"),
        max_length=200,
        required=False,
        help_text=_("The person or role who carries it out."),
    )
    due_date = forms.DateField(label=_("Due date"), required=False, widget=DateInput())
    status = forms.ChoiceField(label=_("Status"), choices=ActionStatus.choices)
    description = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )

    def __init__(self, *args, campaigns, departments, locked=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = campaigns
        self.fields["department"].queryset = departments
        self.fields["domain_code"].choices = [("", "---------"), *_domain_choices(campaigns)]
        for name in locked:
            self.fields[name].disabled = True


class ActionFilterForm(forms.Form):
    campaign = CampaignChoiceField(
        label=_("Campaign"), queryset=Campaign.objects.none(), required=False, empty_label=_("Any")
    )
    department = DepartmentChoiceField(
        label=_("Department (and below)"),
        queryset=Department.objects.none(),
        required=False,
        empty_label=_("Any"),
    )
    domain = forms.ChoiceField(label=_("Domain"), required=False)
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("Any")), *ActionStatus.choices]
    )
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)

    def __init__(self, *args, campaigns, departments, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = campaigns
        self.fields["department"].queryset = departments
        self.fields["domain"].choices = [("", _("Any")), *_domain_choices(campaigns)]


class ApiKeyForm(forms.Form):
    """A new API key: what it is for, what it may do, until when."""

    name = forms.CharField(
        label=_("Name"),
        max_length=100,
        help_text=_("Which system or script uses it, e.g. “HRIS sync”. Shown in the audit trail."),
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Give the key only what its system needs. It acts for the whole organisation."),
    )
    expires_at = forms.DateField(
        label=_("Expires on"),
        widget=DateInput(),
        help_text=_("At most two years ahead. The key stops working at the end of that day."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["scopes"].choices = [
            (scope.value, f"{scope.value} — {scope.label}") for scope in ApiScope
        ]
        days = getattr(settings, "API_KEY_DEFAULT_DAYS", 365)
        self.fields["expires_at"].initial = timezone.localdate() + dt.timedelta(days=days)

    def expires_at_datetime(self) -> dt.datetime:
        """The chosen day's end, in the organisation's time zone."""
        day = self.cleaned_data["expires_at"]
        return timezone.make_aware(dt.datetime.combine(day, dt.time(23, 59, 59)))
