"""Roles: a manager is scoped to a department subtree; other roles are organisation-wide."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Membership, Role
from accounts.services import membership_grant
from tests.factories import DepartmentFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_manager_needs_a_scope_department(organization):
    user = UserFactory()
    with pytest.raises(ValidationError) as caught:
        membership_grant(user=user, organization=organization, role=Role.MANAGER)
    assert "needs a scope department" in caught.value.message_dict["scope_department"][0]
    assert not Membership.objects.exists()


def test_scope_department_must_belong_to_the_organisation(organization, other_organization):
    foreign = DepartmentFactory(organization=other_organization)
    with pytest.raises(ValidationError, match="belongs to another organisation"):
        membership_grant(
            user=UserFactory(),
            organization=organization,
            role=Role.MANAGER,
            scope_department=foreign,
        )


def test_unknown_role_is_named(organization):
    with pytest.raises(ValidationError, match="Unknown role 'owner'"):
        membership_grant(user=UserFactory(), organization=organization, role="owner")


def test_granting_again_replaces_the_role(organization):
    user = UserFactory()
    department = DepartmentFactory(organization=organization)
    membership_grant(
        user=user, organization=organization, role=Role.MANAGER, scope_department=department
    )
    membership = membership_grant(user=user, organization=organization, role=Role.ANALYST)
    assert Membership.objects.get() == membership
    assert (membership.role, membership.scope_department) == (Role.ANALYST, None)


def test_database_enforces_scope_rules(organization):
    department = DepartmentFactory(organization=organization)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=UserFactory(), organization=organization, role="manager")
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(
            user=UserFactory(),
            organization=organization,
            role="viewer",
            scope_department=department,
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=UserFactory(), organization=organization, role="owner")


def test_the_last_admin_cannot_be_removed_or_demoted(organization):
    from accounts.services import membership_revoke

    first = membership_grant(user=UserFactory(), organization=organization, role=Role.ADMIN)
    for attempt in (
        lambda: membership_revoke(user=first.user, organization=organization),
        lambda: membership_grant(user=first.user, organization=organization, role=Role.VIEWER),
    ):
        with pytest.raises(ValidationError, match="last admin"):
            attempt()
        assert Membership.objects.get(pk=first.pk).role == Role.ADMIN
    # An inactive second admin does not count: nobody could sign in as them.
    idle = membership_grant(
        user=UserFactory(is_active=False), organization=organization, role=Role.ADMIN
    )
    with pytest.raises(ValidationError, match="last admin"):
        membership_revoke(user=first.user, organization=organization)
    idle.user.is_active = True
    idle.user.save()
    membership_revoke(user=first.user, organization=organization)
    assert not Membership.objects.filter(pk=first.pk).exists()
