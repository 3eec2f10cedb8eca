"""Reads of people and roles within an access (accounts.permissions)."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Membership
from accounts.permissions import Access, NotVisible, Permission


def memberships(*, access: Access) -> QuerySet[Membership]:
    """Everyone with a role in the organisation, for those who manage users."""
    access.require(Permission.MANAGE_USERS)
    return (
        Membership.objects.for_organization(access.organization_id)
        .select_related("user", "scope_department")
        .order_by("user__email")
    )


def membership_for(*, access: Access, pk: int) -> Membership:
    found = memberships(access=access).filter(pk=pk).first()
    if found is None:
        raise NotVisible("No such member here.")
    return found
