"""Reads for campaigns: instrument structure for the survey, the frozen population, raw
participation counts and the answers for scoring."""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import Count, Q, QuerySet

from accounts.models import Department
from accounts.permissions import Access, NotVisible, Permission
from accounts.selectors import department_headcounts
from assessments.models import (
    Campaign,
    CampaignDepartment,
    DeliveryStatus,
    Instrument,
    Invitation,
    Response,
)


@dataclass(frozen=True)
class ItemSpec:
    code: str
    position: int
    number: int  # 1-based, as shown to respondents
    text: dict
    scale: dict
    reverse: bool
    domain_code: str


@dataclass(frozen=True)
class DomainSpec:
    code: str
    title: dict
    description: dict | None
    direction: str
    min_answered: int
    items: tuple[ItemSpec, ...]


@dataclass(frozen=True)
class InstrumentSpec:
    """An instrument's questions in answer order, built once per process from its definition."""

    id: int
    code: str
    version: int
    languages: tuple[str, ...]
    domains: tuple[DomainSpec, ...]
    items: tuple[ItemSpec, ...]

    @functools.cached_property
    def items_by_code(self) -> dict[str, ItemSpec]:
        return {item.code: item for item in self.items}

    @property
    def scales(self) -> list[dict]:
        return [item.scale for item in self.items]


@functools.lru_cache(maxsize=64)
def instrument_spec(instrument_id: int) -> InstrumentSpec:
    """The structure of an instrument version.

    Cached per process by id: an instrument reachable from a campaign can never change (the
    loader refuses), so the cache cannot go stale where it is used.
    """
    instrument = Instrument.objects.only("id", "code", "version", "definition").get(
        pk=instrument_id
    )
    definition = instrument.definition
    scales = {scale["code"]: scale for scale in definition["scales"]}
    items_by_code = {item["code"]: item for item in definition["items"]}
    domains, items = [], []
    for domain in definition["domains"]:
        domain_items = []
        for code in domain["items"]:
            raw = items_by_code[code]
            spec = ItemSpec(
                code=code,
                position=len(items),
                number=len(items) + 1,
                text=raw["text"],
                scale=scales[raw["scale"]],
                reverse=raw["reverse"],
                domain_code=domain["code"],
            )
            items.append(spec)
            domain_items.append(spec)
        domains.append(
            DomainSpec(
                code=domain["code"],
                title=domain["title"],
                description=domain.get("description"),
                direction=domain["direction"],
                min_answered=domain["min_answered"],
                items=tuple(domain_items),
            )
        )
    return InstrumentSpec(
        id=instrument.pk,
        code=instrument.code,
        version=instrument.version,
        languages=tuple(definition["languages"]),
        domains=tuple(domains),
        items=tuple(items),
    )


@dataclass(frozen=True)
class FrozenTree:
    """A campaign's departments as they stood at launch, in tree order, with the organisation
    as the root (index len(ids))."""

    ids: list[int]
    parent: np.ndarray  # parent index per index (root: -1), root included
    depth: list[int]  # per department index
    departments: dict[int, Department]  # by id, with today's names

    def frame(self) -> pd.DataFrame:
        root = len(self.ids)
        return pd.DataFrame(
            {
                "id": pd.array(self.ids, dtype="Int64"),
                "parent_id": pd.array(
                    [None if p == root else self.ids[p] for p in self.parent[:root]],
                    dtype="Int64",
                ),
            }
        )


def campaign_is_frozen(*, campaign: Campaign) -> bool:
    return CampaignDepartment.objects.filter(campaign=campaign).exists()


def campaign_frozen_tree(*, campaign: Campaign) -> FrozenTree:
    """The campaign's frozen department tree; the organisation's tree as it is now for a
    campaign that has none (a draft, or one launched before trees were frozen)."""
    frozen = list(
        CampaignDepartment.objects.filter(campaign=campaign)
        .select_related("department")
        .order_by("department__path")
    )
    if frozen:
        links = [(row.department_id, row.parent_id) for row in frozen]
        departments = {row.department_id: row.department for row in frozen}
    else:
        found = list(Department.objects.for_organization(campaign.organization_id).order_by("path"))
        links = [(d.pk, d.parent_id) for d in found]
        departments = {d.pk: d for d in found}
    children: dict[int | None, list[int]] = defaultdict(list)
    known = {pk for pk, _ in links}
    for pk, parent_id in links:
        children[parent_id if parent_id in known else None].append(pk)
    ids, parents, depths = [], [], []
    stack = [(pk, None, 0) for pk in reversed(children[None])]
    while stack:  # depth first, siblings in path order
        pk, parent_index, depth = stack.pop()
        index = len(ids)
        ids.append(pk)
        parents.append(parent_index)
        depths.append(depth)
        stack.extend((child, index, depth + 1) for child in reversed(children[pk]))
    root = len(ids)
    parent = np.array([root if p is None else p for p in parents] + [-1], dtype=np.int64)
    return FrozenTree(ids=ids, parent=parent, depth=depths, departments=departments)


