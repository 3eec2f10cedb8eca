"""Keep personal survey tokens out of every log line (Django's and gunicorn's)."""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger as GunicornLogger

# /s/<token>/ where the token is the 43-character URL-safe form of 32 random bytes, or anything
# else a visitor put there; the survey's own fixed pages are left readable.
_TOKEN_PATH = re.compile(r"(/s/)(?!questions/|thanks/)[A-Za-z0-9_\-]{8,}(/?)")


def redact(text: str) -> str:
    return _TOKEN_PATH.sub(r"\1[token]\2", text)


class RedactSurveyTokens(logging.Filter):
    """Logging filter that rewrites survey links in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        # django.request attaches the request; its path would be printed by some handlers.
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "path"):
            record.request = None
        return True


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn access log without survey tokens (used from gunicorn.conf.py)."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # The path appears in several atoms (request line, URL, raw URI, environ copies).
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }
