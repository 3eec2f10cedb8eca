"""factory_boy factories for the main models. Departments are built through the service so
their materialised paths are right."""

import datetime as dt

import factory
from django.utils import timezone

from accounts.models import Department, Employee, Membership, Organization, Role, User
from accounts.services import department_create
from assessments.models import Campaign, Invitation, Response
from reports.models import Action
from results.models import ResultRun


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Department {n}")
    parent = None
    external_id = None

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return department_create(**kwargs)


class EmployeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Employee

    department = factory.SubFactory(DepartmentFactory)
    organization = factory.SelfAttribute("department.organization")
    external_id = factory.Sequence(lambda n: f"E{n:05d}")
    email = factory.LazyAttribute(lambda o: f"{o.external_id.lower()}@example.test")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    password = factory.django.Password("correct horse battery staple")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Role.ANALYST


class CampaignFactory(factory.django.DjangoModelFactory):
    """A draft campaign on plimsoll-core; pass `instrument` from the core_instrument fixture."""

    class Meta:
        model = Campaign

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    languages = factory.LazyFunction(lambda: ["en", "de"])
    opens_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=1))
    closes_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=22))


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    campaign = factory.SubFactory(CampaignFactory)
    organization = factory.SelfAttribute("campaign.organization")
    employee = factory.SubFactory(
        EmployeeFactory, department__organization=factory.SelfAttribute("...organization")
    )
    department = factory.SelfAttribute("employee.department")


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Response

    campaign = factory.SubFactory(CampaignFactory)
    organization = factory.SelfAttribute("campaign.organization")
    department = factory.SubFactory(
        DepartmentFactory, organization=factory.SelfAttribute("..organization")
    )
    answers = factory.LazyAttribute(lambda o: bytes([3] * o.campaign.instrument.items.count()))


class ResultRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResultRun

    campaign = factory.SubFactory(CampaignFactory)
    organization = factory.SelfAttribute("campaign.organization")


class ActionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Action

    campaign = factory.SubFactory(CampaignFactory)
    organization = factory.SelfAttribute("campaign.organization")
    department = factory.SubFactory(
        DepartmentFactory, organization=factory.SelfAttribute("..organization")
    )
    domain_code = "demands"
    title = factory.Sequence(lambda n: f"Action {n}")
    owner = "Team lead"
