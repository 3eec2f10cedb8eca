"""The department tree: paths, subtree queries, moves and cycle rejection."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Department
from accounts.services import DepartmentCycleError, department_create, department_move
from tests.factories import DepartmentFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(organization):
    """Org ─ Ops ─ North ─ Night
            └ South
    └ Sales"""
    ops = department_create(organization=organization, name="Ops")
    north = department_create(organization=organization, name="North", parent=ops)
    night = department_create(organization=organization, name="Night", parent=north)
    south = department_create(organization=organization, name="South", parent=ops)
    sales = department_create(organization=organization, name="Sales")
    return {"ops": ops, "north": north, "night": night, "south": south, "sales": sales}


def test_paths_and_depths(tree):
    assert tree["ops"].path == f"/{tree['ops'].pk}/"
    assert tree["night"].path == f"/{tree['ops'].pk}/{tree['north'].pk}/{tree['night'].pk}/"
    assert [tree[n].depth for n in ("ops", "north", "night", "sales")] == [0, 1, 2, 0]
    assert tree["night"].ancestor_ids() == [tree["ops"].pk, tree["north"].pk]


def test_subtree_is_one_query_and_excludes_siblings(tree, django_assert_num_queries):
    with django_assert_num_queries(1):
        names = sorted(d.name for d in tree["ops"].subtree())
    assert names == ["Night", "North", "Ops", "South"]
    assert sorted(d.name for d in tree["north"].subtree()) == ["Night", "North"]


def test_subtree_prefix_does_not_match_longer_ids(organization):
    # "/1/" must not match "/12/": the trailing slash in the path keeps ids apart.
    departments = [department_create(organization=organization, name=f"D{i}") for i in range(12)]
    first = departments[0]
    assert list(first.subtree()) == [first]


def test_move_rewrites_the_whole_subtree(tree):
    department_move(department=tree["north"], new_parent=tree["sales"])
    night = Department.objects.get(pk=tree["night"].pk)
    north = Department.objects.get(pk=tree["north"].pk)
    assert north.parent_id == tree["sales"].pk
    assert night.path == f"/{tree['sales'].pk}/{tree['north'].pk}/{tree['night'].pk}/"
    assert (north.depth, night.depth) == (1, 2)
    assert sorted(d.name for d in tree["ops"].subtree()) == ["Ops", "South"]


def test_move_to_top_level(tree):
    moved = department_move(department=tree["night"], new_parent=None)
    assert moved.parent is None
    assert moved.path == f"/{moved.pk}/"
    assert moved.depth == 0


def test_cycle_under_own_descendant_is_rejected_and_nothing_changes(tree):
    before = dict(Department.objects.values_list("pk", "path"))
    with pytest.raises(DepartmentCycleError) as caught:
        department_move(department=tree["ops"], new_parent=tree["night"])
    message = caught.value.message_dict["parent"][0]
    assert "'Ops' cannot be placed under 'Night'" in message
    assert "cycle" in message
    assert dict(Department.objects.values_list("pk", "path")) == before


def test_department_cannot_be_its_own_parent(tree):
    with pytest.raises(DepartmentCycleError, match="cannot be its own parent"):
        department_move(department=tree["north"], new_parent=tree["north"])


def test_database_refuses_self_parent_written_directly(tree):
    with pytest.raises(IntegrityError), transaction.atomic():
        Department.objects.filter(pk=tree["sales"].pk).update(parent=tree["sales"].pk)


def test_parent_from_another_organisation_is_rejected(tree):
    stranger = DepartmentFactory(organization=OrganizationFactory())
    with pytest.raises(ValidationError, match="belongs to another organisation"):
        department_create(organization=tree["ops"].organization, name="X", parent=stranger)
    with pytest.raises(ValidationError, match="belongs to another organisation"):
        department_move(department=tree["north"], new_parent=stranger)


def test_external_id_unique_per_organisation_only(organization, other_organization):
    department_create(organization=organization, name="A", external_id="HR-1")
    department_create(organization=other_organization, name="A", external_id="HR-1")
    # Departments without an HRIS id do not collide with each other.
    department_create(organization=organization, name="B")
    department_create(organization=organization, name="C")
    # The service names the clash; the database refuses it even past the service.
    with pytest.raises(ValidationError, match="External id 'HR-1' is already used by 'A'"):
        department_create(organization=organization, name="D", external_id="HR-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Department.objects.create(organization=organization, name="D", external_id="HR-1")


def test_blank_name_is_rejected(organization):
    with pytest.raises(ValidationError, match="needs a name"):
        department_create(organization=organization, name="   ")


def test_child_of_a_stale_parent_gets_the_current_path(tree):
    stale_north = Department.objects.get(pk=tree["north"].pk)
    department_move(department=tree["north"], new_parent=tree["sales"])
    child = department_create(
        organization=tree["ops"].organization, name="Late", parent=stale_north
    )
    assert child.path == f"/{tree['sales'].pk}/{tree['north'].pk}/{child.pk}/"
    assert child.depth == 2


def test_too_deep_a_tree_is_refused_with_a_clear_error(organization, monkeypatch):
    from accounts import services

    top = department_create(organization=organization, name="Top")
    middle = department_create(organization=organization, name="Middle", parent=top)
    monkeypatch.setattr(services, "PATH_MAX_LENGTH", len(middle.path) + 1)
    with pytest.raises(ValidationError, match="too deep"):
        department_create(organization=organization, name="Bottom", parent=middle)
    assert not Department.objects.filter(name="Bottom").exists()
    monkeypatch.setattr(services, "PATH_MAX_LENGTH", 1000)
    other = department_create(organization=organization, name="Other")
    monkeypatch.setattr(services, "PATH_MAX_LENGTH", len(middle.path) + 1)
    with pytest.raises(ValidationError, match="too deep"):
        department_move(department=other, new_parent=middle)
    assert Department.objects.get(pk=other.pk).parent is None


def test_department_update_renames_re_ids_and_moves_in_one_call(organization):
    from django.core.exceptions import ValidationError

    from accounts.services import department_update

    top = department_create(organization=organization, name="Top", external_id="T")
    other = department_create(organization=organization, name="Other", external_id="O")
    child = department_create(organization=organization, name="Child", parent=top)
    moved = department_update(department=child, name=" Kid ", external_id="K", parent=other)
    assert (moved.name, moved.external_id, moved.path) == ("Kid", "K", f"{other.path}{child.pk}/")
    with pytest.raises(ValidationError, match="already used by 'Top'"):
        department_update(department=child, name="Renamed", external_id="T")
    with pytest.raises(ValidationError, match="needs a name"):
        department_update(department=child, name="  ")
    # A refusal leaves everything as it was: one transaction per call.
    child.refresh_from_db()
    assert (child.name, child.external_id) == ("Kid", "K")
    with pytest.raises(ValidationError, match="cycle"):
        department_update(department=other, name="Other renamed", parent=child)
    other.refresh_from_db()
    assert other.name == "Other"