@dataclass(frozen=True)
class ParticipationCounts:
    """Raw invited and answered counts per node of a campaign's frozen tree (the organisation
    last), rolled up. Never shown as they are: `results.selectors` decides which may be shown
    (the suppression engine lives there)."""

    tree: FrozenTree
    direct: np.ndarray  # 2 x nodes: invited and answered attached directly to each node
    invited: np.ndarray  # per node, rolled up
    completed: np.ndarray


def campaign_participation_counts(
    *, campaign: Campaign, tree: FrozenTree | None = None
) -> ParticipationCounts:
    tree = tree or campaign_frozen_tree(campaign=campaign)
    index = {pk: i for i, pk in enumerate(tree.ids)}
    size = len(tree.ids) + 1
    invited = np.zeros(size, dtype=np.int64)
    completed = np.zeros(size, dtype=np.int64)
    counts = (
        Invitation.objects.for_organization(campaign.organization_id)
        .filter(campaign=campaign)
        .values("department_id")
        .annotate(invited=Count("id"), completed=Count("id", filter=Q(completed_on__isnull=False)))
    )
    for row in counts:
        node = index.get(row["department_id"], size - 1)
        invited[node] += row["invited"]
        completed[node] += row["completed"]
    direct = np.stack([invited, completed])
    order = np.argsort(-np.array([*tree.depth, -1]), kind="stable")
    for node in order[:-1]:  # deepest first; the root last, and it has no parent
        invited[tree.parent[node]] += invited[node]
        completed[tree.parent[node]] += completed[node]
    return ParticipationCounts(tree, direct, invited, completed)


@dataclass(frozen=True)
class AnswerMatrix:
    """A campaign's responses as arrays: nothing else is loaded, no model instances."""

    answers: np.ndarray  # int8, one row per response, one column per item
    departments: np.ndarray  # int64 department id per response
    # attribute name → value per response (missing where absent), as a pandas Categorical
    attributes: dict[str, pd.Categorical | np.ndarray]


def campaign_answer_matrix(
    *, campaign: Campaign, attributes: list[str] | tuple[str, ...] = ()
) -> AnswerMatrix:
    """All answers of a campaign as an int8 matrix, in a fixed number of queries.

    On PostgreSQL the database concatenates the packed answers per department (and breakdown
    values), so a million responses arrive as about a thousand blobs that numpy reads in place.
    """
    items = instrument_spec(campaign.instrument_id).items
    width = len(items)
    attributes = list(attributes)
    if connection.vendor == "postgresql":
        rows = _answer_blocks_postgresql(campaign.pk, attributes)
    else:
        rows = _answer_blocks_generic(campaign.pk, attributes)
    blocks, counts, departments, values = [], [], [], {name: [] for name in attributes}
    for department_id, attribute_values, count, blob in rows:
        block = np.frombuffer(blob, dtype=np.int8)
        if block.size != count * width:
            raise ValueError(
                f"campaign {campaign.pk}: stored answers do not have {width} items each"
            )
        blocks.append(block)
        counts.append(count)
        departments.append(department_id)
        for name, value in zip(attributes, attribute_values, strict=True):
            values[name].append(None if value in (None, "") else str(value))
    if blocks:
        matrix = np.concatenate(blocks).reshape(-1, width)
        department_ids = np.repeat(np.array(departments, dtype=np.int64), counts)
        # One value per block, spread over its rows as category codes: no Python object per
        # response.
        attribute_arrays = {}
        for name, per_block in values.items():
            categories = sorted({v for v in per_block if v is not None})
            index = {value: code for code, value in enumerate(categories)}
            codes = np.array([index.get(v, -1) for v in per_block], dtype=np.int64)
            attribute_arrays[name] = pd.Categorical.from_codes(
                np.repeat(codes, counts), categories=categories
            )
    else:
        matrix = np.zeros((0, width), dtype=np.int8)
        department_ids = np.zeros(0, dtype=np.int64)
        attribute_arrays = {name: np.zeros(0, dtype=object) for name in attributes}
    return AnswerMatrix(answers=matrix, departments=department_ids, attributes=attribute_arrays)


