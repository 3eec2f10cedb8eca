"""Launch a draft campaign: invite its target departments and open or schedule it."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from assessments.management.lookups import campaign_or_error
from assessments.services import campaign_launch


class Command(BaseCommand):
    help = (
        "Launch a draft campaign by id: check it, invite every active employee of its target "
        "departments (and below), and open it now or schedule it for its opening time."
    )

    def add_arguments(self, parser):
        parser.add_argument("campaign_id", type=int)

    def handle(self, *args, campaign_id: int, **options):
        campaign = campaign_or_error(campaign_id)
        try:
            campaign = campaign_launch(campaign=campaign)
        except ValidationError as exc:
            problems = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
            )
            raise CommandError(f"Campaign '{campaign}' cannot launch: {problems}") from exc
        invited = campaign.invitations.count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Campaign '{campaign}' is {campaign.status}: {invited} invitations."
            )
        )
