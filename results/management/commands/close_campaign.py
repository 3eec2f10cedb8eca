"""Close an open campaign now: answers stop at once and scoring is requested."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from assessments.management.lookups import campaign_or_error
from results.models import ResultRun, RunStatus
from results.selectors import published_respondents
from results.services import campaign_close


class Command(BaseCommand):
    help = (
        "Close an open campaign by id. It stops accepting answers and its scoring is queued "
        "(without a broker it runs at once, and a failure makes this command fail)."
    )

    def add_arguments(self, parser):
        parser.add_argument("campaign_id", type=int)

    def handle(self, *args, campaign_id: int, **options):
        campaign = campaign_or_error(campaign_id)
        try:
            campaign = campaign_close(campaign=campaign)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        run = ResultRun.objects.filter(campaign=campaign).order_by("-created_at").first()
        if run is not None and run.status == RunStatus.FAILED:
            raise CommandError(f"Campaign '{campaign}' is closed, but scoring failed: {run.error}")
        if run is not None and run.status == RunStatus.DONE:
            count = published_respondents(run=run)
            respondents = f"{count} respondents" if count is not None else "respondents hidden"
            self.stdout.write(
                self.style.SUCCESS(f"Campaign '{campaign}' is closed and scored ({respondents}).")
            )
            return
        self.stdout.write(self.style.SUCCESS(f"Campaign '{campaign}' is closed; scoring queued."))
