"""One error format for the whole API: problem details (RFC 9457), `application/problem+json`.

    {"type": "https://plimsoll.dev/problems/validation", "title": "Invalid input",
     "status": 400, "detail": "2 fields are invalid.",
     "errors": [{"field": "employees[12].email", "detail": "Enter a valid email address."}]}

`type` names the kind of problem, `title` says it in words, `detail` says it for this request,
and `errors` lists each field with its path (list items by index, nested fields by a dot).
"""

from __future__ import annotations

import json

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from assessments.services.errors import CampaignFrozenError, IllegalTransitionError

BASE = "https://plimsoll.dev/problems/"
CONTENT_TYPE = "application/problem+json"

TITLES = {
    400: ("validation", "Invalid input"),
    401: ("unauthenticated", "Not authenticated"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    413: ("too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("unprocessable", "Unprocessable request"),
    429: ("throttled", "Too many requests"),
}


def field_errors(detail, path: str = "") -> list[dict[str, str]]:
    """Flatten DRF's nested error detail into (path, message) pairs."""
    found: list[dict[str, str]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == "non_field_errors":
                found += field_errors(value, path)
            elif isinstance(key, int):  # a list field's items, by index: events[0]
                found += field_errors(value, f"{path}[{key}]")
            else:
                found += field_errors(value, f"{path}.{key}" if path else str(key))
    elif isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            found += [{"field": path, "detail": str(item)} for item in detail]
        else:
            for index, item in enumerate(detail):
                if item:
                    found += field_errors(item, f"{path}[{index}]")
    else:
        found.append({"field": path, "detail": str(detail)})
    return found


def problem(status_code: int, detail: str, errors: list | None = None, headers=None) -> Response:
    kind, title = TITLES.get(status_code, ("error", "Error"))
    body = {"type": BASE + kind, "title": title, "status": status_code, "detail": detail}
    if errors:
        body["errors"] = errors
    return Response(body, status=status_code, headers=headers, content_type=CONTENT_TYPE)


# A service's refusal because of the state a row is in (a campaign already launched, a closed
# campaign changed): 409, as retrying the same request cannot succeed. Every other refusal of
# a service is invalid input: 400.
CONFLICTS = (IllegalTransitionError, CampaignFrozenError)


def service_field_errors(exc: DjangoValidationError, names: dict[str, str]) -> list[dict]:
    """A service's ValidationError as (path, message) pairs: each field by the name the API
    gives it (`names` maps the service's name to the API's where they differ), a message
    about no field in particular with an empty path."""
    if not hasattr(exc, "error_dict"):
        return [{"field": "", "detail": message} for message in exc.messages]
    return [
        {"field": "" if field == NON_FIELD_ERRORS else names.get(field, field), "detail": message}
        for field, messages in exc.message_dict.items()
        for message in messages
    ]


def _invalid(errors: list[dict], status_code: int, headers=None) -> Response:
    count = len(errors)
    detail = f"{count} field is invalid." if count == 1 else f"{count} fields are invalid."
    if count == 1 and not errors[0]["field"]:
        detail = errors[0]["detail"]
    elif status_code == status.HTTP_409_CONFLICT:
        detail = " ".join(error["detail"] for error in errors)
    return problem(status_code, detail, errors, headers)


def problem_handler(exc, context) -> Response | None:
    """DRF's handler, reshaped: every error the API answers reads the same. A service's
    ValidationError (Django's) answers like the API's own, with the field paths of the API:
    a view names them in `service_fields` where the service calls a field otherwise."""
    if isinstance(exc, DjangoValidationError):
        names = getattr(context.get("view"), "service_fields", {})
        conflict = isinstance(exc, CONFLICTS)
        code = status.HTTP_409_CONFLICT if conflict else status.HTTP_400_BAD_REQUEST
        set_rollback()
        return _invalid(service_field_errors(exc, names), code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        return _invalid(field_errors(data), status.HTTP_400_BAD_REQUEST, response.headers)
    detail = data.get("detail", "") if isinstance(data, dict) else str(data)
    return problem(response.status_code, str(detail), None, response.headers)


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="The path of the field: `employees[12].email`.")
    detail = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """Problem details (RFC 9457)."""

    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    errors = FieldErrorSerializer(many=True, required=False)


def problems(*codes: int) -> dict:
    """The error responses of an endpoint, for the schema: problem details each."""

    words = {
        400: "Invalid input: `errors` lists each field with its path.",
        401: "No API key, or one that is unknown, revoked or expired.",
        403: "The key lacks the scope (or the signed-in role the permission).",
        404: "Not found in the key's organisation (another organisation's ids are never found).",
        409: "Refused because of the state it is in (a campaign already launched, or closed: "
        "`errors` names the field and says why), or a request with the same Idempotency-Key "
        "is still being answered.",
        413: "The request body is larger than this endpoint accepts.",
        422: "The Idempotency-Key was used before with another request.",
        429: "Too many requests: wait for `Retry-After` seconds.",
    }
    return {
        (code, CONTENT_TYPE): OpenApiResponse(
            ProblemSerializer, description=words.get(code, "Error")
        )
        for code in sorted({401, 403, 413, 429, *codes})
    }


@csrf_exempt  # any method: a write to a path that does not exist is a 404 too
def not_found(request, *args, **kwargs) -> HttpResponse:
    """Any path under /api/v1/ that names no endpoint (or an id of the wrong form)."""
    body = {
        "type": BASE + "not-found",
        "title": "Not found",
        "status": 404,
        "detail": f"No endpoint at {request.path}; see /api/v1/docs/.",
    }
    return HttpResponse(json.dumps(body), status=404, content_type=CONTENT_TYPE)
