"""Tenants and people: organisations, their department trees, employees, users and roles."""

from __future__ import annotations

import uuid

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Organization(models.Model):
    """A tenant: one employer whose departments, people and campaigns are kept apart from others."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    # When set, HR admins and analysts must confirm each sign-in with a code from an
    # authenticator app (TOTP) before they see anything of this organisation.
    require_second_factor = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TenantQuerySet(models.QuerySet):
    """The one place where rows are restricted to an organisation.

    Every query that serves a request goes through `for_organization`; views and selectors never
    filter on `organization` by hand.
    """

    def for_organization(self, organization: Organization | int) -> TenantQuerySet:
        organization_id = getattr(organization, "pk", organization)
        if organization_id is None:
            # An unsaved or missing organisation must never widen the query to every tenant.
            return self.none()
        return self.filter(**{self.model.organization_lookup: organization_id})

    def visible_to(self, access) -> TenantQuerySet:
        """The rows an access (accounts.permissions.Access) reaches: its organisation's, and of
        those, for a manager, the rows of their department subtree only. Nothing at all for an
        access without a role. The model says how it reaches its organisation and department
        (`organization_lookup`, `scope_lookup`)."""
        if not access.is_member:
            return self.none()
        rows = self.for_organization(access.organization_id)
        if self.model.scope_lookup is None:
            return rows
        return rows.filter(access.department_filter(self.model.scope_lookup))


class TenantModel(models.Model):
    """Base for every row that belongs to a tenant."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")

    objects = TenantQuerySet.as_manager()

    # How a row reaches its organisation, and the department lookup that limits it to a
    # manager's subtree ("" for a department itself; None: rows of the whole organisation,
    # visible to every role that sees them at all).
    organization_lookup = "organization_id"
    scope_lookup: str | None = None

    class Meta:
        abstract = True


def _touch(row: models.Model, save_kwargs: dict) -> None:
    """Set `updated_at` on a save, also when only some fields are saved."""
    row.updated_at = timezone.now()
    if save_kwargs.get("update_fields") is not None:
        save_kwargs["update_fields"] = {*save_kwargs["update_fields"], "updated_at"}


class Department(TenantModel):
    """A unit of the organisation's tree; results roll up from a department to its ancestors.

    `path` is a materialised path of primary keys ("/1/4/9/") so a subtree is one indexed
    prefix query. Only `accounts.services` and the directory import (`accounts.directory`, under
    the same tree lock and rules) write `parent`, `path` and `depth`.
    """

    name = models.CharField(max_length=200)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    # NULL, not "", when absent: uniqueness per organisation applies only to real HRIS ids.
    external_id = models.CharField(  # noqa: DJ001
        max_length=100, null=True, blank=True, help_text="Identifier in the HRIS, if any."
    )
    path = models.CharField(max_length=1000, db_index=True, editable=False, default="")
    # A department that no longer exists in the organisation: kept, because past campaigns
    # and their results refer to it, but never offered for new campaigns or imports.
    is_active = models.BooleanField(default=True)
    scope_lookup = ""
    depth = models.PositiveSmallIntegerField(editable=False, default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Set by every write (save() and the bulk writes of the import), for `updated_since`.
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"],
                condition=Q(external_id__isnull=False),
                name="department_external_id_unique_per_org",
            ),
            models.CheckConstraint(
                condition=~Q(parent=models.F("id")), name="department_not_own_parent"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        _touch(self, kwargs)
        super().save(*args, **kwargs)

    def subtree(self) -> TenantQuerySet:
        """This department and every department below it."""
        return Department.objects.for_organization(self.organization_id).filter(
            path__startswith=self.path
        )

    def ancestor_ids(self) -> list[int]:
        """Primary keys from the root down to the parent, read from the path."""
        return [int(part) for part in self.path.strip("/").split("/")[:-1] if part]


class Employee(TenantModel):
    """A person who may be invited to answer; employees never log in."""

    external_id = models.CharField(max_length=100)
    email = models.EmailField()
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="employees")
    is_active = models.BooleanField(default=True)
    language = models.CharField(
        max_length=8, default="en", help_text="Language of invitations and the survey."
    )
    # Coarse HRIS attributes only (tenure band, role type, site): never free text or exact dates.
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Set by every write (save() and the bulk writes of the import), for `updated_since`.
    updated_at = models.DateTimeField(default=timezone.now, db_index=True)

    scope_lookup = "department"

    class Meta:
        ordering = ["external_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_id"], name="employee_external_id_unique_per_org"
            ),
        ]

    def __str__(self) -> str:
        return self.external_id

    def save(self, *args, **kwargs) -> None:
        _touch(self, kwargs)
        super().save(*args, **kwargs)


