"""Writes for instruments, campaigns, invitations and responses, one module per seam:

- `instruments`: loading versioned questionnaire definitions
- `campaigns`: create, settings, status, launch, the population frozen at launch
- `delivery`: invitation and reminder emails, tokens, retries and sweeps
- `submission`: who may still answer, and storing a response

Callers import from `assessments.services`; the modules are how the code is kept readable.
"""

from assessments.services.campaigns import (
    EDITABLE_WHILE_RUNNING,
    FROZEN_AFTER_LAUNCH,
    campaign_create,
    campaign_launch,
    campaign_population_freeze,
    campaign_settings_errors,
    campaign_transition,
    campaign_update,
    campaigns_open_due,
)
from assessments.services.delivery import (
    DELIVERY_REQUEUE_AFTER,
    DELIVERY_TASKS,
    DeliveryResult,
    campaign_delivery_queue,
    campaign_remind_now,
    campaigns_needing_delivery,
    invitation_token_issue,
    invitations_retry_failed,
    invitations_send_pending,
    reminders_schedule_due,
    reminders_send_owed,
    token_hash,
)
from assessments.services.errors import (
    CampaignFrozenError,
    IllegalTransitionError,
    InstrumentInUseError,
)
from assessments.services.instruments import InstrumentLoadResult, instrument_load
from assessments.services.submission import (
    AnswersInvalidError,
    CampaignNotOpenError,
    InvitationCompletedError,
    SubmissionContext,
    campaign_closed_reason,
    response_submit,
    submission_context,
)

__all__ = [
    "DELIVERY_REQUEUE_AFTER",
    "DELIVERY_TASKS",
    "EDITABLE_WHILE_RUNNING",
    "FROZEN_AFTER_LAUNCH",
    "AnswersInvalidError",
    "CampaignFrozenError",
    "CampaignNotOpenError",
    "DeliveryResult",
    "IllegalTransitionError",
    "InstrumentInUseError",
    "InstrumentLoadResult",
    "InvitationCompletedError",
    "SubmissionContext",
    "campaign_closed_reason",
    "campaign_create",
    "campaign_delivery_queue",
    "campaign_launch",
    "campaign_population_freeze",
    "campaign_remind_now",
    "campaign_settings_errors",
    "campaign_transition",
    "campaign_update",
    "campaigns_needing_delivery",
    "campaigns_open_due",
    "instrument_load",
    "invitation_token_issue",
    "invitations_retry_failed",
    "invitations_send_pending",
    "reminders_schedule_due",
    "reminders_send_owed",
    "response_submit",
    "submission_context",
    "token_hash",
]
