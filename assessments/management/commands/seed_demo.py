"""Build the demo organisation: departments, people, a closed and an open campaign."""

import time

from django.core.management.base import BaseCommand, CommandError

from assessments.demo import DEMO_PASSWORD, HR_EMAIL, MANAGER_EMAIL, demo_seed


class Command(BaseCommand):
    help = (
        "Build a realistic demo organisation (about 800 employees in 28 departments) with one "
        "closed campaign of simulated answers and one open campaign. The same seed builds the "
        "same organisation; running it again replaces the demo organisation instead of adding "
        "a second one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")

    def handle(self, *args, seed: int, **options):
        started = time.monotonic()

        def progress(message: str) -> None:
            self.stdout.write(f"[{time.monotonic() - started:5.1f}s] {message}")

        try:
            summary = demo_seed(seed=seed, progress=progress)
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo organisation '{summary.organization}' ready: {summary.departments} "
                f"departments, {summary.employees} employees, {summary.responses} responses."
            )
        )
        self.stdout.write(f"  Closed campaign: {summary.closed_campaign}")
        self.stdout.write(f"  Open campaign:   {summary.open_campaign}")
        self.stdout.write(f"Logins (password for both: {DEMO_PASSWORD})")
        self.stdout.write(f"  HR admin: {HR_EMAIL}  (admin site: /admin/)")
        self.stdout.write(
            f"  Manager of Warehouse North: {MANAGER_EMAIL}  (scoped to that subtree)"
        )
        self.stdout.write("Try the open survey as an employee (each link answers once):")
        for link in summary.sample_links:
            self.stdout.write(f"  {link}")
