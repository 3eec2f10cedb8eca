"""An email backend for tests: like locmem, but refuses addresses containing "bounce"."""

import smtplib

from django.core import mail
from django.core.mail.backends.locmem import EmailBackend


class BouncingBackend(EmailBackend):
    def send_messages(self, messages):
        for message in messages:
            refused = [r for r in message.recipients() if "bounce" in r]
            if refused:
                raise smtplib.SMTPRecipientsRefused(
                    dict.fromkeys(refused, (550, b"5.1.1 mailbox unavailable"))
                )
        return super().send_messages(messages)


def outbox():
    return mail.outbox
