"""Signing in as a member of an organisation, for the web tests."""

from __future__ import annotations

from tests.factories import MembershipFactory, UserFactory


def sign_in_as(client, organization, role: str, scope=None, **user_fields):
    """A new user with `role` in `organization` (a manager over `scope`), signed in."""
    user = UserFactory(**user_fields)
    MembershipFactory(user=user, organization=organization, role=role, scope_department=scope)
    client.force_login(user)
    return user
