"""Writes for what HR gets out of results: action plans and PDF reports."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import Department, EventType
from accounts.services import event_record
from assessments.models import Campaign
from reports.models import Action, ActionStatus, Report, ReportStatus
from results.models import DomainResult, ResultRun
from results.scoring import OVERALL
from results.selectors import current_run

logger = logging.getLogger(__name__)

# A report still queued this long after it was asked for was lost on the way (broker down).
STALE_PENDING = dt.timedelta(minutes=2)


# --- Action plans -------------------------------------------------------------------------


def action_errors(*, campaign, department, domain_code, title, owner, status) -> dict[str, str]:
    """What is wrong with an action's fields, by field name (empty when nothing is)."""
    errors: dict[str, str] = {}
    if department.organization_id != campaign.organization_id:
        errors["department"] = f"Department '{department}' belongs to another organisation."
    domains = set(campaign.instrument.domains.values_list("code", flat=True))
    if domain_code not in domains:
        errors["domain_code"] = (
            f"'{domain_code}' is not a domain of {campaign.instrument}; "
            f"choose one of {', '.join(sorted(domains))}."
        )
    if not title.strip():
        errors["title"] = "An action needs a title."
    if not owner.strip():
        errors["owner"] = "Name who carries the action out."
    if status not in ActionStatus.values:
        errors["status"] = (
            f"Unknown status '{status}'; choose one of {', '.join(ActionStatus.values)}."
        )
    return errors


@transaction.atomic
def action_create(
    *,
    campaign: Campaign,
    department: Department,
    domain_code: str,
    title: str,
    owner: str,
    description: str = "",
    due_date: dt.date | None = None,
    status: str = ActionStatus.PLANNED,
) -> Action:
    """Record an action agreed for one department and domain of a campaign."""
    errors = action_errors(
        campaign=campaign, department=department, domain_code=domain_code, title=title,
        owner=owner, status=status,
    )  # fmt: skip
    if errors:
        raise ValidationError(errors)
    return Action.objects.create(
        organization_id=campaign.organization_id,
        campaign=campaign,
        department=department,
        domain_code=domain_code,
        title=title.strip(),
        description=description.strip(),
        owner=owner.strip(),
        due_date=due_date,
        status=status,
    )


ACTION_EDITABLE = ("title", "description", "owner", "due_date", "status", "domain_code")


@transaction.atomic
def action_update(*, action: Action, **changes) -> Action:
    """Change an action's wording, owner, due date or status."""
    unknown = sorted(set(changes) - set(ACTION_EDITABLE))
    if unknown:
        raise ValidationError({unknown[0]: f"'{unknown[0]}' cannot be changed."})
    locked = (
        Action.objects.select_for_update(of=("self",))
        .select_related("campaign", "department")
        .get(pk=action.pk)
    )
    merged = {name: changes.get(name, getattr(locked, name)) for name in ACTION_EDITABLE}
    errors = action_errors(
        campaign=locked.campaign, department=locked.department, domain_code=merged["domain_code"],
        title=merged["title"], owner=merged["owner"], status=merged["status"],
    )  # fmt: skip
    if errors:
        raise ValidationError(errors)
    for name, value in changes.items():
        setattr(locked, name, value.strip() if isinstance(value, str) else value)
    locked.save()
    return locked


# --- PDF reports ----------------------------------------------------------------------------


def report_request(
    *,
    campaign: Campaign,
    language: str,
    department: Department | None = None,
    requested_by=None,
) -> Report:
    """Ask for a PDF of the campaign's current results; rendered by a task on the reports queue.

    A report with the same inputs (report_inputs: result run, scope, language, action plans,
    department names, suggested actions, layout, date) that is queued, running or done is
    returned instead of a new one, so asking twice renders once; anything changed renders anew.
    """
    with transaction.atomic():
        run = current_run(campaign=campaign)
        errors = {}
        if run is None:
            errors["campaign"] = f"Campaign '{campaign}' has no results yet to report on."
        if language not in campaign.instrument.languages:
            errors["language"] = (
                f"Reports for {campaign.instrument} are available in "
                f"{', '.join(campaign.instrument.languages)}, not '{language}'."
            )
        if department is not None and department.organization_id != campaign.organization_id:
            errors["department"] = f"Department '{department}' belongs to another organisation."
        elif (
            department is not None
            and run is not None
            and not _published_priorities(run).filter(department=department).exists()
        ):
            errors["department"] = (
                f"Department '{department}' has no published results in this campaign (fewer "
                f"than {campaign.min_group_size} respondents, or hidden so that a smaller group "
                "cannot be worked out): no pack can be made without exposing them."
            )
        if errors:
            raise ValidationError(errors)
        inputs = report_inputs(campaign=campaign, run=run, department=department, language=language)
        same = Report.objects.for_organization(campaign.organization_id).filter(
            campaign=campaign,
            department=department,
            language=language,
            result_run=run,
            inputs=inputs,
        )
        existing = same.exclude(status=ReportStatus.FAILED).order_by("-created_at").first()
        if existing is not None:
            return existing
        report = Report.objects.create(
            organization_id=campaign.organization_id,
            campaign=campaign,
            department=department,
            language=language,
            result_run=run,
            inputs=inputs,
            requested_by=requested_by,
        )
        _enqueue_report(report.pk)
    return report


