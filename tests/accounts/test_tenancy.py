"""The shared organisation scope: a row of another organisation is never returned."""

import pytest
from django.apps import apps

from accounts.models import Department, Employee, Membership, TenantModel, TenantQuerySet
from assessments.models import Campaign, Invitation, Response
from reports.models import Action
from results.models import ResultRun
from tests import factories

pytestmark = pytest.mark.django_db


def _tenant_models():
    return [m for m in apps.get_models() if issubclass(m, TenantModel)]


def test_every_model_with_an_organization_uses_the_shared_queryset():
    with_org = [
        m for m in apps.get_models() if any(f.name == "organization" for f in m._meta.get_fields())
    ]
    assert set(with_org) == set(_tenant_models())
    for model in with_org:
        assert isinstance(model._default_manager.all(), TenantQuerySet), model


@pytest.fixture
def two_tenants(core_instrument):
    """The same kinds of rows in two organisations."""
    rows = {}
    for label in ("mine", "theirs"):
        org = factories.OrganizationFactory()
        department = factories.DepartmentFactory(organization=org)
        campaign = factories.CampaignFactory(organization=org, instrument=core_instrument)
        employee = factories.EmployeeFactory(organization=org, department=department)
        rows[label] = {
            "org": org,
            Department: department,
            Employee: employee,
            Campaign: campaign,
            Invitation: factories.InvitationFactory(
                campaign=campaign, organization=org, employee=employee, department=department
            ),
            Response: factories.ResponseFactory(
                campaign=campaign, organization=org, department=department
            ),
            Membership: factories.MembershipFactory(organization=org),
            ResultRun: factories.ResultRunFactory(campaign=campaign, organization=org),
            Action: factories.ActionFactory(
                campaign=campaign, organization=org, department=department
            ),
        }
    return rows


@pytest.mark.parametrize(
    "model", [Department, Employee, Campaign, Invitation, Response, Membership, ResultRun, Action]
)
def test_for_organization_returns_only_that_organisations_rows(two_tenants, model):
    mine, theirs = two_tenants["mine"], two_tenants["theirs"]
    scoped = model.objects.for_organization(mine["org"])
    assert list(scoped.values_list("pk", flat=True)) == [mine[model].pk]
    assert not scoped.filter(pk=theirs[model].pk).exists()
    # The same with the id instead of the instance.
    assert list(model.objects.for_organization(theirs["org"].pk)) == [theirs[model]]


def test_for_organization_survives_further_filters_and_unions(two_tenants):
    mine, theirs = two_tenants["mine"], two_tenants["theirs"]
    scoped = Department.objects.for_organization(mine["org"])
    assert not scoped.filter(name=theirs[Department].name).exists()
    assert not scoped.filter(pk__in=[theirs[Department].pk]).exists()


@pytest.mark.parametrize("missing", [None, "unsaved"])
def test_missing_organisation_returns_nothing_not_everything(two_tenants, missing):
    organization = factories.OrganizationFactory.build() if missing == "unsaved" else None
    for model in (Department, Employee, Campaign, Response):
        assert not model.objects.for_organization(organization).exists()
