"""Keep personal survey tokens out of every log line (Django's and gunicorn's)."""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger as GunicornLogger

# /s/<token>/ where the token is the 43-character URL-safe form of 32 random bytes, or anything
# else a visitor put there, in every spelling that reaches the survey: percent-encoded
# characters, repeated slashes, an upper-case or percent-encoded "s". The survey's own fixed
# pages are left readable.
_TOKEN_PATH = re.compile(
    r"((?<![A-Za-z0-9%])(?:s|%73)/+)(?!questions/|thanks/)"
    r"((?:[A-Za-z0-9_\-]|%[0-9A-Fa-f]{2}){8,})(/?)",
    re.IGNORECASE,
)


# Anything after a survey prefix that is long enough to be a token, wherever it stands in the
# path (after "questions/", "./", "+", ";x/", or with dots inside it).
_SURVEY_PATH = re.compile(r"(?<![A-Za-z0-9%])(?:s|%73)(?:;[^/\s]*)?/[^\s\"'<>]*", re.IGNORECASE)
_LONG_RUN = re.compile(r"(?:[A-Za-z0-9_\-.~+]|%[0-9A-Fa-f]{2}){20,}")


def redact(text: str) -> str:
    text = _TOKEN_PATH.sub(r"\1[token]\3", text)
    return _SURVEY_PATH.sub(lambda m: _LONG_RUN.sub("[token]", m.group(0)), text)


class RedactSurveyTokens(logging.Filter):
    """Logging filter that rewrites survey links in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Redacted after formatting: a token can be split between the message and its
        # arguments ("request /s/%s/" with the token as the argument).
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: keep what there is
            message = str(record.msg)
        record.msg = redact(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            # Exception texts name paths too (a 404's "s/<token>/"); handlers print exc_text.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        # django.request attaches the request; its path would be printed by some handlers.
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "path"):
            record.request = None
        return True


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn's access and error logs without survey tokens (used from gunicorn.conf.py)."""

    def setup(self, cfg):
        super().setup(cfg)
        # The error log names the request's URI ("Error handling request /s/...").
        self.error_log.addFilter(RedactSurveyTokens())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        # The path appears in several atoms (request line, URL, raw URI, environ copies).
        return {
            key: redact(value) if isinstance(value, str) else value for key, value in atoms.items()
        }