# Everything besides data that shapes a report's file.
_LAYOUT_FILES = (
    "templates/reports/*.html",
    "reports/static/reports/*",
    "reports/rendering.py",
    "reports/effectiveness.py",
    "reports/charts.py",
    "reports/pdf.py",
    "locale/*/LC_MESSAGES/django.mo",
)


@functools.lru_cache(maxsize=1)
def _layout_version() -> str:
    """A digest of the report templates, styles, rendering code and translations."""
    root = Path(settings.BASE_DIR)
    digest = hashlib.sha256()
    for pattern in _LAYOUT_FILES:
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


_ACTION_FIELDS = (
    "pk", "department_id", "domain_code", "title", "description", "owner", "due_date", "status",
    "updated_at",
)  # fmt: skip


def _campaign_inputs(campaign: Campaign, run: ResultRun) -> str:
    """The digest of what every report of a campaign's run shares: the run, the campaign and
    its questionnaire, the departments' names and places, every action plan (and those of the
    campaign it follows up), the suggested actions, the layout, and today's date (actions turn
    overdue; the cover shows the date)."""
    from reports.recommendations import LIBRARY_DIR

    digest = hashlib.sha256()
    recommendations = LIBRARY_DIR / f"{campaign.instrument.code}.yaml"
    parts = [
        _layout_version(),
        str(run.pk),
        campaign.name,
        campaign.instrument.checksum,
        timezone.localdate().isoformat(),
        recommendations.read_bytes() if recommendations.exists() else b"",
        list(
            Department.objects.for_organization(campaign.organization_id)
            .order_by("pk")
            # The organisation's name rides along: it heads every page.
            .values_list("pk", "name", "parent_id", "organization__name")
        ),
        # The previous campaign's actions too: this report shows what changed where they were.
        list(
            Action.objects.filter(Q(campaign=campaign) | Q(campaign__follow_ups=campaign))
            .order_by("pk")
            .values_list(*_ACTION_FIELDS)
        ),
    ]
    for part in parts:
        digest.update(part if isinstance(part, bytes) else repr(part).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def _report_inputs(shared: str, department: Department | None, language: str) -> str:
    scope = "" if department is None else str(department.pk)
    return hashlib.sha256(f"{shared}|{scope}|{language}".encode()).hexdigest()


def report_inputs(
    *, campaign: Campaign, run: ResultRun, department: Department | None, language: str
) -> str:
    """A digest of everything that goes into one report: a file is reused only for the same."""
    return _report_inputs(_campaign_inputs(campaign, run), department, language)


def _published_priorities(run: ResultRun):
    """The run's department priority cells that are shown: a department with one has a pack."""
    return DomainResult.objects.filter(
        run=run, domain_code=OVERALL, breakdown_attribute="", suppressed=False
    )


def _enqueue_report(report_id: int) -> None:
    transaction.on_commit(lambda: _send_report(report_id))


def _send_report(report_id: int) -> None:
    from reports.tasks import render_report as task

    try:
        task.delay(report_id)
    except Exception:  # noqa: BLE001 - the sweep re-enqueues queued reports
        logger.warning("Could not enqueue report %s; the sweep will retry", report_id)
        return
    Report.objects.filter(pk=report_id).update(queued_at=timezone.now())


@transaction.atomic
def report_request_packs(
    *,
    campaign: Campaign,
    requested_by=None,
    language: str | None = None,
    within: Department | None = None,
) -> list[Report]:
    """Ask for a department pack, in each campaign language (or in `language` only), for every
    department whose results are published in the current run (a suppressed department gets
    no pack); with `within`, only for that department and those below it (a manager's subtree).

    Packs already queued, running or done with the same inputs are reused; the others are
    created in one statement. A fixed number of queries, whatever the number of departments.
    """
    run = current_run(campaign=campaign)
    if run is None:
        raise ValidationError({"campaign": f"Campaign '{campaign}' has no results yet."})
    if language is not None and language not in campaign.instrument.languages:
        raise ValidationError(
            {
                "language": f"Reports for {campaign.instrument} are available in "
                f"{', '.join(campaign.instrument.languages)}, not '{language}'."
            }
        )
    if within is not None and within.organization_id != campaign.organization_id:
        raise ValidationError(
            {"department": f"Department '{within}' belongs to another organisation."}
        )
    published = (
        Department.objects.for_organization(campaign.organization_id)
        .filter(pk__in=_published_priorities(run).values("department_id"))
        .order_by("path")
    )
    if within is not None:
        published = published.filter(path__startswith=within.path)
    languages = [language] if language is not None else list(campaign.languages)
    shared = _campaign_inputs(campaign, run)
    existing = {
        (report.department_id, report.language, report.inputs): report
        for report in Report.objects.for_organization(campaign.organization_id)
        .filter(campaign=campaign, result_run=run, department__isnull=False)
        .exclude(status=ReportStatus.FAILED)
        .order_by("created_at")  # the newest of twins wins
    }
    wanted = [
        (department, language, _report_inputs(shared, department, language))
        for department in published
        for language in languages
    ]
    created = Report.objects.bulk_create(
        [
            Report(
                organization_id=campaign.organization_id,
                campaign=campaign,
                department=department,
                language=language,
                result_run=run,
                inputs=inputs,
                requested_by=requested_by,
            )
            for department, language, inputs in wanted
            if (department.pk, language, inputs) not in existing
        ]
    )
    for report in created:
        existing[(report.department_id, report.language, report.inputs)] = report
        _enqueue_report(report.pk)
    return [existing[(department.pk, language, inputs)] for department, language, inputs in wanted]


def report_render(*, report_id: int) -> Report:
    """Render a queued report into storage; safe to run twice, failures recorded on the row.

    A done report is left alone. If a done report with the same inputs already has a file,
    that file is reused instead of rendering again. A failure
    keeps whatever file the row had before.
    """
    from reports.rendering import render_report

    with transaction.atomic():
        report = (
            # Only the report row: its department is nullable, and PostgreSQL cannot lock the
            # nullable side of an outer join.
            Report.objects.select_for_update(of=("self",))
            .select_related("campaign", "department", "campaign__organization", "result_run")
            .get(pk=report_id)
        )
        if report.status == ReportStatus.DONE:
            return report
        twin = (
            Report.objects.filter(
                campaign=report.campaign_id,
                department=report.department_id,
                language=report.language,
                result_run=report.result_run_id,
                inputs=report.inputs,
                status=ReportStatus.DONE,
            )
            .exclude(pk=report.pk)
            .exclude(file="")
            .first()
        )
        if twin is not None:
            report.file.name = twin.file.name
            report.status = ReportStatus.DONE
            report.error = ""
            report.finished_at = timezone.now()
            report.save(update_fields=["file", "status", "error", "finished_at"])
            _report_ready(report)
            return report
        report.status = ReportStatus.RUNNING
        report.started_at = timezone.now()
        report.save(update_fields=["status", "started_at"])
    try:
        rendered = render_report(
            campaign=report.campaign,
            language=report.language,
            department=report.department,
            run=report.result_run,
        )
        name = report_filename(report)
        with transaction.atomic():
            locked = Report.objects.select_for_update().get(pk=report_id)
            if locked.status == ReportStatus.DONE:
                return locked
            locked.file.save(name, ContentFile(rendered.pdf), save=False)
            locked.status = ReportStatus.DONE
            locked.error = ""
            locked.finished_at = timezone.now()
            locked.save(update_fields=["file", "status", "error", "finished_at"])
            _report_ready(report)
            return locked
    except Exception as exc:
        Report.objects.filter(pk=report_id).exclude(status=ReportStatus.DONE).update(
            status=ReportStatus.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        logger.exception("Report %s failed", report_id)
        return Report.objects.get(pk=report_id)


def _report_ready(report: Report) -> None:
    """For webhooks, in the transaction that marks the report done: ids, never figures."""
    event_record(
        organization=report.organization_id,
        type=EventType.REPORT_READY,
        data={
            "report": {
                "id": report.pk,
                "campaign_id": report.campaign_id,
                "department_external_id": report.department.external_id
                if report.department_id
                else None,
                "kind": "department" if report.department_id else "organisation",
            }
        },
    )


def report_filename(report: Report) -> str:
    """A readable file name: organisation, campaign, scope and language."""
    parts = [report.campaign.organization.slug, slugify(report.campaign.name)]
    if report.department_id:
        parts.append(slugify(report.department.name))
    else:
        parts.append("organisation")
    parts.append(report.language)
    return "-".join(part for part in parts if part) + ".pdf"


# A report still running this long after it started lost its worker: longer than the
# hard time limit of a task (config/celery.py), so a live rendering is never doubled.
STALE_RENDERING = dt.timedelta(minutes=15)


def reports_sweep(*, now: dt.datetime | None = None) -> list[int]:
    """Re-enqueue reports left queued (broker down when asked) or whose worker vanished."""
    now = now or timezone.now()
    stale = Report.objects.filter(
        status=ReportStatus.QUEUED, created_at__lt=now - STALE_PENDING
    ) | Report.objects.filter(status=ReportStatus.RUNNING, started_at__lt=now - STALE_RENDERING)
    # Reports whose task was sent recently are left alone: no pile of copies in a slow queue.
    recently = Q(queued_at__gte=now - STALE_PENDING)
    report_ids = list(stale.exclude(recently).values_list("pk", flat=True))
    for report_id in report_ids:
        _send_report(report_id)
    return report_ids
