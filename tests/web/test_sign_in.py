"""Signing in: the page, the throttle, password resets, and choosing an organisation."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"


@pytest.fixture
def member(organization):
    user = UserFactory(email="ana@example.test")
    user.set_password(PASSWORD)
    user.save()
    MembershipFactory(user=user, organization=organization, role="analyst")
    return user


def _sign_in(client, email, password, **extra):
    return client.post(reverse("web:login"), {"username": email, "password": password}, **extra)


def test_signing_in_goes_to_the_organisation(client, member, organization):
    response = _sign_in(client, member.email, PASSWORD)
    assert response.status_code == 302
    home = client.get(response["Location"], follow=True)
    assert home.redirect_chain[-1][0] == f"/o/{organization.slug}/"
    assert organization.name in home.content.decode()


def test_a_wrong_password_and_an_unknown_account_get_the_same_message(client, member):
    wrong = _sign_in(client, member.email, "not-the-password").content.decode()
    unknown = _sign_in(client, "nobody@example.test", "not-the-password").content.decode()
    message = "do not match an account that may sign in"
    assert message in wrong and message in unknown

    def without_tokens(page: str) -> str:
        page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", page)
        return page.replace(member.email, "").replace("nobody@example.test", "")

    assert without_tokens(wrong) == without_tokens(unknown)


def test_repeated_failures_lock_the_account_from_that_address_only(client, member, settings):
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        _sign_in(client, member.email, "wrong", REMOTE_ADDR="203.0.113.9")
    locked = _sign_in(client, member.email, PASSWORD, REMOTE_ADDR="203.0.113.9")
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert int(locked["Retry-After"]) > 0
    # Unknown accounts lock the same way: the throttle says nothing about who exists.
    for _ in range(3):
        _sign_in(client, "nobody@example.test", "wrong", REMOTE_ADDR="203.0.113.9")
    assert _sign_in(client, "nobody@example.test", "x", REMOTE_ADDR="203.0.113.9").status_code == (
        429
    )
    # Another address still signs in.
    assert _sign_in(client, member.email, PASSWORD, REMOTE_ADDR="198.51.100.7").status_code == 302


def test_the_throttle_reads_the_address_behind_trusted_proxies(client, member, settings):
    settings.AXES_FAILURE_LIMIT = 2
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for _ in range(2):
        _sign_in(client, member.email, "wrong", HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy)
    blocked = _sign_in(client, member.email, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.9", **proxy)
    assert blocked.status_code == 429
    # Another client behind the same proxy is not blocked by the first one's failures.
    other = _sign_in(client, member.email, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy)
    assert other.status_code == 302


def test_password_reset_sends_a_link_that_sets_a_new_password(client, member, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://plimsoll.example.org"
    response = client.post(reverse("web:password_reset"), {"email": member.email})
    assert response.status_code == 302
    # An unknown address gets the same answer and no email.
    same = client.post(reverse("web:password_reset"), {"email": "nobody@example.test"})
    assert same.status_code == 302 and same["Location"] == response["Location"]
    assert len(mail.outbox) == 1
    link = re.search(r"https://plimsoll\.example\.org(/password-reset/\S+/)", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    form = client.get(link.group(1), follow=True)
    assert form.status_code == 200
    done = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link.group(1),
        {"new_password1": "a-brand-new-password-7", "new_password2": "a-brand-new-password-7"},
    )
    assert done.status_code == 302
    assert _sign_in(client, member.email, "a-brand-new-password-7").status_code == 302


def test_several_organisations_mean_a_choice_and_pages_stay_in_one(client, member, organization):
    second = OrganizationFactory(name="Second Ltd")
    MembershipFactory(user=member, organization=second, role="viewer")
    client.force_login(member)
    choice = client.get(reverse("web:home"), follow=True)
    assert choice.redirect_chain[-1][0] == reverse("web:organizations")
    page = choice.content.decode()
    assert organization.name in page and "Second Ltd" in page
    # Once one is opened, "/" goes back to it.
    client.get(reverse("web:org_home", kwargs={"org": second.slug}))
    again = client.get(reverse("web:home"))
    assert again["Location"] == f"/o/{second.slug}/"
    # An organisation the user does not belong to does not exist for them.
    stranger = OrganizationFactory()
    assert client.get(reverse("web:org_home", kwargs={"org": stranger.slug})).status_code == 404


def test_signing_out_needs_a_post_and_ends_the_session(client, member):
    client.force_login(member)
    assert client.get(reverse("web:logout")).status_code == 405
    assert client.post(reverse("web:logout")).status_code == 302
    assert client.get(reverse("web:home"))["Location"].startswith(reverse("web:login"))


def test_every_page_sends_the_security_headers(client, member, organization, settings):
    client.force_login(member)
    for url in (reverse("web:login"), reverse("web:org_home", kwargs={"org": organization.slug})):
        response = client.get(url)
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response["X-Frame-Options"] == "DENY"
        assert response["Referrer-Policy"] == "same-origin"
    home = client.get(reverse("web:org_home", kwargs={"org": organization.slug}))
    assert "no-store" in home["Cache-Control"]


def test_the_language_switch_turns_every_page_german(client, member, organization):
    client.force_login(member)
    home = reverse("web:org_home", kwargs={"org": organization.slug})
    client.post("/i18n/setlang/", {"language": "de", "next": home})
    page = client.get(home).content.decode()
    assert '<html lang="de">' in page and "Abmelden" in page and "Noch keine Befragungen." in page
    # Each language is offered in its own words, whatever the page's language.
    assert ">English</button>" in page and ">Deutsch</button>" in page
    client.post("/i18n/setlang/", {"language": "en", "next": home})
    assert "Sign out" in client.get(home).content.decode()
