"""Write the pages of an organisation's finished reports as PNG images, for a person to look at."""

import shutil
import subprocess
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Organization
from demo.seed import DEMO_SLUG
from reports.models import Report, ReportStatus
from reports.services import report_filename


class Command(BaseCommand):
    help = (
        "Turn every finished report of an organisation (the demo organisation by default) into "
        "PNG pages with pdftoppm: <out>/<report file name>-<page>.png."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", type=Path, required=True, help="Folder for the PNG files.")
        parser.add_argument("--organization", default=DEMO_SLUG, help="Organisation slug.")
        parser.add_argument("--dpi", type=int, default=60, help="Resolution (default 60).")

    def handle(self, *args, out: Path, organization: str, dpi: int, **options):
        if shutil.which("pdftoppm") is None:
            raise CommandError(
                "pdftoppm is missing: install poppler-utils (make system-packages-test)."
            )
        found = Organization.objects.filter(slug=organization).first()
        if found is None:
            raise CommandError(
                f"--organization: no organisation '{organization}'. Run `make demo` (or "
                "`manage.py seed_demo`) first for the demo organisation."
            )
        reports = (
            Report.objects.for_organization(found)
            .filter(status=ReportStatus.DONE)
            .exclude(file="")
            .select_related("campaign", "campaign__organization", "department")
            .order_by("pk")
        )
        if not reports:
            raise CommandError(f"Organisation '{organization}' has no finished reports yet.")
        out.mkdir(parents=True, exist_ok=True)
        for report in reports:
            stem = out / Path(report_filename(report)).stem
            with report.file.open("rb") as pdf:
                result = subprocess.run(
                    ["pdftoppm", "-png", "-r", str(dpi), "-", str(stem)],
                    input=pdf.read(),
                    capture_output=True,
                    check=False,
                )
            if result.returncode != 0:
                raise CommandError(
                    f"pdftoppm failed on report {report.pk}: {result.stderr.decode().strip()}"
                )
            pages = len(list(out.glob(f"{stem.name}-*.png")))
            self.stdout.write(f"{stem.name}: {pages} pages")
        self.stdout.write(self.style.SUCCESS(f"PNG pages are in {out}/."))
