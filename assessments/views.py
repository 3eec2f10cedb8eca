"""Survey pages under /s/: no login, no JavaScript needed, one personal link per invitation.

The link's token is exchanged at once for a signed cookie and the browser is sent to a URL
without it, so the token does not linger in history, bookmarks or Referer headers.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from assessments.answers import SKIP, AnswerError
from assessments.models import Invitation, InvitationToken
from assessments.ratelimit import rate_limited
from assessments.selectors import InstrumentSpec, instrument_spec
from assessments.services import (
    AnswersInvalidError,
    CampaignNotOpenError,
    InvitationCompletedError,
    SubmissionContext,
    campaign_closed_reason,
    response_submit,
    submission_context,
    token_hash,
)

COOKIE = "plimsoll_survey"
COOKIE_SALT = "plimsoll.survey"
# A backstop only: the cookie lives as long as the browser session.
COOKIE_MAX_AGE = 60 * 60 * 24 * 60
# Form fields that are not answers.
FORM_FIELDS = {"csrfmiddlewaretoken", "lang", SWITCH_LANGUAGE := "switch_language", "draft"}


def _page(request, template: str, context: dict, *, status: int = 200) -> HttpResponse:
    response = render(request, template, context, status=status)
    # No Referer to other sites. Not "no-referrer": browsers then send `Origin: null` with the
    # form's POST, which Django's CSRF check rightly refuses.
    response["Referrer-Policy"] = "same-origin"
    return response


def _not_found(request, language: str = "en") -> HttpResponse:
    translation.activate(language)
    return _page(request, "survey/not_found.html", {"language": language}, status=404)


def _too_many(request, retry_after: int) -> HttpResponse:
    response = _page(request, "survey/rate_limited.html", {"retry_after": retry_after}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def _blocked(request, invitation: Invitation, language: str) -> HttpResponse | None:
    """The completed (409) or unavailable (410) page, or None when answering is allowed."""
    campaign = invitation.campaign
    context = {"campaign": campaign, "language": language}
    if invitation.completed_on is not None:
        return _page(request, "survey/completed.html", context, status=409)
    reason = campaign_closed_reason(campaign=campaign, now=timezone.now())
    if reason:
        context["reason"] = reason
        return _page(request, "survey/unavailable.html", context, status=410)
    return None


def draft_key(invitation_id: int) -> str:
    """The key of an invitation's browser draft: the same for every visit with that invitation,
    different for every invitation (two people on one computer never see each other's draft),
    unguessable, and not the token."""
    return (
        "plimsoll-draft-" + salted_hmac(COOKIE_SALT + ".draft", str(invitation_id)).hexdigest()[:24]
    )


def cookie_value(invitation: Invitation, language: str) -> str:
    """The signed survey cookie: which invitation, in which language, what storing an answer
    needs to know (so that submitting needs no extra read) and the key of its browser draft.
    It lasts the browser session; once the campaign closes it opens nothing but the "closed"
    page. The invitation must come with its campaign and employee."""
    context = submission_context(invitation=invitation)
    return signing.dumps(
        {
            "i": context.invitation_id,
            "l": language,
            "c": context.campaign_id,
            "o": context.organization_id,
            "d": context.department_id,
            "n": context.instrument_id,
            "a": context.attributes,
            "k": draft_key(context.invitation_id),
        },
        salt=COOKIE_SALT,
    )


def _done_cookie(language: str, key: str) -> str:
    """What the cookie holds once the answers are in: the language (so that Back shows "you
    have answered" in it) and the draft key (so that the thank-you page clears the draft)."""
    return signing.dumps({"done": 1, "l": language, "k": key}, salt=COOKIE_SALT)


def _cookie_data(request) -> dict:
    try:
        data = signing.loads(
            request.COOKIES.get(COOKIE, ""), salt=COOKIE_SALT, max_age=COOKIE_MAX_AGE
        )
    except signing.BadSignature:
        return {}
    return data if isinstance(data, dict) else {}


def _cookie_context(data: dict) -> SubmissionContext | None:
    try:
        return SubmissionContext(
            invitation_id=int(data["i"]),
            campaign_id=int(data["c"]),
            organization_id=int(data["o"]),
            department_id=int(data["d"]),
            instrument_id=int(data["n"]),
            attributes=dict(data["a"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def _from_cookie(request) -> tuple[Invitation | None, str]:
    data = _cookie_data(request)
    language = data.get("l", "en")
    if not isinstance(data.get("i"), int):
        return None, language
    invitation = (
        Invitation.objects.select_related(
            "campaign", "campaign__organization", "department", "employee"
        )
        .filter(pk=data["i"])
        .first()
    )
    return invitation, language


def _set_cookie(response: HttpResponse, invitation: Invitation, language: str) -> None:
    _store_cookie(response, cookie_value(invitation, language))


def _store_cookie(response: HttpResponse, value: str) -> None:
    # No max_age: a session cookie, gone when the browser closes (or refused after the close).
    response.set_cookie(
        COOKIE,
        value,
        path="/s/",
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )


def _language(request, invitation: Invitation, current: str) -> tuple[str, bool]:
    """The language to show: a valid ?lang= switch wins over the cookie's choice."""
    offered = invitation.campaign.languages or ["en"]
    asked = request.GET.get("lang")
    if asked in offered and asked != current:
        return asked, True
    return (current if current in offered else offered[0]), False


@never_cache
@require_GET
def entry(request: HttpRequest, token: str) -> HttpResponse:
    """The personal link: swap the token for a cookie and leave the token behind."""
    if wait := rate_limited(request, scope="survey"):
        return _too_many(request, wait)
    found = (
        InvitationToken.objects.select_related(
            "invitation", "invitation__campaign", "invitation__employee"
        )
        .filter(token_hash=token_hash(token))
        .first()
    )
    if found is None:
        return _not_found(request)
    invitation = found.invitation
    translation.activate(invitation.language)
    if blocked := _blocked(request, invitation, invitation.language):
        return blocked
    response = redirect("survey:start")
    _set_cookie(response, invitation, invitation.language)
    response["Referrer-Policy"] = "no-referrer"
    return response


def _survey_view(handler):
    """Common steps of the cookie-based pages: rate limit, find the invitation, pick the
    language, refuse completed or unavailable campaigns."""

    def view(request: HttpRequest) -> HttpResponse:
        if wait := rate_limited(request, scope="survey"):
            return _too_many(request, wait)
        if answered := _answered_page(request):
            return answered
        invitation, language = _from_cookie(request)
        if invitation is None:
            return _not_found(request, language)
        language, switched = _language(request, invitation, language)
        translation.activate(language)
        if blocked := _blocked(request, invitation, language):
            return blocked
        response = handler(request, invitation, language)
        if switched:
            _set_cookie(response, invitation, language)
        return response

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return never_cache(view)


def _answered_page(request) -> HttpResponse | None:
    """After submitting, the survey's pages say so in the person's language (Back included)."""
    data = _cookie_data(request)
    if not data.get("done"):
        return None
    language = data.get("l") if data.get("l") in dict(settings.LANGUAGES) else "en"
    translation.activate(language)
    return _page(request, "survey/completed.html", {"language": language}, status=409)


def _language_links(invitation: Invitation, language: str) -> list[dict]:
    names = dict(settings.LANGUAGES)
    return [
        {"code": code, "name": names.get(code, code), "current": code == language}
        for code in invitation.campaign.languages
    ]


@require_GET
@_survey_view
def start(request: HttpRequest, invitation: Invitation, language: str) -> HttpResponse:
    """The first page: what is stored, what is not, k, and who sees what."""
    campaign = invitation.campaign
    spec = instrument_spec(campaign.instrument_id)
    return _page(
        request,
        "survey/start.html",
        {
            "campaign": campaign,
            "organization": campaign.organization,
            "department": invitation.department,
            "attributes_used": [name.replace("_", " ") for name in campaign.attributes_used],
            "question_count": len(spec.items),
            "part_count": len(spec.domains),
            "languages": _language_links(invitation, language),
            "language": language,
        },
    )


@require_GET
@_survey_view
def _questions_page(request: HttpRequest, invitation: Invitation, language: str) -> HttpResponse:
    spec = instrument_spec(invitation.campaign.instrument_id)
    return _page(request, "survey/questions.html", _questions_context(spec, invitation, language))


@never_cache
@require_http_methods(["GET", "POST"])
def questions(request: HttpRequest) -> HttpResponse:
    """All questions, grouped by domain; POST submits them."""
    if request.method == "GET":
        return _questions_page(request)
    # Submitting touches the database only to store the answers: everything else comes from
    # the signed cookie, and the full invitation is loaded only to explain a refusal.
    if wait := rate_limited(request, scope="survey"):
        return _too_many(request, wait)
    if answered := _answered_page(request):
        return answered
    data = _cookie_data(request)
    language = data.get("l", "en")
    context = _cookie_context(data)
    if context is None:
        return _not_found(request, language)
    posted_for = request.POST.get("draft")
    if posted_for is not None and posted_for != draft_key(context.invitation_id):
        # The page was opened for another link: someone else's link was opened in this
        # browser since. Their invitation must not receive these answers.
        translation.activate(language)
        return _page(request, "survey/other_link.html", {"language": language}, status=409)
    # One link cannot hammer the submission from many addresses either.
    who = str(context.invitation_id)
    if wait := rate_limited(
        request, scope="submit", rate=settings.SURVEY_SUBMIT_RATE_LIMIT, who=who
    ):
        return _too_many(request, wait)
    translation.activate(language)
    # Every value of every field: a question posted twice is refused, not silently the last.
    submitted = {
        key: values if len(values) > 1 else values[0]
        for key, values in request.POST.lists()
        if key not in FORM_FIELDS
    }
    if SWITCH_LANGUAGE in request.POST:
        # The language switch without JavaScript: the same answers, another language, nothing
        # stored (the draft stays in the browser).
        return _switch_language(request, submitted, request.POST[SWITCH_LANGUAGE])
    try:
        response_submit(invitation_id=context.invitation_id, answers=submitted, context=context)
    except Invitation.DoesNotExist:
        return _not_found(request, language)
    except (InvitationCompletedError, CampaignNotOpenError):
        invitation, _ = _from_cookie(request)
        return _blocked(request, invitation, language) or _page(
            request, "survey/completed.html", {"campaign": invitation.campaign}, status=409
        )
    except AnswersInvalidError as exc:
        invitation, _ = _from_cookie(request)
        spec = instrument_spec(invitation.campaign.instrument_id)
        context = _questions_context(spec, invitation, language, submitted, exc.errors)
        return _page(request, "survey/questions.html", context, status=400)
    response = redirect(f"{reverse('survey:thanks')}?lang={language}")
    # The cookie now says only that this browser's answers are in (and which draft to clear).
    _store_cookie(response, _done_cookie(language, draft_key(context.invitation_id)))
    return response


def _switch_language(request, submitted: dict, asked: str) -> HttpResponse:
    invitation, language = _from_cookie(request)
    if invitation is None:
        return _not_found(request, language)
    if asked in (invitation.campaign.languages or ["en"]):
        language = asked
    translation.activate(language)
    if blocked := _blocked(request, invitation, language):
        return blocked
    spec = instrument_spec(invitation.campaign.instrument_id)
    context = _questions_context(spec, invitation, language, submitted)
    response = _page(request, "survey/questions.html", context)
    _set_cookie(response, invitation, language)
    return response


def _error_text(error: AnswerError) -> str:
    if error.kind == "missing":
        return _("Choose an answer, or “prefer not to answer”.")
    if error.kind == "skip_not_allowed":
        return _("This question needs an answer.")
    if error.kind == "duplicate":
        return _("This question was sent with more than one answer; choose one.")
    if error.kind == "out_of_range":
        return _("“%(value)s” is not one of the answers offered; choose one.") % {
            "value": error.value
        }
    return _("“%(value)s” is not a question of this survey.") % {"value": error.value}


def _single(value) -> str:
    """A posted value as the form shows it ticked: nothing for a question sent twice."""
    return "" if isinstance(value, list | tuple) else value


def _questions_context(
    spec: InstrumentSpec,
    invitation: Invitation,
    language: str,
    submitted: dict[str, str] | None = None,
    errors: list[AnswerError] | None = None,
) -> dict:
    submitted = submitted or {}
    errors = errors or []
    by_code = {e.code: e for e in errors if e.number is not None}
    parts = []
    for index, domain in enumerate(spec.domains, start=1):
        items = []
        for item in domain.items:
            scale = item.scale
            labels = scale["labels"].get(language) or next(iter(scale["labels"].values()))
            error = by_code.get(item.code)
            items.append(
                {
                    "code": item.code,
                    "number": item.number,
                    "text": item.text.get(language) or next(iter(item.text.values())),
                    "options": [
                        {"value": str(value), "label": label}
                        for value, label in zip(
                            range(scale["min"], scale["max"] + 1), labels, strict=True
                        )
                    ],
                    "allow_skip": scale.get("allow_skip", False),
                    "selected": _single(submitted.get(item.code, "")),
                    "error": _error_text(error) if error else "",
                }
            )
        parts.append(
            {
                "number": index,
                "code": domain.code,
                "title": domain.title.get(language) or next(iter(domain.title.values())),
                "description": (domain.description or {}).get(language, ""),
                "items": items,
            }
        )
    answered = sum(1 for code in spec.items_by_code if submitted.get(code))
    summary = [
        {"anchor": f"q-{e.code}" if e.number else "", "number": e.number, "text": _error_text(e)}
        for e in sorted(errors, key=lambda e: e.number or 0)
    ]
    return {
        "campaign": invitation.campaign,
        "parts": parts,
        "part_count": len(parts),
        "question_count": len(spec.items),
        "answered": answered,
        "errors": summary,
        "skip_value": SKIP,
        "languages": _language_links(invitation, language),
        "language": language,
        "draft_key": draft_key(invitation.pk),
        # On this page the language switch submits the form, so answers are kept.
        "switch_in_form": True,
        # Filled in by survey.js as answers are given; same text as the server-rendered count.
        "progress_template": _("%(answered)s of %(total)s answered"),
    }


@never_cache
@require_GET
def thanks(request: HttpRequest) -> HttpResponse:
    """Confirmation after a submission; it needs no cookie and shows nothing personal."""
    language = request.GET.get("lang")
    translation.activate(language if language in dict(settings.LANGUAGES) else "en")
    data = _cookie_data(request)
    key = data.get("k", "") if data.get("done") else ""  # only a finished survey's draft
    valid = isinstance(key, str) and key.startswith("plimsoll-draft-")
    return _page(request, "survey/thanks.html", {"draft_key": key if valid else ""})
