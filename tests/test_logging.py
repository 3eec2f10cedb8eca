"""Survey tokens never reach a log line, Django's or gunicorn's."""

import datetime as dt
import logging
import sys
from types import SimpleNamespace

import pytest

from config.logging import RedactingGunicornLogger, RedactSurveyTokens, redact

TOKEN = "ZsMAgJUvqFK4Lp-uEAsVh81Fd-2gVfqda8K6JuGxRII"


def test_redact_replaces_the_token_and_keeps_the_rest():
    assert redact(f"GET /s/{TOKEN}/ HTTP/1.1") == "GET /s/[token]/ HTTP/1.1"
    assert redact("GET /s/questions/ HTTP/1.1") == "GET /s/questions/ HTTP/1.1"
    assert redact("/admin/accounts/") == "/admin/accounts/"


def test_filter_rewrites_message_and_arguments():
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", (f"/s/{TOKEN}/",), None
    )
    assert RedactSurveyTokens().filter(record)
    assert TOKEN not in record.getMessage()


def test_gunicorn_access_log_has_no_token():
    logger = RedactingGunicornLogger(
        SimpleNamespace(
            errorlog="-",
            loglevel="info",
            accesslog="-",
            syslog=False,
            capture_output=False,
            logconfig=None,
            logconfig_dict={},
            logconfig_json=None,
            disable_redirect_access_to_syslog=True,
            access_log_format='%(h)s "%(r)s" %(s)s',
            user=0,
            group=0,
            umask=0,
            statsd_host=None,
            dogstatsd_tags="",
            statsd_prefix="",
            env={},
            proc_name="t",
        )
    )
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/s/{TOKEN}/",
        "PATH_INFO": f"/s/{TOKEN}/",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    req = SimpleNamespace(
        headers=[], method="GET", uri=f"/s/{TOKEN}/", path=f"/s/{TOKEN}/", query="", version=(1, 1)
    )
    resp = SimpleNamespace(status="302 Found", sent=0, headers=[], response_length=0)
    atoms = logger.atoms(resp, req, environ, dt.timedelta(seconds=0.01))
    assert TOKEN not in repr(atoms)
    assert atoms["r"] == "GET /s/[token]/ HTTP/1.1"


@pytest.mark.parametrize(
    "path",
    [
        f"/s/{TOKEN}/",
        f"/s/{TOKEN[:10]}%{ord(TOKEN[10]):02X}{TOKEN[11:]}/",  # one character percent-encoded
        f"/s//{TOKEN}/",
        f"/S/{TOKEN}/",
        f"/%73/{TOKEN}/",
        f"/s/{TOKEN}",
        f"GET /s/{TOKEN}/?lang=de HTTP/1.1",
        f"/s/questions/{TOKEN}/",
        f"/s/thanks/{TOKEN}",
        f"/s/./{TOKEN}/",
        f"/s/+{TOKEN}",
        f"/s;x/{TOKEN}/",
        f"/s/{TOKEN[:20]}.{TOKEN[20:]}/",
    ],
)
def test_every_spelling_of_a_survey_link_is_redacted(path):
    assert "[token]" in redact(path)
    assert TOKEN[:12] not in redact(path) and TOKEN[-12:] not in redact(path)
    assert redact("GET /s/questions/ HTTP/1.1") == "GET /s/questions/ HTTP/1.1"


def _gunicorn_logger():
    return RedactingGunicornLogger(
        SimpleNamespace(
            errorlog="-", loglevel="info", accesslog="-", syslog=False, capture_output=False,
            logconfig=None, logconfig_dict={}, logconfig_json=None,
            disable_redirect_access_to_syslog=True, access_log_format='%(h)s "%(r)s" %(s)s',
            user=0, group=0, umask=0, statsd_host=None, dogstatsd_tags="", statsd_prefix="",
            env={}, proc_name="t",
        )
    )  # fmt: skip


def test_gunicorn_error_log_has_no_token(capsys):
    logger = _gunicorn_logger()
    logger.error("Error handling request %s", f"/s//{TOKEN}/")
    logger.exception("Error handling request /S/%s/", TOKEN)
    logger.warning(f"Invalid request from ip=1.2.3.4: GET /s/{TOKEN}/")
    err = capsys.readouterr().err
    assert "[token]" in err and TOKEN not in err


def test_exception_texts_are_redacted_too():
    try:
        raise LookupError({"path": f"s/{TOKEN}/", "tried": []})
    except LookupError:
        record = logging.LogRecord(
            "django.request", logging.ERROR, __file__, 1, "Failed", (), sys.exc_info()
        )
    RedactSurveyTokens().filter(record)
    text = logging.Formatter().format(record)
    assert "[token]" in text and TOKEN not in text
