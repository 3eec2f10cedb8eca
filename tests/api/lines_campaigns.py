"""The campaigns lines of the API access table (see tests/api/table.py): running campaigns,
requesting reports and action plans."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from accounts.models import ApiScope
from assessments.models import Instrument
from assessments.services import campaign_create, campaign_launch
from tests.api.table import EVERYONE, Line

WRITE = (ApiScope.CAMPAIGNS_WRITE,)
REPORTS = (ApiScope.REPORTS_READ,)
# Action plans are read with the campaigns they answer or with the results they act on.
READ_ACTIONS = (ApiScope.CAMPAIGNS_WRITE, ApiScope.RESULTS_READ)
RUN = ("admin", "analyst")  # who runs campaigns
SUBTREE = ("admin", "analyst", "manager")  # who requests packs and keeps action plans


def _closes() -> str:
    return (timezone.now() + dt.timedelta(days=21)).isoformat()


def _new_campaign(world) -> dict:
    return {
        "name": "Autumn pulse",
        "instrument": "plimsoll-core",
        "target_departments": ["D-OPS"],
        "closes_at": _closes(),
    }


def _new_action(world) -> dict:
    return {
        "campaign": world["scored"].campaign.pk,
        "department": "D-QUAY",
        "domain": "demands",
        "title": "Map the team's workload together",
        "owner": "Shift lead",
    }


LINES: list[Line] = [
    Line("campaigns", WRITE, method="post", body=_new_campaign, roles=RUN),
    Line(
        "campaign",
        WRITE,
        {"pk": "@draft"},
        roles=RUN,
        detail=True,
        method="patch",
        body={"name": "Autumn pulse, renamed"},
    ),
    Line("campaign_launch", WRITE, {"pk": "@draft"}, roles=RUN, detail=True, method="post"),
    Line("campaign_close", WRITE, {"pk": "@open"}, roles=RUN, detail=True, method="post"),
    Line("campaign_remind", WRITE, {"pk": "@open"}, roles=RUN, detail=True, method="post"),
    Line(
        "campaign_retry_deliveries",
        WRITE,
        {"pk": "@open"},
        roles=RUN,
        detail=True,
        method="post",
    ),
    Line(
        "reports",
        REPORTS,
        {"pk": "@closed"},
        roles=SUBTREE,
        detail=True,
        method="post",
        body={"department": "D-QUAY", "language": "en"},
    ),
    Line(
        "report_packs",
        REPORTS,
        {"pk": "@closed"},
        roles=SUBTREE,
        detail=True,
        method="post",
        body={"language": "en"},
    ),
    Line("report", REPORTS, {"report": "@pack"}, roles=EVERYONE, detail=True),
    Line("actions", READ_ACTIONS, roles=EVERYONE),
    Line("actions", WRITE, method="post", body=_new_action, roles=SUBTREE),
    Line("action", READ_ACTIONS, {"pk": "@planned"}, roles=EVERYONE, detail=True),
    Line(
        "action",
        WRITE,
        {"pk": "@planned"},
        roles=SUBTREE,
        detail=True,
        method="patch",
        body={"status": "in_progress"},
    ),
]


def targets(world) -> dict:
    """The objects this area's lines name ("@name"), made in the test's world: a draft and an
    open campaign asking Operations (D-OPS), and an action of Quayside Operations (the
    manager's department, given the HRIS id D-QUAY)."""
    organization, scored = world["organization"], world["scored"]
    quayside = scored.departments["quayside"]
    quayside.external_id = "D-QUAY"
    quayside.save(update_fields=["external_id"])
    instrument = Instrument.objects.get(code="plimsoll-core", version=1)

    def draft(name: str):
        return campaign_create(
            organization=organization,
            name=name,
            instrument=instrument,
            target_departments=[world["ops"]],
            closes_at=timezone.now() + dt.timedelta(days=21),
        )

    return {
        "draft": draft("Autumn pulse"),
        "open": campaign_launch(campaign=draft("Winter pulse")),
        "planned": scored.actions["planned"],
    }
