"""What drf-spectacular cannot see from the views: the rules api.middleware applies to every
POST (Idempotency-Key, and the 409 and 422 it may answer), added to the description."""

from __future__ import annotations

IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": (
        "Any unique string (a UUID): the same key with the same request within 24 hours gets "
        "the stored answer again (header `Idempotent-Replayed: true`) instead of acting twice; "
        "with another request, 422."
    ),
}
PROBLEM = {"$ref": "#/components/schemas/Problem"}
ANSWERS = {
    "400": "Invalid input (also an Idempotency-Key longer than 255 characters).",
    "409": "A request with this Idempotency-Key is still being answered; retry shortly.",
    "422": "This Idempotency-Key was used with another request.",
}


def idempotent_posts(result, generator, request, public):
    """drf-spectacular post-processing hook: the Idempotency-Key header and its answers on
    every POST, and the 400 of a cursor not made here on every paginated list."""
    for operations in result.get("paths", {}).values():
        listing = operations.get("get")
        if listing and any(p.get("name") == "cursor" for p in listing.get("parameters", [])):
            listing["responses"].setdefault(
                "400",
                {
                    "description": "Invalid input: `errors` names the parameter (e.g. a "
                    "`cursor` not taken from a `next` or `previous` link).",
                    "content": {"application/problem+json": {"schema": PROBLEM}},
                },
            )
        post = operations.get("post")
        if post is None:
            continue
        parameters = post.setdefault("parameters", [])
        if not any(p.get("name") == "Idempotency-Key" for p in parameters):
            parameters.append(dict(IDEMPOTENCY_KEY))
        for code, words in ANSWERS.items():
            post["responses"].setdefault(
                code,
                {
                    "description": words,
                    "content": {"application/problem+json": {"schema": PROBLEM}},
                },
            )
    return result
