"""Build the demo organisation: departments, people, a closed and an open campaign."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo.seed import (
    ANALYST_EMAIL,
    DEMO_PASSWORD,
    HR_EMAIL,
    MANAGER_EMAIL,
    REPRESENTATIVE_EMAIL,
    VIEWER_EMAIL,
    DemoConflictError,
    demo_seed,
)


class Command(BaseCommand):
    help = (
        "Build a realistic demo organisation (about 800 employees in 28 departments) with one "
        "closed campaign of simulated answers and one open campaign. The same seed builds the "
        "same organisation; running it again replaces the demo organisation instead of adding "
        "a second one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
        parser.add_argument(
            "--no-reports", action="store_true", help="Skip rendering the demo PDF reports."
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed a database other than the embedded SQLite one (it creates a superuser "
            "with a published password).",
        )

    def handle(self, *args, seed: int, force: bool, no_reports: bool, **options):
        engine = settings.DATABASES["default"]["ENGINE"]
        if engine != "django.db.backends.sqlite3" and not force:
            raise CommandError(
                "seed_demo creates a superuser with a published password; it runs on the "
                "embedded SQLite database only. Pass --force to seed this database anyway."
            )
        started = time.monotonic()

        def progress(message: str) -> None:
            self.stdout.write(f"[{time.monotonic() - started:5.1f}s] {message}")

        try:
            summary = demo_seed(seed=seed, progress=progress, reports=not no_reports)
        except (LookupError, DemoConflictError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo organisation '{summary.organization}' ready: {summary.departments} "
                f"departments, {summary.employees} employees, {summary.responses} responses."
            )
        )
        if summary.baseline_campaign:
            self.stdout.write(
                f"  Last year's campaign: {summary.baseline_campaign} (its actions and what "
                "they changed show on the spring campaign's pages)"
            )
        self.stdout.write(f"  Closed campaign: {summary.closed_campaign}")
        self.stdout.write(f"  Open campaign:   {summary.open_campaign}")
        self.stdout.write(
            f"Sign in at {settings.SITE_URL}/login/ (password for every login: {DEMO_PASSWORD})"
        )
        self.stdout.write(f"  HR admin: {HR_EMAIL}  (also the admin site: /admin/)")
        self.stdout.write(f"  Analyst: {ANALYST_EMAIL}")
        self.stdout.write(
            f"  Manager of Warehouse North: {MANAGER_EMAIL}  (sees that subtree only)"
        )
        self.stdout.write(f"  Viewer: {VIEWER_EMAIL}")
        self.stdout.write(
            f"  Employee representative (results and audit trail): {REPRESENTATIVE_EMAIL}"
        )
        if summary.api_key:
            self.stdout.write(f"API key for trying the API (read-only scopes): {summary.api_key}")
            self.stdout.write(
                f'  curl -H "Authorization: Api-Key {summary.api_key}" '
                f"{settings.SITE_URL}/api/v1/directory/departments"
            )
            self.stdout.write(f"  API docs: {settings.SITE_URL}/api/v1/docs/")
            self.stdout.write(
                "  A full HRIS sync waits for an admin's approval (HR admin's home page, or "
                "People and departments → HRIS syncs); a webhook endpoint, switched off, is "
                "under Webhooks."
            )
        if summary.reports:
            self.stdout.write("PDF reports of the closed campaign (sign in as the HR admin first):")
            for report in summary.reports:
                self.stdout.write(f"  {settings.SITE_URL}/reports/{report.pk}/download/")
        self.stdout.write("Try the open survey as an employee (each link answers once):")
        for link in summary.sample_links:
            self.stdout.write(f"  {link}")
