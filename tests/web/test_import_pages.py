"""Directory import through the HR pages: upload, preview, apply; export and template."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import Department, DirectoryImport, Employee
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

HEADER = (
    "kind,external_id,name,parent_external_id,email,department_external_id,language,active,site\n"
)


@pytest.fixture
def admin(client, organization):
    user = UserFactory()
    MembershipFactory(user=user, organization=organization, role="admin")
    client.force_login(user)
    return user


def _url(organization, name, **kwargs):
    return reverse(f"web:{name}", kwargs={"org": organization.slug, **kwargs})


def _upload(client, organization, text: str, mode="delta", name="people.csv"):
    upload = SimpleUploadedFile(name, text.encode(), content_type="text/csv")
    return client.post(_url(organization, "import"), {"file": upload, "mode": mode})


def test_bad_rows_are_listed_with_row_column_and_value_and_nothing_is_written(
    client, admin, organization
):
    text = HEADER + (
        "department,D1,Harbour,,,,,,\n"
        "department,D2,Quay,NOPE,,,,,\n"
        "employee,E1,,,not-an-email,D1,en,true,north\n"
        "employee,E2,,,b@example.test,D1,xx,true,north\n"
    )
    response = _upload(client, organization, text)
    preview = client.get(response["Location"])
    page = preview.content.decode()
    for row, column, value in ((3, "parent_external_id", "NOPE"), (4, "email", "not-an-email"),
                               (5, "language", "xx")):  # fmt: skip
        assert any(
            e.row == row and e.column == column and e.value == value
            for e in preview.context["errors"]
        ), (row, column)
        assert value in page
    assert "Apply the import" not in page
    imported = DirectoryImport.objects.get()
    client.post(_url(organization, "import_apply", pk=imported.pk))
    assert not Department.objects.exists() and not Employee.objects.exists()


def test_a_good_file_is_previewed_then_applied_at_once(client, admin, organization):
    text = HEADER + (
        "employee,E1,,,a@example.test,D2,en,true,north\n"
        "department,D2,Quay,D1,,,,,\n"
        "department,D1,Harbour,,,,,,\n"
        "employee,E2,,,b@example.test,D1,de,true,south\n"
    )
    preview = client.get(_upload(client, organization, text)["Location"])
    page = preview.content.decode()
    assert "Departments created: 2" in page and "Employees created: 2" in page
    assert not Employee.objects.exists()  # a preview writes nothing
    imported = DirectoryImport.objects.get()
    done = client.post(_url(organization, "import_apply", pk=imported.pk), follow=True)
    assert "The import is done" in done.content.decode()
    quay = Department.objects.get(external_id="D2")
    assert quay.parent.external_id == "D1"
    assert Employee.objects.get(external_id="E1").department == quay
    # Applying twice does nothing more.
    again = client.post(_url(organization, "import_apply", pk=imported.pk), follow=True)
    assert "already applied" in again.content.decode()


def test_a_full_import_that_deactivates_many_asks_for_confirmation(client, admin, organization):
    base = (
        HEADER
        + "department,D1,Harbour,,,,,,\n"
        + "".join(f"employee,E{n},,,p{n}@example.test,D1,en,true,north\n" for n in range(10))
    )
    first = DirectoryImport.objects
    client.post(_url(organization, "import_apply", pk=_preview_pk(client, organization, base)))
    assert Employee.objects.filter(is_active=True).count() == 10
    smaller = (
        HEADER
        + "department,D1,Harbour,,,,,,\n"
        + "employee,E0,,,p0@example.test,D1,en,true,north\n"
    )
    pk = _preview_pk(client, organization, smaller, mode="full")
    page = client.get(_url(organization, "import_preview", pk=pk)).content.decode()
    assert "I have checked this" in page
    refused = client.post(_url(organization, "import_apply", pk=pk), follow=True)
    assert "deactivate 9 of 10" in refused.content.decode()
    assert Employee.objects.filter(is_active=True).count() == 10
    client.post(_url(organization, "import_apply", pk=pk), {"confirmed": "1"})
    assert Employee.objects.filter(is_active=True).count() == 1
    assert first.filter(status="applied").count() == 2


def _preview_pk(client, organization, text, mode="delta") -> int:
    response = _upload(client, organization, text, mode=mode)
    return int(response["Location"].rstrip("/").rsplit("/", 1)[1])


def test_export_and_template_download_as_csv(client, admin, organization):
    template = client.get(_url(organization, "import_template"))
    assert template["Content-Type"].startswith("text/csv")
    body = template.content.decode("utf-8-sig")
    assert body.startswith("kind,external_id,name")
    # The template itself imports cleanly.
    pk = _preview_pk(client, organization, body)
    assert not client.get(_url(organization, "import_preview", pk=pk)).context["errors"]
    client.post(_url(organization, "import_apply", pk=pk))
    exported = client.get(_url(organization, "directory_export"))
    assert "no-store" in exported["Cache-Control"]
    assert "alex.example@example.com" in exported.content.decode("utf-8-sig")


def test_ten_thousand_employees_import_in_one_request_each(client, admin, organization):
    rows = "".join(
        f"employee,E{n:05d},,,person{n:05d}@example.test,D{n % 40:02d},en,true,north\n"
        for n in range(10_000)
    )
    departments = "".join(f"department,D{d:02d},Team {d},,,,,,\n" for d in range(40))
    pk = _preview_pk(client, organization, HEADER + departments + rows, mode="full")
    preview = client.get(_url(organization, "import_preview", pk=pk))
    assert preview.context["summary"]["employees_created"] == 10_000
    client.post(_url(organization, "import_apply", pk=pk))
    assert Employee.objects.filter(organization=organization, is_active=True).count() == 10_000
