"""Report downloads."""

from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from reports.models import Report, ReportStatus


@require_GET
@login_required
def report_download(request: HttpRequest, pk: int) -> FileResponse:
    """Stream a finished PDF. For now only staff may download (HR roles come with the HR app);
    anyone else gets 404, which does not even confirm that the report exists."""
    if not request.user.is_staff:
        raise Http404("No such report.")
    report = Report.objects.filter(pk=pk, status=ReportStatus.DONE).exclude(file="").first()
    if report is None:
        raise Http404("No such report, or it is not ready yet.")
    return FileResponse(
        report.file.open("rb"),
        as_attachment=True,
        filename=Path(report.file.name).name,
        content_type="application/pdf",
    )