class UserManager(BaseUserManager):
    """Creates users who sign in with their email address."""

    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra_fields) -> User:
        if not email:
            raise ValueError("email: an email address is required to create a user")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> User:
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> User:
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractBaseUser, PermissionsMixin):
    """Someone who signs in to the HR app: HR staff, analysts, managers, viewers."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the admin site.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    ANALYST = "analyst", "Analyst"
    MANAGER = "manager", "Manager"
    VIEWER = "viewer", "Viewer"
    # Employee representatives (a works council): a viewer's reading, and the audit trail.
    REPRESENTATIVE = "representative", "Employee representative"


class Membership(TenantModel):
    """A user's role in one organisation; a manager sees one department subtree only."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    scope_department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Required for managers: the subtree they may see.",
    )

    class Meta:
        ordering = ["organization", "user"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"], name="membership_one_role_per_org"
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
            models.CheckConstraint(
                condition=(
                    Q(role=Role.MANAGER, scope_department__isnull=False)
                    | (~Q(role=Role.MANAGER) & Q(scope_department__isnull=True))
                ),
                name="membership_scope_only_for_managers",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.role}"


class DirectoryImportStatus(models.TextChoices):
    PREVIEWED = "previewed", "Previewed"
    APPLIED = "applied", "Applied"
    DISCARDED = "discarded", "Discarded"


class DirectoryImport(TenantModel):
    """An uploaded directory file between its preview and its application: the plan made
    from it (accounts.directory.ImportPlan as JSON), what it would change, and who did what."""

    filename = models.CharField(max_length=255)
    mode = models.CharField(max_length=8)
    status = models.CharField(
        max_length=16,
        choices=DirectoryImportStatus.choices,
        default=DirectoryImportStatus.PREVIEWED,
    )
    plan = models.JSONField()
    summary = models.JSONField(default=dict)
    result = models.JSONField(null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=DirectoryImportStatus.values),
                name="directory_import_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(mode__in=["full", "delta"]), name="directory_import_mode_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.filename} ({self.status})"


class AuditAction(models.TextChoices):
    RESULTS_VIEWED = "results_viewed", _("Results viewed")
    RESULTS_EXPORTED = "results_exported", _("Results exported")
    REPORT_DOWNLOADED = "report_downloaded", _("Report downloaded")
    USER_INVITED = "user_invited", _("User invited")
    ROLE_CHANGED = "role_changed", _("Role changed")
    ROLE_REMOVED = "role_removed", _("Role removed")
    DIRECTORY_IMPORTED = "directory_imported", _("Directory imported")
    CAMPAIGN_LAUNCHED = "campaign_launched", _("Campaign launched")
    CAMPAIGN_CLOSED = "campaign_closed", _("Campaign closed")
    ACTION_CREATED = "action_created", _("Action created")
    ACTION_UPDATED = "action_updated", _("Action updated")
    API_KEY_CREATED = "api_key_created", _("API key created")
    API_KEY_REVOKED = "api_key_revoked", _("API key revoked")
    DIRECTORY_CHANGED = "directory_changed", _("Directory changed")
    SYNC_REQUESTED = "sync_requested", _("Directory sync requested")
    SYNC_APPROVED = "sync_approved", _("Directory sync approved")
    SYNC_REJECTED = "sync_rejected", _("Directory sync rejected")
    CAMPAIGN_CREATED = "campaign_created", _("Campaign created")
    CAMPAIGN_UPDATED = "campaign_updated", _("Campaign updated")
    REMINDERS_SENT = "reminders_sent", _("Reminders sent")
    DELIVERIES_RETRIED = "deliveries_retried", _("Failed deliveries retried")
    REPORT_REQUESTED = "report_requested", _("Report requested")
    WEBHOOK_CREATED = "webhook_created", _("Webhook endpoint created")
    WEBHOOK_UPDATED = "webhook_updated", _("Webhook endpoint changed")
    WEBHOOK_DELETED = "webhook_deleted", _("Webhook endpoint deleted")
    WEBHOOK_SECRET_ROTATED = "webhook_secret_rotated", _("Webhook secret rotated")
    WEBHOOK_REDELIVERED = "webhook_redelivered", _("Webhook event redelivered")
    WEBHOOK_PINGED = "webhook_pinged", _("Webhook test ping sent")


