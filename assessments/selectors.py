"""Reads for campaigns: instrument structure for the survey, and participation for HR."""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import Count, Q

from accounts.models import Department
from assessments.models import Campaign, Instrument, Invitation, Response


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
class ParticipationRow:
    """Invited and completed counts for a department including everything below it.

    `shown` is False when fewer than k people were invited: then `invited` and `completed` are
    None, so no page can display them.
    """

    department: Department | None  # None: the whole organisation
    depth: int
    shown: bool
    invited: int | None
    completed: int | None

    @property
    def rate(self) -> float | None:
        if not self.shown or not self.invited:
            return None
        return self.completed / self.invited


def campaign_participation(*, campaign: Campaign) -> list[ParticipationRow]:
    """Participation per department (rolled up over the tree) and for the whole campaign.

    Counts follow the department snapshot taken at launch. Two queries, whatever the size.
    """
    k = campaign.min_group_size
    direct = {
        row["department_id"]: (row["invited"], row["completed"])
        for row in Invitation.objects.for_organization(campaign.organization_id)
        .filter(campaign=campaign)
        .values("department_id")
        .annotate(invited=Count("id"), completed=Count("id", filter=Q(completed_on__isnull=False)))
    }
    departments = list(Department.objects.for_organization(campaign.organization_id))
    by_id = {d.pk: d for d in departments}
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for department_id, (invited, completed) in direct.items():
        department = by_id[department_id]
        for ancestor_id in [*department.ancestor_ids(), department_id]:
            totals[ancestor_id][0] += invited
            totals[ancestor_id][1] += completed

    def row(department: Department | None, invited: int, completed: int) -> ParticipationRow:
        shown = invited >= k
        return ParticipationRow(
            department=department,
            depth=-1 if department is None else department.depth,
            shown=shown,
            invited=invited if shown else None,
            completed=completed if shown else None,
        )

    all_invited = sum(invited for invited, _ in direct.values())
    all_completed = sum(completed for _, completed in direct.values())
    rows = [row(None, all_invited, all_completed)]
    rows += [row(d, *totals[d.pk]) for d in departments if d.pk in totals]
    return rows


@dataclass(frozen=True)
class AnswerMatrix:
    """A campaign's responses as arrays: nothing else is loaded, no model instances."""

    answers: np.ndarray  # int8, one row per response, one column per item
    departments: np.ndarray  # int64 department id per response
    attributes: dict[str, np.ndarray]  # attribute name → value per response (None if absent)


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
    blocks, departments, values = [], [], {name: [] for name in attributes}
    for department_id, attribute_values, count, blob in rows:
        block = np.frombuffer(blob, dtype=np.int8)
        if block.size != count * width:
            raise ValueError(
                f"campaign {campaign.pk}: stored answers do not have {width} items each"
            )
        blocks.append(block)
        departments.append(np.full(count, department_id, dtype=np.int64))
        for name, value in zip(attributes, attribute_values, strict=True):
            values[name].append(np.full(count, value, dtype=object))
    if blocks:
        matrix = np.concatenate(blocks).reshape(-1, width)
        department_ids = np.concatenate(departments)
        attribute_arrays = {name: np.concatenate(parts) for name, parts in values.items()}
    else:
        matrix = np.zeros((0, width), dtype=np.int8)
        department_ids = np.zeros(0, dtype=np.int64)
        attribute_arrays = {name: np.zeros(0, dtype=object) for name in attributes}
    return AnswerMatrix(answers=matrix, departments=department_ids, attributes=attribute_arrays)


def _answer_blocks_postgresql(campaign_id: int, attributes: list[str]):
    table = Response._meta.db_table
    keys = "".join(f", attributes ->> %s AS a{i}" for i in range(len(attributes)))
    groups = "".join(f", a{i}" for i in range(len(attributes)))
    sql = (
        f"SELECT department_id{keys}, count(*), string_agg(answers, ''::bytea) "
        f"FROM {table} WHERE campaign_id = %s GROUP BY department_id{groups}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*attributes, campaign_id])
        for row in cursor.fetchall():
            yield row[0], row[1 : 1 + len(attributes)], row[-2], bytes(row[-1])


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


def department_tree_frame(*, organization_id: int) -> pd.DataFrame:
    """The organisation's department tree as the scoring engine takes it: id and parent_id."""
    rows = Department.objects.for_organization(organization_id).values_list("id", "parent_id")
    return pd.DataFrame(list(rows), columns=["id", "parent_id"])
