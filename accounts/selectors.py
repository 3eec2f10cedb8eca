"""Who may see what: the one place that turns a user's memberships into a visible scope."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from accounts.models import Department, Membership, Organization, Role


@dataclass(frozen=True)
class Scope:
    """What a user may see of one organisation's results."""

    organization_id: int
    whole_organization: bool  # admins, analysts and viewers
    subtree_path: str | None  # managers: the path prefix of their department subtree

    @property
    def sees_anything(self) -> bool:
        return self.whole_organization or self.subtree_path is not None

    def department_filter(self, field: str = "department") -> Q:
        """A filter on a department foreign key (named `field`) limited to this scope."""
        if self.whole_organization:
            return Q()
        if self.subtree_path is None:
            return Q(pk__in=[])
        return Q(**{f"{field}__path__startswith": self.subtree_path})

    def covers(self, department: Department | None) -> bool:
        """Whether a department's figures (None: the whole organisation's) are visible."""
        if self.whole_organization:
            return True
        if department is None or self.subtree_path is None:
            return False
        return department.path.startswith(self.subtree_path)


NOTHING = Scope(organization_id=0, whole_organization=False, subtree_path=None)


def scope_for(*, user, organization: Organization | int) -> Scope:
    """The scope of `user` in `organization`: everything, one subtree, or nothing."""
    organization_id = getattr(organization, "pk", organization)
    if user is None or not user.is_authenticated:
        return NOTHING
    membership = (
        Membership.objects.for_organization(organization_id)
        .select_related("scope_department")
        .filter(user=user)
        .first()
    )
    if membership is None:
        return NOTHING
    if membership.role == Role.MANAGER:
        return Scope(organization_id, False, membership.scope_department.path)
    return Scope(organization_id, True, None)