class AuditEntry(TenantModel):
    """Who did what, when, in which organisation: results viewed, downloads, role changes,
    imports and campaign state changes. Never answers, tokens or figures: `subject` names the
    object (a campaign, a department, a report, a person's email for role changes) and
    `detail` holds only labels such as the page or the role."""

    actor = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    # The actor as they were called at the time (an email, later an API key's name).
    actor_label = models.CharField(max_length=254)
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    subject = models.CharField(max_length=300, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(action__in=AuditAction.values), name="audit_action_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.subject}"


class ApiScope(models.TextChoices):
    """What an API key may do; accounts.permissions.SCOPE_PERMISSIONS turns each into
    permissions of the role table."""

    DIRECTORY_READ = "directory:read", _("Read departments and employees")
    DIRECTORY_WRITE = "directory:write", _("Change departments and employees, run syncs")
    CAMPAIGNS_READ = "campaigns:read", _("Read campaigns and participation")
    CAMPAIGNS_WRITE = (
        "campaigns:write",
        _("Create, launch, close and remind campaigns; manage action plans"),
    )
    RESULTS_READ = "results:read", _("Read and export results and actions")
    REPORTS_READ = "reports:read", _("Request and download PDF reports")
    WEBHOOKS_MANAGE = "webhooks:manage", _("Manage webhook endpoints")


class ApiKey(TenantModel):
    """A key an HRIS or a script uses to call the REST API for one organisation, within its
    scopes. Only a hash of the key is kept: it is shown once, when it is created."""

    name = models.CharField(max_length=100)
    # The first part of the key (after "plim_"): finds the row, and tells keys apart in lists.
    prefix = models.CharField(max_length=12, unique=True, db_index=True)
    # SHA-256 (hex) of the whole key. The key is 32 random bytes, so a fast hash is enough:
    # there is nothing to guess that a slow hash would protect.
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)  # ApiScope values
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        """Neither revoked nor expired: the key still opens the API."""
        return self.revoked_at is None and not self.is_expired

    @property
    def status(self) -> str:
        """One of "active", "expired" and "revoked", for lists."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if self.is_expired else "active"


class SyncRunStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    PLANNED = "planned", _("Checked (dry run)")
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    APPLIED = "applied", _("Applied")
    REJECTED = "rejected", _("Rejected")
    FAILED = "failed", _("Failed")


SYNC_RUN_PENDING = (SyncRunStatus.QUEUED, SyncRunStatus.RUNNING)


class SyncRun(TenantModel):
    """A directory sync sent through the API: its rows (kept until the run is decided), then
    what it changed or would change, every bad row, and who sent and approved it. Checked and
    applied by a Celery task through the directory import service (accounts.directory)."""

    mode = models.CharField(max_length=8)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(
        max_length=20, choices=SyncRunStatus.choices, default=SyncRunStatus.QUEUED
    )
    # {"departments": [...], "employees": [...], "source_rows": {...}, "file_errors": [...]}
    payload = models.JSONField(default=dict)
    summary = models.JSONField(default=dict)
    changes = models.JSONField(default=dict)
    errors = models.JSONField(default=list)
    reasons = models.JSONField(default=list)
    failure = models.TextField(blank=True)
    api_key = models.ForeignKey(
        "ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by_label = models.CharField(max_length=254)
    decided_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=SyncRunStatus.values), name="sync_run_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(mode__in=["full", "delta"]), name="sync_run_mode_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"sync run {self.pk} ({self.mode}, {self.status})"


class EventType(models.TextChoices):
    """The events webhook endpoints may subscribe to. Thin: each names what changed by id."""

    CAMPAIGN_LAUNCHED = "campaign.launched", _("A campaign was launched")
    CAMPAIGN_CLOSED = "campaign.closed", _("A campaign was closed")
    RESULTS_PUBLISHED = "results.published", _("A campaign's results were published")
    REPORT_READY = "report.ready", _("A report is ready to download")
    SYNC_COMPLETED = "directory.sync.completed", _("A directory sync run finished")
    SYNC_AWAITING_APPROVAL = (
        "directory.sync.awaiting_approval",
        _("A directory sync run waits for an admin's approval"),
    )
    SYNC_FAILED = "directory.sync.failed", _("A directory sync run failed")
    # Sent to one endpoint when an admin asks for it; never subscribed to.
    PING = "webhook.ping", _("Test ping")


class OutboxEvent(TenantModel):
    """An event for the organisation's webhook endpoints, written in the transaction of the
    change it announces (so it exists exactly when the change does) and fanned out to
    endpoints by `webhooks/`. Thin: a type and ids, never figures, answers or people."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=64, choices=EventType.choices)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    # When webhooks/ made a delivery per subscribed endpoint; NULL = still to do (the sweep
    # picks up events whose hand-over to Celery was lost).
    dispatched_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"
