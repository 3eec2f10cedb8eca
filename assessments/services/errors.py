"""The refusals of the campaign services, each a ValidationError naming its field."""

from django.core.exceptions import ValidationError


class InstrumentInUseError(ValidationError):
    """Raised when a definition would change an instrument version that a campaign uses."""


class IllegalTransitionError(ValidationError):
    """Raised when a campaign is asked to move to a status it cannot reach from where it is."""


class CampaignFrozenError(ValidationError):
    """Raised when a launched campaign's frozen settings are changed."""
