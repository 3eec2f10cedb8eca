"""Survey pages: the token link, the status codes, the form, languages and rate limits."""

import logging
import re

import pytest
from django.core import signing
from django.core.cache import cache
from django.urls import reverse

from assessments.models import CampaignStatus, Invitation, Response
from assessments.services import campaign_transition
from assessments.views import COOKIE
from tests.assessments.survey_fixtures import full_answers, link_token, open_campaign

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_rate_limits():
    cache.clear()


@pytest.fixture
def campaign(organization, core_instrument):
    return open_campaign(organization, core_instrument, people=2, min_group_size=7)


@pytest.fixture
def link(campaign):
    invitation, token = link_token(campaign)
    return invitation, f"/s/{token}/"


def _enter(client, link_path):
    response = client.get(link_path)
    assert response.status_code == 302
    return response


def test_token_link_sets_a_cookie_and_redirects_to_a_url_without_the_token(client, link):
    _invitation, path = link
    response = _enter(client, path)
    assert response["Location"] == "/s/"
    assert path.split("/")[2] not in response["Location"]
    assert response["Referrer-Policy"] == "no-referrer"
    cookie = response.cookies[COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/s/"
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_first_page_says_what_is_stored_k_and_who_sees_what(client, link, campaign):
    _enter(client, link[1])
    page = client.get("/s/")
    body = page.content.decode()
    assert page.status_code == 200
    assert "What is stored" in body and "What is not stored" in body and "Who sees what" in body
    assert "at least 7 people answered" in body
    assert "carry no date or time" in body and "IP address" in body
    assert link[0].department.name in body


def test_questions_page_is_an_accessible_form(client, link, core_instrument):
    _enter(client, link[1])
    body = client.get("/s/questions/").content.decode()
    items = core_instrument.items.count()
    assert body.count('<fieldset class="question') == items
    assert body.count("<legend>") == items
    # Every radio sits inside its label, so it has an accessible name and a large target.
    radios = re.findall(r"<label[^>]*><input type=\"radio\"", body)
    assert len(radios) == items * 6  # five scale points and "prefer not to answer"
    assert "Part 1 of 10" in body and "Part 10 of 10" in body
    assert '<progress id="progress" max="42" value="0">' in body
    assert "csrfmiddlewaretoken" in body


def test_unknown_token_is_404(client):
    page = client.get("/s/" + "x" * 43 + "/")
    assert page.status_code == 404
    assert "do not recognise this survey link" in page.content.decode()


def test_no_or_forged_cookie_is_404(client, link):
    assert client.get("/s/").status_code == 404
    client.cookies[COOKIE] = "eyJpIjoxfQ:forged:signature"
    assert client.get("/s/questions/").status_code == 404


def test_submit_then_link_again_is_409_and_offers_nothing_to_resubmit(
    client, link, core_instrument
):
    _invitation, path = link
    _enter(client, path)
    done = client.post("/s/questions/", full_answers(core_instrument, 2))
    assert done.status_code == 302
    assert done["Location"].startswith(reverse("survey:thanks"))
    # The cookie now holds only the language and the draft key: no invitation any more.
    from assessments.views import COOKIE_SALT

    left = signing.loads(done.cookies[COOKIE].value, salt=COOKIE_SALT)
    assert set(left) == {"done", "l", "k"}
    thanks = client.get(done["Location"])
    assert "your answers have been recorded" in thanks.content.decode()
    assert Response.objects.count() == 1
    again = client.get(path)
    assert again.status_code == 409
    body = again.content.decode()
    assert "already answered" in body
    assert "<form" not in body


def test_resubmitting_with_an_old_cookie_is_409(client, link, core_instrument):
    _enter(client, link[1])
    cookie = client.cookies[COOKIE].value
    client.post("/s/questions/", full_answers(core_instrument))
    client.cookies[COOKIE] = cookie
    page = client.post("/s/questions/", full_answers(core_instrument))
    assert page.status_code == 409
    assert Response.objects.count() == 1


def test_not_yet_open_and_closed_are_410(client, campaign, link, core_instrument):
    _invitation, path = link
    type(campaign).objects.filter(pk=campaign.pk).update(status=CampaignStatus.SCHEDULED)
    page = client.get(path)
    assert page.status_code == 410 and "not open yet" in page.content.decode()
    type(campaign).objects.filter(pk=campaign.pk).update(status=CampaignStatus.OPEN)
    _enter(client, path)
    campaign_transition(campaign=campaign, to=CampaignStatus.CLOSED)
    # Closing stops answers at once, even for a page that was already open.
    page = client.post("/s/questions/", full_answers(core_instrument))
    assert page.status_code == 410 and "has closed" in page.content.decode()
    assert client.get(path).status_code == 410
    assert not Response.objects.exists()


def test_missing_answers_are_named_and_given_answers_kept(client, link, core_instrument):
    _enter(client, link[1])
    items = list(core_instrument.items.order_by("position"))
    answers = full_answers(core_instrument, 5)
    del answers[items[0].code]
    del answers[items[41].code]
    answers[items[1].code] = "skip"
    page = client.post("/s/questions/", answers)
    body = page.content.decode()
    assert page.status_code == 400
    assert "2 questions need your attention" in body
    assert 'href="#q-' + items[0].code + '">Question 1</a>' in body
    assert 'href="#q-' + items[41].code + '">Question 42</a>' in body
    assert f'name="{items[2].code}" value="5" checked' in body
    assert f'name="{items[1].code}" value="skip" checked' in body
    assert not Response.objects.exists()
    assert Invitation.objects.get(pk=link[0].pk).completed_on is None


def test_german_invitation_shows_german_and_switch_changes_language(
    client, organization, core_instrument
):
    campaign = open_campaign(organization, core_instrument, people=1, employee_language="de")
    _, token = link_token(campaign)
    _enter(client, f"/s/{token}/")
    page = client.get("/s/").content.decode()
    assert 'lang="de"' in page and "Was gespeichert wird" in page
    assert 'href="?lang=en"' in page
    english = client.get("/s/?lang=en")
    assert "What is stored" in english.content.decode()
    # The choice sticks for the next pages.
    questions = client.get("/s/questions/").content.decode()
    assert "Prefer not to answer" in questions
    item = core_instrument.items.order_by("position")[0]
    assert item.text["en"] in questions


def test_items_use_the_instruments_translation(client, organization, core_instrument):
    campaign = open_campaign(organization, core_instrument, people=1, employee_language="de")
    _, token = link_token(campaign)
    _enter(client, f"/s/{token}/")
    body = client.get("/s/questions/").content.decode()
    item = core_instrument.items.order_by("position")[0]
    assert item.text["de"] in body
    assert "Keine Angabe" in body and "Stimme voll zu" in body


def test_too_many_requests_is_429_with_retry_after(client, link, settings):
    settings.SURVEY_RATE_LIMIT = "3/60"
    codes = [client.get("/s/" + "y" * 43 + "/").status_code for _ in range(4)]
    assert codes == [404, 404, 404, 429]
    page = client.get(link[1])
    assert page.status_code == 429
    assert 1 <= int(page["Retry-After"]) <= 60
    assert "Too many requests" in page.content.decode()


def test_no_log_line_carries_the_token(client, link, core_instrument):
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    loggers = [logging.getLogger(n) for n in ("django.request", "assessments", "")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        token = "z" * 43
        client.get(f"/s/{token}/")  # 404: Django logs "Not Found: <path>"
        invitation, path = link
        _enter(client, path)
        client.post("/s/questions/", full_answers(core_instrument))
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    assert any("Not Found" in line for line in records)
    text = "\n".join(records)
    assert token not in text
    assert path.split("/")[2] not in text
    assert invitation.employee.email not in text


def test_a_forged_submission_context_is_refused(client, link, core_instrument):
    """The cookie carries what storing needs; changing any of it breaks the signature."""
    from django.core import signing

    from assessments.views import COOKIE_SALT

    _enter(client, link[1])
    data = signing.loads(client.cookies[COOKIE].value, salt=COOKIE_SALT)
    data["d"] = data["d"] + 1  # pretend to belong to another department
    forged = signing.dumps(data, salt="not-the-salt")
    client.cookies[COOKIE] = forged
    page = client.post("/s/questions/", full_answers(core_instrument))
    assert page.status_code == 404
    assert not Response.objects.exists()


def test_cookie_carries_only_coarse_attributes_the_campaign_uses(
    client, organization, core_instrument
):
    from django.core import signing

    from assessments.views import COOKIE_SALT

    campaign = open_campaign(
        organization,
        core_instrument,
        people=1,
        attributes_used=["tenure_band"],
        employee_attributes={"tenure_band": "1-3 years", "site": "North"},
    )
    invitation, token = link_token(campaign)
    # The directory changes after launch: the launch snapshot still decides.
    invitation.employee.attributes = {"tenure_band": "10+ years", "site": "North"}
    invitation.employee.save()
    _enter(client, f"/s/{token}/")
    data = signing.loads(client.cookies[COOKIE].value, salt=COOKIE_SALT)
    assert data["a"] == {"tenure_band": "1-3 years"}
    client.post("/s/questions/", full_answers(core_instrument))
    assert Response.objects.get().attributes == {"tenure_band": "1-3 years"}


def test_a_question_posted_twice_or_in_other_digits_is_refused(client, link, core_instrument):
    _enter(client, link[1])
    answers = full_answers(core_instrument)
    first, second = list(answers)[:2]
    body = "&".join(f"{code}={value}" for code, value in answers.items())
    body += f"&{first}=1"  # the first question twice
    body = body.replace(f"{second}=4", f"{second}=%D9%A3")  # Arabic-Indic three
    page = client.post("/s/questions/", body, content_type="application/x-www-form-urlencoded")
    assert page.status_code == 400
    text = page.content.decode()
    assert "sent with more than one answer" in text
    assert "is not one of the answers offered" in text
    assert not Response.objects.exists()


def test_the_cookie_ends_with_the_session_and_keys_the_draft_per_invitation(
    client, campaign, core_instrument
):
    from assessments.views import COOKIE_SALT

    first, token_a = link_token(campaign, 0)
    _second, token_b = link_token(campaign, 1)
    cookie = _enter(client, f"/s/{token_a}/").cookies[COOKIE]
    assert not cookie["max-age"] and not cookie["expires"]  # gone when the browser closes
    data_a = signing.loads(cookie.value, salt=COOKIE_SALT)
    again = signing.loads(_enter(client, f"/s/{token_a}/").cookies[COOKIE].value, salt=COOKIE_SALT)
    data_b = signing.loads(_enter(client, f"/s/{token_b}/").cookies[COOKIE].value, salt=COOKIE_SALT)
    assert data_a["k"] == again["k"] != data_b["k"]
    # A keyed digest of the invitation: neither the token nor the bare id.
    assert re.fullmatch(r"plimsoll-draft-[0-9a-f]{24}", data_a["k"])
    assert token_a[:8] not in data_a["k"] and data_a["k"] != f"plimsoll-draft-{first.pk}"
    page = client.get("/s/questions/").content.decode()
    assert f'data-draft-key="{data_b["k"]}"' in page


def test_once_the_campaign_closes_the_cookie_opens_only_the_closed_page(client, link, campaign):
    _enter(client, link[1])
    campaign_transition(campaign=campaign, to=CampaignStatus.CLOSED)
    for url in ("/s/", "/s/questions/"):
        assert client.get(url).status_code == 410
    assert client.post("/s/questions/", {}).status_code == 410


def test_answers_never_go_to_a_link_opened_later_in_the_same_browser(
    client, campaign, core_instrument
):
    """A's questions page is open; B opens B's own link in the same browser; A submits. The
    answers carry the draft key of A's page and are refused, for A and B alike."""
    from assessments.views import draft_key

    first, token_a = link_token(campaign, 0)
    second, token_b = link_token(campaign, 1)
    _enter(client, f"/s/{token_a}/")
    page_a = client.get("/s/questions/").content.decode()
    posted_for = re.search(r'name="draft" value="([^"]+)"', page_a).group(1)
    assert posted_for == draft_key(first.pk)
    _enter(client, f"/s/{token_b}/")
    answers = {**full_answers(core_instrument), "draft": posted_for}
    refused = client.post("/s/questions/", answers)
    assert refused.status_code == 409
    assert "belongs to another survey link" in refused.content.decode()
    switched = client.post("/s/questions/", {"draft": posted_for, "switch_language": "de"})
    assert switched.status_code == 409
    assert not Response.objects.exists()
    assert not Invitation.objects.filter(completed_on__isnull=False).exists()
    # B's own page submits.
    answers["draft"] = draft_key(second.pk)
    assert client.post("/s/questions/", answers).status_code == 302


def test_enter_submits_the_answers_not_a_language(client, link):
    """The form's first submit button (what Enter presses) is the submit, not a language."""
    _enter(client, link[1])
    page = client.get("/s/questions/").content.decode()
    form = page[page.index('<form method="post"') :]
    buttons = re.findall(r"<button[^>]*>", form)
    assert buttons and "switch_language" not in buttons[0]
    assert 'form="survey-form"' not in page  # no button outside the form submits it


def test_the_thank_you_page_clears_only_a_finished_draft(client, link, core_instrument):
    _enter(client, link[1])
    assert 'data-clear-draft=""' in client.get("/s/thanks/").content.decode()
    client.post("/s/questions/", full_answers(core_instrument))
    assert 'data-clear-draft="plimsoll-draft-' in client.get("/s/thanks/").content.decode()


def test_switching_language_without_javascript_keeps_the_answers(client, link, core_instrument):
    _enter(client, link[1])
    codes = [item.code for item in core_instrument.items.order_by("position")][:3]
    page = client.post("/s/questions/", {codes[0]: "2", codes[1]: "5", "switch_language": "de"})
    assert page.status_code == 200
    body = page.content.decode()
    assert '<html lang="de"' in body
    for code, value in ((codes[0], "2"), (codes[1], "5")):
        assert re.search(rf'name="{code}" value="{value}" checked', body), code
    assert not re.search(rf'name="{codes[2]}" value="\d" checked', body)
    assert not Response.objects.exists()
    # The choice sticks: the next page is German too, and the switch is a button of the form.
    again = client.get("/s/questions/").content.decode()
    assert '<html lang="de"' in again
    assert 'name="switch_language" value="en"' in again


def test_back_after_submitting_says_so_in_the_persons_language(client, campaign, core_instrument):
    invitation, token = link_token(campaign)
    Invitation.objects.filter(pk=invitation.pk).update(language="de")
    _enter(client, f"/s/{token}/")
    assert client.post("/s/questions/", full_answers(core_instrument)).status_code == 302
    for url in ("/s/questions/", "/s/"):
        back = client.get(url)
        assert back.status_code == 409
        body = back.content.decode()
        assert '<html lang="de"' in body and "bereits" in body
