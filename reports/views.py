"""Report downloads."""

from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import resolve_url
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.models import AuditAction
from accounts.permissions import access_and_second_factor
from accounts.services import audit_record
from reports.models import Report
from reports.selectors import report_for_download


@never_cache  # Cache-Control: no-store, so no shared or browser cache keeps a copy
@require_GET
@login_required
def report_download(request: HttpRequest, pk: int) -> FileResponse:
    """Stream a finished PDF to someone whose scope covers it. Anyone else gets 404, which
    does not even confirm that the report exists."""
    # Until pages carry a current organisation, the access is the user's in the report's
    # organisation: without a membership there it is no access at all. A superuser is no
    # exception; the admin site has its own download.
    organization_id = Report.objects.filter(pk=pk).values_list("organization_id", flat=True)
    access, factor_missing = access_and_second_factor(
        user=request.user, organization=organization_id.first()
    )
    if factor_missing:
        # Signed in with a password only where a second factor is owed: confirm it first.
        return redirect_to_login(request.get_full_path(), resolve_url(settings.SECOND_FACTOR_URL))
    report = report_for_download(access=access, report_id=pk)
    if report is None:
        raise Http404("No such report, or it is not ready yet.")
    audit_record(
        organization=report.organization_id,
        actor=request.user,
        action=AuditAction.REPORT_DOWNLOADED,
        subject=f"report {report.pk}: {Path(report.file.name).name}",
    )
    return FileResponse(
        report.file.open("rb"),
        as_attachment=True,
        filename=Path(report.file.name).name,
        content_type="application/pdf",
    )
