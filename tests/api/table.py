"""The API access table's building blocks: one `Line` per endpoint and method. Each area
keeps its lines in its own module (tests/api/lines_*.py) and `test_api_access` joins them."""

from __future__ import annotations

from dataclasses import dataclass, field

from accounts.models import ApiScope

PUBLIC = {"schema", "docs", "not_found"}  # the API's description, and the 404 for the rest
NO_STORE = {"results", "heatmap", "top_risks", "results_export", "report_download"}
ROLES = ("admin", "analyst", "manager", "viewer", "representative")


READ_DIRECTORY = (ApiScope.DIRECTORY_READ, ApiScope.DIRECTORY_WRITE)  # writing implies reading
READ_CAMPAIGNS = (ApiScope.CAMPAIGNS_READ, ApiScope.CAMPAIGNS_WRITE)
# Results and reports belong to campaigns: their scopes list campaigns too.
LIST_CAMPAIGNS = (*READ_CAMPAIGNS, ApiScope.RESULTS_READ, ApiScope.REPORTS_READ)
EVERYONE = ROLES


@dataclass(frozen=True)
class Line:
    name: str
    scopes: tuple[str, ...]  # the scopes that open it; every other scope gets 403
    kwargs: dict = field(default_factory=dict)  # "@name": the world's object of that name
    roles: tuple[str, ...] = ("admin",)  # signed-in roles allowed (the others get 403)
    detail: bool = False  # names one object: another organisation's key gets 404
    method: str = "get"
    # For writes: the request body (a function of the world, which has "targets"); a write
    # allowed by the table may answer anything but 401, 403 and 404 (it may be refused on its
    # merits: a campaign already launched, a body that does not fit).
    body: object = None
    label: str = ""  # tells apart two lines of one URL name (e.g. GET and PUT)

    @property
    def id(self) -> str:
        return self.label or (self.name if self.method == "get" else f"{self.method} {self.name}")


BASE_LINES = [
    Line("departments", READ_DIRECTORY),
    Line("department", READ_DIRECTORY, {"external_id": "D-OPS"}, detail=True),
    Line("employees", READ_DIRECTORY),
    Line("employee", READ_DIRECTORY, {"external_id": "E-1"}, detail=True),
    Line("campaigns", LIST_CAMPAIGNS, roles=EVERYONE),
    Line("campaign", LIST_CAMPAIGNS, {"pk": "@closed"}, roles=EVERYONE, detail=True),
    Line(
        "participation",
        READ_CAMPAIGNS,
        {"pk": "@closed"},
        roles=("admin", "analyst", "manager"),
        detail=True,
    ),
    Line("results", (ApiScope.RESULTS_READ,), {"pk": "@closed"}, roles=EVERYONE, detail=True),
    Line("heatmap", (ApiScope.RESULTS_READ,), {"pk": "@closed"}, roles=EVERYONE, detail=True),
    Line("top_risks", (ApiScope.RESULTS_READ,), {"pk": "@closed"}, roles=EVERYONE, detail=True),
    Line(
        "results_export",
        (ApiScope.RESULTS_READ,),
        {"pk": "@closed"},
        roles=("admin", "analyst", "manager"),
        detail=True,
    ),
    Line("reports", (ApiScope.REPORTS_READ,), {"pk": "@closed"}, roles=EVERYONE, detail=True),
    Line(
        "report_download",
        (ApiScope.REPORTS_READ,),
        {"report": "@pack"},
        roles=EVERYONE,
        detail=True,
    ),
]