def _answer_blocks_postgresql(campaign_id: int, attributes: list[str]):
    table = Response._meta.db_table
    if not attributes:
        sql = (
            f"SELECT department_id, count(*), string_agg(answers, ''::bytea) "
            f"FROM {table} WHERE campaign_id = %s GROUP BY department_id"
        )
    else:
        # Grouped by the whole attributes value: hashing it costs less than taking each
        # attribute out of every row; the few thousand groups are unpacked here instead.
        sql = (
            f"SELECT department_id, attributes, count(*), string_agg(answers, ''::bytea) "
            f"FROM {table} WHERE campaign_id = %s GROUP BY department_id, attributes"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [campaign_id])
        for row in cursor.fetchall():
            stored = row[1] if attributes else {}
            if isinstance(stored, str):
                stored = json.loads(stored)
            values = tuple(stored.get(name) for name in attributes)
            yield row[0], values, row[-2], bytes(row[-1])


def _answer_blocks_generic(campaign_id: int, attributes: list[str]):
    blocks: dict[tuple, list[bytes]] = defaultdict(list)
    rows = Response.objects.filter(campaign_id=campaign_id).values_list(
        "department_id", "answers", "attributes"
    )
    for department_id, answers, stored in rows.iterator(chunk_size=5000):
        key = (department_id, *(stored.get(name) for name in attributes))
        blocks[key].append(bytes(answers))
    for (department_id, *attribute_values), parts in blocks.items():
        yield department_id, tuple(attribute_values), len(parts), b"".join(parts)


def campaign_require_visible(*, access: Access, campaign: Campaign) -> None:
    """Raise NotVisible unless the campaign is one `campaigns(access=)` lists: of the access's
    organisation and, for a manager, one that asked people of their subtree."""
    access.require_organization(campaign.organization_id)
    if access.whole_organization:
        return
    if not Campaign.objects.visible_to(access).filter(pk=campaign.pk).exists():
        raise NotVisible(f"Campaign '{campaign}' did not ask anyone in your part of the tree.")


def campaigns(*, access: Access) -> QuerySet[Campaign]:
    """The campaigns the access may see: all of its organisation's, or for a manager those
    that asked people of their subtree."""
    access.require(Permission.VIEW_CAMPAIGNS)
    return Campaign.objects.visible_to(access).select_related("instrument")


def failed_deliveries(*, access: Access, campaigns: list[Campaign]) -> dict[int, int]:
    """How many invitations of each campaign could not be delivered (counts, never who):
    for those who run campaigns."""
    access.require(Permission.MANAGE_CAMPAIGNS)
    rows = (
        Invitation.objects.for_organization(access.organization_id)
        .filter(campaign__in=campaigns, delivery_status=DeliveryStatus.FAILED)
        .values("campaign_id")
        .annotate(failed=Count("id"))
    )
    return {row["campaign_id"]: row["failed"] for row in rows}


def campaign_for(*, access: Access, pk: int) -> Campaign:
    """One campaign the access may see, or NotVisible (404) for any other."""
    access.require(Permission.VIEW_CAMPAIGNS)
    campaign = campaigns(access=access).filter(pk=pk).first()
    if campaign is None:
        raise NotVisible("No such campaign here.")
    return campaign


def delivery_failures(*, access: Access, campaign: Campaign) -> QuerySet[Invitation]:
    """The invitations of a campaign whose email was refused, with the address and the reason,
    for admins fixing addresses. Shown on a page of their own, never beside answered counts;
    nothing here says whether anyone answered."""
    access.require(Permission.MANAGE_DIRECTORY)
    campaign_require_visible(access=access, campaign=campaign)
    return (
        Invitation.objects.for_organization(access.organization_id)
        .filter(campaign=campaign, delivery_status=DeliveryStatus.FAILED)
        .select_related("employee")
        .only("pk", "delivery_error", "employee__email", "employee__external_id")
        .order_by("employee__email")
    )


@dataclass(frozen=True)
class LaunchPreview:
    """Who a launch would invite: counts per target department, and the groups too small."""

    total: int
    per_target: list[tuple[Department, int]]
    small: list[tuple[Department, int]]  # targeted departments (or below) with 1..k-1 people


def campaign_launch_preview(*, access: Access, campaign: Campaign) -> LaunchPreview:
    """Counts of the active employees a launch would invite now, for the confirmation page."""
    access.require(Permission.MANAGE_CAMPAIGNS)
    campaign_require_visible(access=access, campaign=campaign)
    counts = {h.department.pk: h for h in department_headcounts(access=access)}
    targets = sorted(campaign.target_departments.all(), key=lambda d: d.path)
    # A target inside another target's subtree adds nobody twice.
    roots = [d for d in targets if not any(d.path.startswith(o.path) and d != o for o in targets)]
    per_target = [(d, counts[d.pk].subtree if d.pk in counts else 0) for d in targets]
    k = campaign.min_group_size
    small = [
        (h.department, h.subtree)
        for h in counts.values()
        if 0 < h.subtree < k and any(h.department.path.startswith(r.path) for r in roots)
    ]
    total = sum(counts[d.pk].subtree for d in roots if d.pk in counts)
    return LaunchPreview(total=total, per_target=per_target, small=small)
