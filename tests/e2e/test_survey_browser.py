"""The survey as an employee meets it: a personal link opened on a phone, in a real browser.

Covers what only a browser shows: the token leaving the address bar, the localStorage draft and
live progress of survey.js, the same survey with JavaScript off, keyboard operation, the
language switch, and a phone layout in which every answer can be tapped.
"""

import json
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from assessments.answers import decode_answers
from assessments.models import Response
from assessments.selectors import instrument_spec
from assessments.services import invitation_token_issue

pytestmark = pytest.mark.django_db(transaction=True)

QUESTIONS = 42
LABELS = ["Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree"]
PREFER_NOT = "Prefer not to answer"
# Question number → the scale value chosen (1..5), or None for "prefer not to answer".
ANSWERS = {number: (number * 3) % 5 + 1 for number in range(1, QUESTIONS + 1)} | {17: None}


def question(page: Page, number: int):
    """The fieldset of question `number`, found by its accessible name ("17. I ...")."""
    return page.get_by_role("group", name=re.compile(rf"^{number}\.\s"))


def label_for(value: int | None) -> str:
    return PREFER_NOT if value is None else LABELS[value - 1]


def tap_answer(page: Page, number: int, value: int | None) -> None:
    """Tap the visible text of an answer, as a thumb would, and check that it took."""
    fieldset = question(page, number)
    text = fieldset.locator("label").get_by_text(label_for(value), exact=True)
    text.scroll_into_view_if_needed()
    expect(text, f"question {number}: “{label_for(value)}” must be on screen").to_be_in_viewport()
    text.tap()
    expect(fieldset.get_by_role("radio", name=label_for(value), exact=True)).to_be_checked()


def expect_checked(page: Page, numbers) -> None:
    for number in numbers:
        fieldset = question(page, number)
        radio = fieldset.get_by_role("radio", name=label_for(ANSWERS[number]), exact=True)
        expect(radio, f"question {number} keeps its answer").to_be_checked()


def uncovered(locator) -> bool:
    """Whether the topmost element at the centre of `locator` is part of it."""
    return locator.evaluate(
        """element => {
            const box = element.getBoundingClientRect();
            const hit = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
            return element.contains(hit);
        }"""
    )


def draft(page: Page, key: str):
    return page.evaluate("key => window.localStorage.getItem(key)", key)


def expect_recorded(link, values: dict[int, int | None]) -> None:
    """Exactly one response with these answers, and the invitation marked completed."""
    responses = list(Response.objects.filter(campaign=link.campaign))
    assert len(responses) == 1
    scales = instrument_spec(link.campaign.instrument_id).scales
    assert decode_answers(responses[0].answers, scales) == [
        values[number] for number in range(1, QUESTIONS + 1)
    ]
    link.invitation.refresh_from_db()
    assert link.invitation.completed_on == timezone.localdate()


