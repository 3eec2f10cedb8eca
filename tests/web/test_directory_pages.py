"""People and departments: the tree with headcounts, changes through the services, the list."""

import pytest
from django.urls import reverse

from accounts.models import Department
from accounts.services import department_create
from tests.factories import EmployeeFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(client, organization):
    admin = UserFactory()
    MembershipFactory(user=admin, organization=organization, role="admin")
    client.force_login(admin)
    root = department_create(organization=organization, name="Harbour", external_id="H")
    quay = department_create(organization=organization, name="Quayside", parent=root)
    tiny = department_create(organization=organization, name="Lighthouse", parent=root)
    for n in range(7):
        EmployeeFactory(
            organization=organization,
            department=quay,
            external_id=f"Q{n:02}",
            email=f"quay{n}@example.test",
            attributes={"site": "north" if n % 2 else "south"},
        )
    EmployeeFactory(organization=organization, department=tiny, external_id="L00")
    EmployeeFactory(organization=organization, department=tiny, external_id="L01", is_active=False)
    return {"root": root, "quay": quay, "tiny": tiny}


def _url(organization, name, **kwargs):
    return reverse(f"web:{name}", kwargs={"org": organization.slug, **kwargs})


def test_the_tree_shows_headcounts_and_marks_small_departments(client, tree, organization):
    page = client.get(_url(organization, "departments"))
    rows = {h.department.name: h for h, _level in page.context["rows"]}
    assert (rows["Harbour"].direct, rows["Harbour"].subtree) == (0, 8)
    assert rows["Lighthouse"].subtree == 1  # the inactive employee is not counted
    html = page.content.decode()
    lighthouse = html.split("Lighthouse")[1].split("</tr>")[0]
    assert "fewer than the usual k" in lighthouse
    assert "fewer than the usual k" not in html.split("Quayside")[1].split("</tr>")[0]


def test_departments_are_added_renamed_and_moved_through_the_services(client, tree, organization):
    client.post(_url(organization, "departments"), {"name": " Dock 4 ", "parent": tree["quay"].pk})
    dock = Department.objects.get(name="Dock 4")
    assert dock.path == f"{tree['quay'].path}{dock.pk}/"
    page = client.post(_url(organization, "departments"), {"name": "Dup", "external_id": "H"})
    assert "already used" in page.context["form"].errors["external_id"][0]
    # Quayside cannot move under its own child: the form does not offer it.
    page = client.post(
        _url(organization, "department", pk=tree["quay"].pk),
        {"name": "Quayside", "parent": dock.pk},
    )
    assert page.status_code == 400 and "parent" in page.context["form"].errors
    client.post(
        _url(organization, "department", pk=dock.pk),
        {"name": "Dock Four", "parent": tree["root"].pk, "external_id": "D4"},
    )
    dock.refresh_from_db()
    assert (dock.name, dock.external_id, dock.parent_id) == ("Dock Four", "D4", tree["root"].pk)
    assert dock.path == f"{tree['root'].path}{dock.pk}/"


def test_a_department_with_people_cannot_be_deactivated(client, tree, organization):
    page = client.post(
        _url(organization, "department_active", pk=tree["tiny"].pk), {"active": "0"}, follow=True
    )
    assert "still has 1 active employees" in page.content.decode()
    assert Department.objects.get(pk=tree["tiny"].pk).is_active
    empty = department_create(organization=organization, name="Old store", parent=tree["root"])
    client.post(_url(organization, "department_active", pk=empty.pk), {"active": "0"})
    assert not Department.objects.get(pk=empty.pk).is_active
    client.post(_url(organization, "department_active", pk=empty.pk), {"active": "1"})
    assert Department.objects.get(pk=empty.pk).is_active


def test_the_employee_list_searches_filters_and_pages(
    client, tree, organization, django_assert_max_num_queries
):
    def ids(**params):
        page = client.get(_url(organization, "employees"), params)
        return [e.external_id for e in page.context["page"]]

    assert ids() == ["L00"] + [f"Q{n:02}" for n in range(7)]  # active only, by HRIS id
    assert ids(q="quay3") == ["Q03"]
    assert ids(department=tree["tiny"].pk, active="all") == ["L00", "L01"]
    assert ids(active="no") == ["L01"]
    assert ids(attribute="site", value="north") == ["Q01", "Q03", "Q05"]
    for n in range(60):
        EmployeeFactory(organization=organization, department=tree["quay"], external_id=f"Z{n:03}")
    with django_assert_max_num_queries(15):
        page = client.get(_url(organization, "employees"), {"page": 2})
    assert page.context["page"].number == 2 and len(page.context["page"]) == 18
