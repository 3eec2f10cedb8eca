"""One error format for the whole API: problem details (RFC 9457), `application/problem+json`.

    {"type": "https://plimsoll.dev/problems/validation", "title": "Invalid input",
     "status": 400, "detail": "2 fields are invalid.",
     "errors": [{"field": "employees[12].email", "detail": "Enter a valid email address."}]}

`type` names the kind of problem, `title` says it in words, `detail` says it for this request,
and `errors` lists each field with its path (list items by index, nested fields by a dot).
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

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


def problem_handler(exc, context) -> Response | None:
    """DRF's handler, reshaped: every error the API answers reads the same."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = field_errors(data)
        count = len(errors)
        detail = f"{count} field is invalid." if count == 1 else f"{count} fields are invalid."
        if count == 1 and not errors[0]["field"]:
            detail = errors[0]["detail"]
        return problem(status.HTTP_400_BAD_REQUEST, detail, errors, response.headers)
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
        429: "Too many requests: wait for `Retry-After` seconds.",
    }
    return {
        code: OpenApiResponse(ProblemSerializer, description=words.get(code, "Error"))
        for code in sorted({401, 403, 429, *codes})
    }
