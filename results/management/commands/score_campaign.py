"""Score a closed campaign again (for example after an instrument fix or a failed run)."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from assessments.management.lookups import campaign_or_error
from results.models import RunStatus
from results.selectors import published_respondents
from results.services import result_run_execute, result_run_request


class Command(BaseCommand):
    help = (
        "Request a scoring run for a closed campaign. By default it is queued for the workers; "
        "with --now it runs in this process and prints the outcome."
    )

    def add_arguments(self, parser):
        parser.add_argument("campaign_id", type=int)
        parser.add_argument("--now", action="store_true", help="Score in this process.")

    def handle(self, *args, campaign_id: int, now: bool, **options):
        campaign = campaign_or_error(campaign_id)
        try:
            run = result_run_request(campaign=campaign)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if not now:
            self.stdout.write(f"Scoring run {run.pk} for '{campaign}' is {run.status}.")
            return
        run = result_run_execute(run_id=run.pk)
        if run.status != RunStatus.DONE:
            raise CommandError(f"Scoring run {run.pk} failed: {run.error}")
        # The published count only: below k (or protecting a smaller group) it stays hidden.
        count = published_respondents(run=run)
        respondents = f"{count} respondents" if count is not None else "respondents hidden"
        self.stdout.write(
            self.style.SUCCESS(f"Scoring run {run.pk} done: {respondents} in {run.duration_ms} ms.")
        )
