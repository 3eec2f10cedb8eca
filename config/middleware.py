"""Middleware that belongs to the deployment rather than to an app."""

from __future__ import annotations

import codecs

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RejectUndecodableForms:
    """Answer 400 at once to a form post whose declared charset is not UTF-8.

    Django refuses such bodies, but only when something reads request.POST; the CSRF check
    then fails inside the error handling too and every URL answers 500 with a cascade of
    tracebacks. Here it is a plain 400 (logged once, by django.request) before anything reads
    the body.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            content_type = request.content_type or ""
            charset = (request.content_params or {}).get("charset")
            if content_type in FORM_TYPES and charset and not _is_utf8(charset):
                # django.request logs the 400 once ("Bad Request: <path>").
                return HttpResponseBadRequest(
                    "Forms must be sent in UTF-8.", content_type="text/plain; charset=utf-8"
                )
        return self.get_response(request)


def _is_utf8(charset: str) -> bool:
    try:
        return codecs.lookup(charset).name == "utf-8"
    except LookupError:
        return False
