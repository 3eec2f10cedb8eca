"""Two rules every API request meets before its view runs: a body size limit (413) and, for a
POST with an `Idempotency-Key`, the stored answer to the same request sent before.

Size: a request whose Content-Length exceeds its view's limit (the view's `max_body_setting`
names a setting; API_MAX_BODY_BYTES otherwise) is refused before anything reads its body; a body
within it is read here, so Django's own DATA_UPLOAD_MAX_MEMORY_SIZE does not apply on top.

Idempotency: the first POST with a key is answered as usual and its answer kept for
API_IDEMPOTENCY_HOURS; the same key with the same method, path, query and body gets that answer
again (with `Idempotent-Replayed: true`), with anything else 422, and while the first is still
being answered 409. Keys belong to who sent them (the API key, or the signed-in user). Answers
that say nothing about the request itself (401, 403, 429, 5xx) are not kept, so a retry runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.urls import Resolver404, resolve
from django.utils import timezone

from api.models import IdempotentRequest
from api.problems import BASE, CONTENT_TYPE, TITLES

HEADER = "HTTP_IDEMPOTENCY_KEY"
KEY_MAX_LENGTH = IdempotentRequest._meta.get_field("key").max_length
NOT_KEPT = {401, 403, 429}


def withheld(response):
    """Mark an answer that shows a secret once (a webhook signing secret): its Idempotency-Key
    is kept, so the request is not acted on twice, but not the answer, so the secret is not
    stored a second time; a repeat gets 409 saying so."""
    response.holds_secret = True
    response["Cache-Control"] = "no-store"
    return response


def _problem(status: int, detail: str) -> HttpResponse:
    kind, title = TITLES[status]
    body = {"type": BASE + kind, "title": title, "status": status, "detail": detail}
    return HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)


def _view_class(request):
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    return getattr(match.func, "cls", None)


def _principal(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        return "key:" + hashlib.sha256(header.encode()).hexdigest()
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


class ApiRequestRules:
    """Installed after authentication; acts on /api/ paths only."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        if not request.path_info.startswith("/api/"):
            return self.get_response(request)
        if "\x00" in request.path_info or "%00" in request.META.get("QUERY_STRING", ""):
            return _problem(400, "The address contains a NUL character, which no value may hold.")
        view = _view_class(request)
        if view is not None:
            limit = getattr(settings, getattr(view, "max_body_setting", "API_MAX_BODY_BYTES"))
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > limit:
                return _problem(
                    413,
                    f"The request body has {length:,} bytes; this endpoint accepts at most "
                    f"{limit:,}.",
                )
            if length:
                # The body is within this endpoint's limit (which may be above Django's
                # DATA_UPLOAD_MAX_MEMORY_SIZE): read it here, so the view reads it again.
                body = request.read()
                request._body = body
                request._stream = io.BytesIO(body)
                if not request.content_type.startswith("multipart/") and (
                    b"\x00" in body or b"\\u0000" in body
                ):
                    return _problem(
                        400, "The body contains a NUL character (\\u0000), which no value may hold."
                    )
        key = request.META.get(HEADER)
        if request.method != "POST" or key is None or view is None:
            return self.get_response(request)
        return self._idempotent(request, key)

    def _idempotent(self, request, key: str):
        if not key or len(key) > KEY_MAX_LENGTH:
            return _problem(400, f"Idempotency-Key must have 1 to {KEY_MAX_LENGTH} characters.")
        principal = _principal(request)
        if principal is None:  # the view answers 401
            return self.get_response(request)
        body = getattr(request, "_body", b"")
        digest = hashlib.sha256()
        for part in (request.method, request.path_info, request.META.get("QUERY_STRING", "")):
            digest.update(part.encode() + b"\0")
        digest.update(body)
        fingerprint = digest.hexdigest()

        now = timezone.now()
        kept = dt.timedelta(hours=settings.API_IDEMPOTENCY_HOURS)
        IdempotentRequest.objects.filter(created_at__lt=now - kept).delete()
        try:
            with transaction.atomic():
                record = IdempotentRequest.objects.create(
                    principal=principal, key=key, fingerprint=fingerprint, created_at=now
                )
        except IntegrityError:
            return self._replay(principal, key, fingerprint)

        try:
            response = self.get_response(request)
        except BaseException:
            record.delete()
            raise
        if response.status_code >= 500 or response.status_code in NOT_KEPT or response.streaming:
            record.delete()
            return response
        record.status_code = response.status_code
        record.content_type = response.get("Content-Type", "")
        record.location = response.get("Location", "")
        record.secret_withheld = getattr(response, "holds_secret", False)
        record.body = b"" if record.secret_withheld else response.content
        record.save(
            update_fields=["status_code", "content_type", "location", "body", "secret_withheld"]
        )
        return response

    def _replay(self, principal: str, key: str, fingerprint: str):
        record = IdempotentRequest.objects.filter(principal=principal, key=key).first()
        if record is None:  # expired and purged in between: treat as in progress, retry later
            return _problem(409, "A request with this Idempotency-Key is being answered.")
        if record.fingerprint != fingerprint:
            return _problem(
                422,
                "This Idempotency-Key was used with another request (method, path or body); "
                "use a new key for a new request.",
            )
        if record.status_code is None:
            return _problem(
                409,
                "A request with this Idempotency-Key is still being answered; retry shortly.",
            )
        if record.secret_withheld:
            where = f" ({record.location})" if record.location else ""
            return _problem(
                409,
                f"This request was done already{where}; its answer showed a secret once and is "
                "not kept. If the secret was lost, rotate it.",
            )
        response = HttpResponse(
            bytes(record.body), status=record.status_code, content_type=record.content_type
        )
        if record.location:
            response["Location"] = record.location
        response["Idempotent-Replayed"] = "true"
        return response
