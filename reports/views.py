"""Report downloads."""

from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from reports.selectors import report_for_download


@never_cache  # Cache-Control: no-store, so no shared or browser cache keeps a copy
@require_GET
@login_required
def report_download(request: HttpRequest, pk: int) -> FileResponse:
    """Stream a finished PDF to someone whose scope covers it. Anyone else gets 404, which
    does not even confirm that the report exists."""
    report = report_for_download(user=request.user, report_id=pk)
    if report is None:
        raise Http404("No such report, or it is not ready yet.")
    return FileResponse(
        report.file.open("rb"),
        as_attachment=True,
        filename=Path(report.file.name).name,
        content_type="application/pdf",
    )
