"""The second factor (TOTP): required by an organisation for admins and analysts, always asked
of anyone who set it up, and never a way around the rest of the access rules."""

import re

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


@pytest.fixture
def strict(organization):
    organization.require_second_factor = True
    organization.save()
    return organization


def _home(organization):
    return reverse("web:org_home", kwargs={"org": organization.slug})


def test_an_admin_sets_up_an_app_before_seeing_anything(client, strict, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0  # a wrong code delays the next try; not here
    admin = MembershipFactory(organization=strict, role="admin").user
    client.force_login(admin)
    response = client.get(_home(strict))
    assert response.status_code == 302 and response["Location"].startswith(
        reverse("web:two_factor")
    )
    setup = client.get(response["Location"])
    page = setup.content.decode()
    assert "<svg" in page and re.search(r'class="secret">[A-Z2-7 ]+<', page)
    device = TOTPDevice.objects.get(user=admin, confirmed=False)
    wrong = client.post(reverse("web:two_factor"), {"code": "000000", "next": _home(strict)})
    assert wrong.status_code == 400 and "does not match" in wrong.content.decode()
    done = client.post(reverse("web:two_factor"), {"code": _code(device), "next": _home(strict)})
    assert done["Location"] == _home(strict)
    assert client.get(_home(strict)).status_code == 200
    assert TOTPDevice.objects.get(user=admin).confirmed


def test_the_next_sign_in_asks_for_a_code_and_viewers_are_not_asked(client, strict):
    admin = MembershipFactory(organization=strict, role="analyst").user
    device = TOTPDevice.objects.create(user=admin, confirmed=True, name="phone")
    client.force_login(admin)
    confirm = client.get(_home(strict))
    assert confirm["Location"].startswith(reverse("web:two_factor"))
    assert "<svg" not in client.get(confirm["Location"]).content.decode()  # no new setup
    client.post(reverse("web:two_factor"), {"code": _code(device)})
    assert client.get(_home(strict)).status_code == 200
    viewer = MembershipFactory(organization=strict, role="viewer").user
    client.force_login(viewer)
    assert client.get(_home(strict)).status_code == 200


def test_someone_who_set_it_up_is_always_asked(client, organization):
    manager = MembershipFactory(organization=organization, role="admin").user
    TOTPDevice.objects.create(user=manager, confirmed=True, name="phone")
    client.force_login(manager)
    assert client.get(_home(organization))["Location"].startswith(reverse("web:two_factor"))


def test_admins_switch_the_requirement(client, organization):
    admin = MembershipFactory(organization=organization, role="admin").user
    client.force_login(admin)
    url = reverse("web:security_save", kwargs={"org": organization.slug})
    client.post(url, {"require_second_factor": "1"})
    organization.refresh_from_db()
    assert organization.require_second_factor
    # The admin who switched it on is asked to set up an app on the next page.
    assert client.get(_home(organization))["Location"].startswith(reverse("web:two_factor"))


def test_wrong_codes_are_throttled(client, organization):
    user = UserFactory()
    device = TOTPDevice.objects.create(user=user, confirmed=True, name="phone")
    client.force_login(user)
    client.post(reverse("web:two_factor"), {"code": "000000"})
    again = client.post(reverse("web:two_factor"), {"code": _code(device)})
    assert "Too many wrong codes" in again.content.decode()
    assert not again.wsgi_request.user.is_verified()


def test_the_confirm_page_only_returns_to_this_site(client, organization):
    user = UserFactory()
    device = TOTPDevice.objects.create(user=user, confirmed=True, name="phone")
    client.force_login(user)
    done = client.post(
        reverse("web:two_factor"), {"code": _code(device), "next": "https://evil.example/"}
    )
    assert done["Location"] == "/"
