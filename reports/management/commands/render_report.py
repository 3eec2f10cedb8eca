"""Render a campaign's report to a PDF file, here and now (no worker needed)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Department
from assessments.management.lookups import campaign_or_error
from reports.rendering import ReportUnavailableError, render_report


class Command(BaseCommand):
    help = (
        "Render the organisation report of a scored campaign, or one department's pack with "
        "--department, to a PDF file."
    )

    def add_arguments(self, parser):
        parser.add_argument("--campaign", type=int, required=True, help="Campaign id.")
        parser.add_argument("--department", type=int, help="Department id for its pack.")
        parser.add_argument("--lang", default="en", help="Language code (en or de).")
        parser.add_argument("--out", type=Path, required=True, help="Where to write the PDF.")

    def handle(self, *args, campaign: int, department: int | None, lang: str, out: Path, **kw):
        found = campaign_or_error(campaign)
        if lang not in found.instrument.languages:
            raise CommandError(
                f"--lang: {found.instrument} is available in "
                f"{', '.join(found.instrument.languages)}, not '{lang}'."
            )
        scope = None
        if department is not None:
            scope = (
                Department.objects.for_organization(found.organization_id)
                .filter(pk=department)
                .first()
            )
            if scope is None:
                raise CommandError(
                    f"--department: no department {department} in this campaign's organisation."
                )
        try:
            rendered = render_report(campaign=found, language=lang, department=scope)
        except ReportUnavailableError as exc:
            raise CommandError(str(exc)) from exc
        out.write_bytes(rendered.pdf)
        self.stdout.write(self.style.SUCCESS(f"Wrote {out} ({rendered.pages} pages)."))