def expect_already_answered(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 409
    expect(
        page.get_by_role("heading", name="You have already answered this survey")
    ).to_be_visible()
    expect(page.get_by_role("radio")).to_have_count(0)


def test_with_javascript_draft_progress_and_submission(live_server, new_context, survey_link):
    link = survey_link()
    context = new_context()
    page = context.new_page()
    intro_url = f"{live_server.url}/s/"

    response = page.goto(link.url)
    assert response is not None and response.status == 200
    assert page.url == intro_url  # the token is gone from the address bar and history
    expect(page.get_by_role("heading", name="What is stored", exact=True)).to_be_visible()
    expect(
        page.get_by_text(f"groups in which at least {link.campaign.min_group_size} people answered")
    ).to_be_visible()

    page.get_by_role("link", name="Start the survey").tap()
    page.wait_for_url(f"{live_server.url}/s/questions/")
    expect(page.get_by_text("saved as a draft in this browser only")).to_be_visible()
    draft_key = page.locator("#survey-form").get_attribute("data-draft-key")
    assert re.fullmatch(r"plimsoll-draft-[0-9a-f]{24}", draft_key)
    progress_text = page.locator("#progress-text")
    expect(progress_text).to_have_text(f"0 of {QUESTIONS} answered")

    for number in range(1, 11):
        tap_answer(page, number, ANSWERS[number])
    expect(progress_text).to_have_text(f"10 of {QUESTIONS} answered")
    expect(page.locator("#progress")).to_have_js_property("value", 10)
    assert len(json.loads(draft(page, draft_key))) == 10

    # Leave and come back: the draft in localStorage puts the answers back.
    page.goto(intro_url)
    expect(page.get_by_role("link", name="Start the survey")).to_be_visible()
    page.goto(f"{live_server.url}/s/questions/")
    expect(progress_text).to_have_text(f"10 of {QUESTIONS} answered")
    expect(page.locator("#progress")).to_have_js_property("value", 10)
    expect_checked(page, range(1, 11))
    expect(question(page, 11).locator("input:checked")).to_have_count(0)

    for number in range(11, QUESTIONS + 1):
        tap_answer(page, number, ANSWERS[number])
    expect(progress_text).to_have_text(f"{QUESTIONS} of {QUESTIONS} answered")
    assert draft(page, draft_key) is not None

    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Submit my answers").tap()
    assert posted.value.status == 302
    page.wait_for_url(f"{live_server.url}/s/thanks/?lang=en")
    expect(
        page.get_by_role("heading", name="Thank you, your answers have been recorded")
    ).to_be_visible()
    page.wait_for_function("key => window.localStorage.getItem(key) === null", arg=draft_key)
    # What is left of the survey cookie names no invitation, and ends with the session.
    (cookie,) = [c for c in context.cookies() if c["name"] == "plimsoll_survey"]
    assert cookie["expires"] == -1

    expect_recorded(link, ANSWERS)
    expect_already_answered(page, link.url)


def test_without_javascript_errors_then_submission(live_server, new_context, survey_link):
    link = survey_link()
    page = new_context(java_script_enabled=False).new_page()
    left_blank = [3, 17, 42]
    values = {number: (number % 5) + 1 for number in range(1, QUESTIONS + 1)}

    page.goto(link.url)
    assert page.url == f"{live_server.url}/s/"
    page.get_by_role("link", name="Start the survey").tap()
    page.wait_for_url(f"{live_server.url}/s/questions/")
    expect(page.get_by_text("saved as a draft in this browser only")).to_be_hidden()

    def answer(number):
        fieldset = question(page, number)
        fieldset.locator("label").get_by_text(LABELS[values[number] - 1], exact=True).tap()
        radio = fieldset.get_by_role("radio", name=LABELS[values[number] - 1], exact=True)
        expect(radio).to_be_checked()

    for number in range(1, QUESTIONS + 1):
        if number not in left_blank:
            answer(number)
    # Without JavaScript the count is the server's, from the last page load.
    expect(page.locator("#progress-text")).to_have_text(f"0 of {QUESTIONS} answered")

    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Submit my answers").tap()
    assert posted.value.status == 400
    summary = page.locator("#error-summary")
    expect(summary.get_by_role("heading")).to_have_text("3 questions need your attention")
    links = summary.get_by_role("link")
    expect(links).to_have_text([f"Question {n}" for n in left_blank])
    for number, item_link in zip(left_blank, links.all(), strict=True):
        fieldset = question(page, number)
        expect(fieldset).to_have_class(re.compile(r"\bhas-error\b"))
        expect(item_link).to_have_attribute("href", f"#{fieldset.get_attribute('id')}")
    expect(page.locator("#progress-text")).to_have_text(f"39 of {QUESTIONS} answered")
    for number in range(1, QUESTIONS + 1):
        if number not in left_blank:
            label = LABELS[values[number] - 1]
            radio = question(page, number).get_by_role("radio", name=label, exact=True)
            expect(radio, f"question {number} keeps its answer").to_be_checked()
        else:
            expect(question(page, number).locator("input:checked")).to_have_count(0)
    assert not Response.objects.filter(campaign=link.campaign).exists()

    # The link lands on the question itself, not under the sticky progress bar.
    links.filter(has_text="Question 17").tap()
    expect(page).to_have_url(re.compile(r"#q-\w+$"))
    legend = question(page, 17).locator("legend")
    expect(legend).to_be_in_viewport()
    assert uncovered(legend), "question 17's text is hidden under the sticky progress bar"
    for number in left_blank:
        answer(number)
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Submit my answers").tap()
    assert posted.value.status == 302
    page.wait_for_url(f"{live_server.url}/s/thanks/?lang=en")
    expect(
        page.get_by_role("heading", name="Thank you, your answers have been recorded")
    ).to_be_visible()

    expect_recorded(link, values)
    expect_already_answered(page, link.url)


def test_keyboard_and_accessible_structure(live_server, new_context, survey_link):
    link = survey_link()
    page = new_context().new_page()
    page.goto(link.url)
    page.goto(f"{live_server.url}/s/questions/")

    first = question(page, 1).get_by_role("radio", name=LABELS[0], exact=True)
    expect(first).to_be_visible()
    for _ in range(10):  # past the skip link and the language switch
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.type") == "radio":
            break
    expect(first).to_be_focused()
    expect(first).to_have_css("outline-style", "solid")  # a visible focus ring
    page.keyboard.press("Space")
    expect(first).to_be_checked()
    page.keyboard.press("ArrowDown")
    second = question(page, 1).get_by_role("radio", name=LABELS[1], exact=True)
    expect(second).to_be_focused()
    expect(second).to_be_checked()
    expect(first).not_to_be_checked()
    expect(page.locator("#progress-text")).to_have_text(f"1 of {QUESTIONS} answered")
    page.keyboard.press("Tab")  # one Tab stop per question
    expect(question(page, 2).get_by_role("radio", name=LABELS[0], exact=True)).to_be_focused()

    # Every radio is named by its label: 42 questions x (5 scale points + prefer not to answer).
    radios = page.locator("input[type=radio]")
    expect(radios).to_have_count(QUESTIONS * 6)
    for name in [*LABELS, PREFER_NOT]:
        expect(page.get_by_role("radio", name=name, exact=True)).to_have_count(QUESTIONS)
    # Every question is a fieldset whose legend (its accessible name) holds the number and text.
    expect(page.get_by_role("group")).to_have_count(QUESTIONS)
    problems = page.evaluate(
        """() => [...document.querySelectorAll("input[type=radio]")].flatMap(input => {
            const fieldset = input.closest("fieldset.question");
            const legend = fieldset && fieldset.querySelector(":scope > legend");
            const label = input.labels.length === 1 ? input.labels[0].textContent.trim() : "";
            const issues = [];
            if (!label) issues.push(`${input.name}=${input.value}: no label`);
            if (!legend || !/^\\d+\\.\\s+\\S/.test(legend.textContent.trim()))
                issues.push(`${input.name}: not in a fieldset with a numbered legend`);
            return issues;
        })"""
    )
    assert problems == []
    for number in range(1, QUESTIONS + 1):
        expect(question(page, number)).to_have_count(1)


def test_phone_layout(live_server, new_context, survey_link):
    """Nothing wider than the phone, and every answer (with its whole label) on screen."""
    link = survey_link()
    page = new_context().new_page()
    page.goto(link.url)
    expect(page.get_by_role("heading", name="What is stored", exact=True)).to_be_visible()
    page.screenshot(path="/tmp/survey-intro.png", full_page=True)
    page.goto(f"{live_server.url}/s/questions/")
    expect(question(page, 1)).to_be_visible()
    page.screenshot(path="/tmp/survey-phone.png")

    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    off_screen = page.evaluate(
        """() => [...document.querySelectorAll("fieldset.question label")].filter(label => {
            const box = label.getBoundingClientRect();
            return box.left < 0 || box.right > window.innerWidth || box.height < 44;
        }).map(label => `${label.closest("fieldset").id}: ${label.textContent.trim()}`)"""
    )
    assert off_screen == [], f"{len(off_screen)} answer labels off screen or too small to tap"


def test_german_intro_and_language_switch(live_server, new_context, survey_link):
    link = survey_link(language="de")
    page = new_context(locale="de-DE").new_page()
    page.goto(link.url)
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", name="Was gespeichert wird", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Befragung starten")).to_be_visible()

    page.get_by_role("link", name="English", exact=True).tap()
    page.wait_for_url(f"{live_server.url}/s/?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="What is stored", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Deutsch", exact=True)).to_be_visible()

    # The choice sticks for the rest of the survey.
    page.get_by_role("link", name="Start the survey").tap()
    page.wait_for_url(f"{live_server.url}/s/questions/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(question(page, 1).get_by_role("radio", name=LABELS[0], exact=True)).to_be_visible()


def test_two_people_on_one_computer_never_see_each_others_draft(
    live_server, new_context, survey_link
):
    """Person A answers ten questions and leaves without submitting; person B opens their own
    link in the same browser profile. B starts blank; A, coming back, finds their draft."""
    link = survey_link()
    other = link.campaign.invitations.exclude(pk=link.invitation.pk).get()
    other_url = f"{live_server.url}/s/{invitation_token_issue(invitation=other)}/"
    page = new_context().new_page()

    page.goto(link.url)
    page.goto(f"{live_server.url}/s/questions/")
    for number in range(1, 11):
        tap_answer(page, number, ANSWERS[number])
    key_a = page.locator("#survey-form").get_attribute("data-draft-key")

    page.goto(other_url)
    page.goto(f"{live_server.url}/s/questions/")
    expect(page.locator("#progress-text")).to_have_text(f"0 of {QUESTIONS} answered")
    expect(page.locator("#survey-form input:checked")).to_have_count(0)
    key_b = page.locator("#survey-form").get_attribute("data-draft-key")
    assert key_b != key_a
    tap_answer(page, 1, 1)

    page.goto(link.url)
    page.goto(f"{live_server.url}/s/questions/")
    expect(page.locator("#progress-text")).to_have_text(f"10 of {QUESTIONS} answered")
    expect_checked(page, range(1, 11))
    for number in range(11, QUESTIONS + 1):
        tap_answer(page, number, ANSWERS[number])
    page.get_by_role("button", name="Submit my answers").tap()
    page.wait_for_url(f"{live_server.url}/s/thanks/?lang=en")
    page.wait_for_function("key => window.localStorage.getItem(key) === null", arg=key_a)
    assert draft(page, key_b) is not None  # B's own draft is B's to finish


def test_without_javascript_the_language_switch_keeps_the_answers(
    live_server, new_context, survey_link
):
    link = survey_link(language="de")
    page = new_context(java_script_enabled=False, locale="de-DE").new_page()
    page.goto(link.url)
    page.goto(f"{live_server.url}/s/questions/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    for number in (1, 2, 3):
        fieldset = question(page, number)
        fieldset.get_by_role("radio").nth(number).check()
    page.get_by_role("button", name="English", exact=True).tap()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    for number in (1, 2, 3):
        expect(question(page, number).get_by_role("radio").nth(number)).to_be_checked()
    assert not Response.objects.filter(campaign=link.campaign).exists()

    # After submitting, Back says it was answered, in the person's language.
    page.get_by_role("button", name="Deutsch", exact=True).tap()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    page.goto(f"{live_server.url}/s/questions/")  # as a fresh visit would: German, blank
    expect(page.locator("html")).to_have_attribute("lang", "de")
    for number in range(1, QUESTIONS + 1):
        question(page, number).get_by_role("radio").first.check()
    page.get_by_role("button", name="Antworten abschicken").tap()
    page.wait_for_url(f"{live_server.url}/s/thanks/?lang=de")
    page.go_back()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(
        page.get_by_role("heading", name="Sie haben diese Befragung bereits beantwortet")
    ).to_be_visible()
