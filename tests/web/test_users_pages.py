"""Users and roles: invitations with a first-password link, role changes, removals."""

import re

import pytest
from django.core import mail
from django.urls import reverse

from accounts.models import Membership, User
from accounts.services import department_create
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(client, organization, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "https://plimsoll.example.org"
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="admin")
    client.force_login(user)
    return user


def _url(organization, name="web:users", **kwargs):
    return reverse(name, kwargs={"org": organization.slug, **kwargs})


def test_an_invited_person_chooses_a_password_and_signs_in(
    client, admin, organization, django_capture_on_commit_callbacks
):
    north = department_create(organization=organization, name="North")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _url(organization),
            {
                "email": " Mia.Manager@Example.test ",
                "full_name": "Mia",
                "role": "manager",
                "scope_department": north.pk,
            },
        )
    assert response.status_code == 302
    user = User.objects.get(email="mia.manager@example.test")
    assert not user.has_usable_password()
    assert Membership.objects.get(user=user).scope_department == north
    (email,) = mail.outbox
    assert email.to == ["mia.manager@example.test"] and "Manager" in email.body
    link = re.search(r"https://plimsoll\.example\.org(/password-reset/\S+/)", email.body).group(1)
    client.post(reverse("web:logout"))
    form = client.get(link, follow=True)
    client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "mias-new-password-9", "new_password2": "mias-new-password-9"},
    )
    signed_in = client.post(
        reverse("web:login"),
        {"username": "mia.manager@example.test", "password": "mias-new-password-9"},
        follow=True,
    )
    assert signed_in.redirect_chain[-1][0] == f"/o/{organization.slug}/"
    assert "North and the departments below it" in signed_in.content.decode()


def test_someone_with_an_account_elsewhere_gets_the_sign_in_link(
    client, admin, organization, django_capture_on_commit_callbacks
):
    elsewhere = MembershipFactory(organization=OrganizationFactory(), role="admin").user
    elsewhere.set_password("their-own-password-1")
    elsewhere.save()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_url(organization), {"email": elsewhere.email, "role": "viewer"})
    (email,) = mail.outbox
    assert "https://plimsoll.example.org/login/" in email.body
    assert elsewhere.check_password("their-own-password-1")


def test_refusals_show_next_to_their_field_and_change_nothing(client, admin, organization):
    page = client.post(_url(organization), {"email": admin.email, "role": "viewer"})
    assert page.status_code == 400
    assert "already has a role" in page.context["form"].errors["email"][0]
    page = client.post(_url(organization), {"email": "x@example.test", "role": "manager"})
    assert "Choose the department" in page.context["form"].errors["scope_department"][0]
    assert not User.objects.filter(email="x@example.test").exists()
    assert mail.outbox == []
    # The last admin cannot demote or remove themselves.
    mine = Membership.objects.get(user=admin)
    page = client.post(_url(organization, "web:member", pk=mine.pk), {"role": "viewer"})
    assert "last admin" in page.context["form"].errors["role"][0]
    removed = client.post(_url(organization, "web:member_remove", pk=mine.pk), follow=True)
    assert "last admin" in removed.content.decode()
    assert Membership.objects.get(pk=mine.pk).role == "admin"


def test_roles_change_and_members_are_removed(client, admin, organization):
    other = MembershipFactory(organization=organization, role="viewer")
    client.post(_url(organization, "web:member", pk=other.pk), {"role": "analyst"})
    assert Membership.objects.get(pk=other.pk).role == "analyst"
    client.post(_url(organization, "web:member_remove", pk=other.pk))
    assert not Membership.objects.filter(pk=other.pk).exists()
    assert User.objects.filter(pk=other.user_id).exists()  # the account stays


def test_only_admins_see_the_users_page_in_the_navigation(client, admin, organization):
    assert "Users and roles" in client.get(_url(organization, "web:org_home")).content.decode()
    analyst = MembershipFactory(organization=organization, role="analyst").user
    client.force_login(analyst)
    assert "Users and roles" not in client.get(_url(organization, "web:org_home")).content.decode()
