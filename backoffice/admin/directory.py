"""Admin for organisations and people. Tree changes go through accounts.services."""

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError

from accounts.models import Department, Employee, Membership, Organization, Role, User
from accounts.services import (
    department_create,
    department_cycle_problem,
    department_external_id_problem,
    department_update,
    last_admin_problem,
    membership_grant,
    membership_revoke,
)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


class DepartmentForm(forms.ModelForm):
    class Meta:
        model = Department
        fields = ["organization", "name", "parent", "external_id"]

    def clean(self):
        cleaned = super().clean()
        parent = cleaned.get("parent")
        organization = cleaned.get("organization")
        if (
            parent is not None
            and organization is not None
            and parent.organization_id != organization.pk
        ):
            raise ValidationError(
                {"parent": f"Department '{parent}' belongs to another organisation."}
            )
        if self.instance.pk and (
            problem := department_cycle_problem(department=self.instance, new_parent=parent)
        ):
            raise ValidationError({"parent": problem})
        organization_id = getattr(organization, "pk", None) or self.instance.organization_id
        if organization_id and (
            problem := department_external_id_problem(
                organization_id=organization_id,
                external_id=(cleaned.get("external_id") or "").strip() or None,
                own_pk=self.instance.pk,
            )
        ):
            self.add_error("external_id", problem)
        return cleaned


def same_organization_errors(cleaned: dict, organization, fields: tuple[str, ...]) -> dict:
    """Errors for related rows (departments, campaigns) that belong to another organisation."""
    errors = {}
    for name in fields:
        related = cleaned.get(name)
        if related is not None and organization and related.organization_id != organization.pk:
            errors[name] = f"'{related}' belongs to another organisation."
    return errors


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    form = DepartmentForm

    def get_readonly_fields(self, request, obj=None):
        # A department never moves between organisations; its people and answers would follow.
        return ["organization"] if obj is not None else []

    list_display = ["indented_name", "organization", "external_id", "depth"]
    list_filter = ["organization"]
    search_fields = ["name", "external_id"]
    list_select_related = ["organization"]
    autocomplete_fields = ["parent"]

    @admin.display(description="Department", ordering="path")
    def indented_name(self, obj: Department) -> str:
        return f"{'— ' * obj.depth}{obj.name}"

    def save_model(self, request, obj, form, change):
        # Paths and depths are kept by the services, never by a plain save.
        if not change:
            created = department_create(
                organization=obj.organization,
                name=obj.name,
                parent=obj.parent,
                external_id=obj.external_id,
            )
            obj.pk, obj.path, obj.depth = created.pk, created.path, created.depth
            return
        # Rename, new HRIS id and move in one service call: one transaction, the tree locked.
        data = form.cleaned_data
        changes = {key: data[key] for key in ("external_id", "parent") if key in form.changed_data}
        updated = department_update(department=obj, name=data["name"], **changes)
        obj.path, obj.depth, obj.name = updated.path, updated.depth, updated.name


class EmployeeForm(forms.ModelForm):
    class Meta:
        model = Employee
        fields = [
            "organization",
            "external_id",
            "email",
            "department",
            "is_active",
            "language",
            "attributes",
        ]

    def clean(self):
        cleaned = super().clean()
        organization = cleaned.get("organization") or getattr(self.instance, "organization", None)
        for field, message in same_organization_errors(
            cleaned, organization, ("department",)
        ).items():
            self.add_error(field, message)
        return cleaned


@admin.register(Employee)
class EmployeeAdmin(admin.ModelAdmin):
    form = EmployeeForm
    list_display = ["external_id", "email", "department", "organization", "is_active", "language"]
    list_filter = ["organization", "is_active", "language"]
    search_fields = ["external_id", "email"]
    list_select_related = ["department", "organization"]
    autocomplete_fields = ["department"]


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["organization", "role", "scope_department"]

    def clean(self):
        cleaned = super().clean()
        for field, message in same_organization_errors(
            cleaned, cleaned.get("organization"), ("scope_department",)
        ).items():
            self.add_error(field, message)
        role, scope = cleaned.get("role"), cleaned.get("scope_department")
        if role == Role.MANAGER and scope is None:
            self.add_error("scope_department", "A manager needs a scope department.")
        if role and role != Role.MANAGER and scope is not None:
            self.add_error("scope_department", "Only managers have a scope department.")
        return cleaned


class MembershipFormSet(forms.BaseInlineFormSet):
    """Refuses, next to the roles, a change that would leave an organisation without an admin
    (the service refuses it too, under a lock)."""

    def clean(self):
        super().clean()
        user = self.instance
        if user.pk is None:
            return
        # The forms' instances already carry the posted values: compare with the stored rows.
        stored = Membership.objects.filter(user=user).select_related("organization")
        admin_of = {m.pk: m.organization for m in stored if m.role == Role.ADMIN}
        for form in self.forms:
            organization = admin_of.get(form.instance.pk)
            if organization is None:
                continue
            data = getattr(form, "cleaned_data", {})
            stays_admin = (
                form not in self.deleted_forms
                and data.get("role") == Role.ADMIN
                and data.get("organization") == organization
            )
            if not stays_admin and (
                problem := last_admin_problem(organization=organization, user=user)
            ):
                raise ValidationError(problem)


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipForm
    formset = MembershipFormSet
    extra = 0
    autocomplete_fields = ["scope_department"]


def _save_memberships(request, formset) -> None:
    """Roles change through accounts.services (membership_grant, membership_revoke), which keep
    an organisation from losing its last admin. Records what changed for the admin's history,
    as a formset's own save would."""
    user = formset.instance
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
    for form in formset.deleted_forms:
        if form.instance.pk:
            stored = Membership.objects.get(pk=form.instance.pk)
            membership_revoke(user=user, organization=stored.organization)
            formset.deleted_objects.append(stored)
    for form in formset.forms:
        if form in formset.deleted_forms or not form.has_changed():
            continue
        data = form.cleaned_data
        stored = Membership.objects.filter(pk=form.instance.pk).first()
        if stored is not None and stored.organization_id != data["organization"].pk:
            membership_revoke(user=user, organization=stored.organization)
        membership = membership_grant(
            user=user,
            organization=data["organization"],
            role=data["role"],
            scope_department=data.get("scope_department"),
        )
        if stored is None:
            formset.new_objects.append(membership)
        else:
            formset.changed_objects.append((membership, form.changed_data))


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_active"]
    search_fields = ["email", "full_name"]
    inlines = [MembershipInline]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    filter_horizontal = ["groups"]

    def save_formset(self, request, form, formset, change):
        if formset.model is Membership:
            _save_memberships(request, formset)
            return
        super().save_formset(request, form, formset, change)
