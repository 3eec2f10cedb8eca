"""The exact attacker against breakdowns by several attributes (Hypothesis, deterministic).

Random organisations of up to 5 departments in a random tree, 2 or 3 breakdown attributes whose
values are correlated through the directory: each department has a few combinations of values
(some attributes missing), many combinations empty, some of 1 or 2 people, some of k-1, k or
more. The attacker knows the directory (which combinations exist where) and every published cell
of the domain and of the respondent counts, and solves them exactly (attackers.linear_leaks:
any linear combination, across attributes and across parent and child departments). No set of
1..k-1 respondents may ever be determined.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from results.scoring.disclosure import participation_disclosed
from results.scoring.engine import RESPONDENTS, score_campaign
from tests.results.scoring.attackers import linear_leaks
from tests.results.scoring.test_suppression_properties import MODEL

ATTRIBUTES = ("site", "shift", "tenure")
VALUES = {"site": ("north", "south"), "shift": ("day", "night"), "tenure": ("a", "b", "c")}


@dataclass(frozen=True)
class Organisation:
    parents: dict[int, int | None]
    attributes: tuple[str, ...]
    people: dict[tuple[int, tuple], int]  # (department, values or None per attribute) → count
    k: int

    def subtree(self, node: int | None) -> set[int]:
        found = {d for d in self.parents if node is None}
        if node is not None:
            found, frontier = {node}, [node]
            while frontier:
                current = frontier.pop()
                kids = [d for d, p in self.parents.items() if p == current]
                found.update(kids)
                frontier.extend(kids)
        return found


@st.composite
def organisations(draw) -> Organisation:
    size = draw(st.integers(1, 5))
    ids = [200 + 7 * i for i in range(size)]
    parents: dict[int, int | None] = {}
    for department in ids:
        parents[department] = draw(st.sampled_from([None, *parents]))
    k = draw(st.integers(3, 6))
    attributes = ATTRIBUTES[: draw(st.integers(2, 3))]
    value = {a: st.one_of(st.none(), st.sampled_from(VALUES[a])) for a in attributes}
    combination = st.tuples(*(value[a] for a in attributes))
    count = st.sampled_from([1, 2, k - 1, k, k + 1, 2 * k, 3 * k])
    people: dict[tuple[int, tuple], int] = {}
    for department in ids:
        for combo in draw(st.lists(combination, max_size=4, unique=True)):
            people[(department, combo)] = draw(count)
    return Organisation(parents=parents, attributes=attributes, people=people, k=k)


def score(
    org: Organisation, known_counts=(), skipping: dict[int, int] | None = None
) -> pd.DataFrame:
    """score_campaign on the organisation; `skipping[d]` people of department d answer
    nothing of the domain (they count among the respondents only)."""
    located, values = [], {a: [] for a in org.attributes}
    for (department, combo), count in org.people.items():
        located += [department] * count
        for a, v in zip(org.attributes, combo, strict=True):
            values[a] += [v] * count
    rng = np.random.default_rng(len(located))
    answers = rng.integers(1, 6, size=(len(located), 2)).astype(np.int8)
    for department, count in (skipping or {}).items():
        rows = [i for i, d in enumerate(located) if d == department][:count]
        answers[rows] = 0
    departments = pd.DataFrame(
        {
            "id": pd.array(list(org.parents), dtype="Int64"),
            "parent_id": pd.array(list(org.parents.values()), dtype="Int64"),
        }
    )
    return score_campaign(
        answers=answers,
        response_departments=np.array(located, dtype=np.int64),
        departments=departments,
        model=MODEL,
        k=org.k,
        attributes={a: np.array(v, dtype=object) for a, v in values.items()},
        known_counts=known_counts,
    )


def attack(
    org: Organisation, frame: pd.DataFrame, extra_cells=(), domains=("x", RESPONDENTS)
) -> list:
    atoms = list(org.people)
    counts = [org.people[a] for a in atoms]
    cells = list(extra_cells)
    shown = frame[~frame["suppressed"] & frame["domain_code"].isin(list(domains))]
    for row in shown.itertuples(index=False):
        node = None if pd.isna(row.department_id) else int(row.department_id)
        inside = org.subtree(node)
        covered = set()
        for i, (department, combo) in enumerate(atoms):
            if department not in inside:
                continue
            if row.breakdown_attribute:
                position = org.attributes.index(row.breakdown_attribute)
                if combo[position] != row.breakdown_value:
                    continue
            covered.add(i)
        assert sum(counts[i] for i in covered) == row.n, row
        cells.append(covered)
    return [([atoms[i] for i in group], size) for group, size in linear_leaks(counts, cells, org.k)]


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(organisations())
def test_no_combination_of_published_cells_determines_a_small_group(org):
    frame = score(org)
    leaks = attack(org, frame)
    assert leaks == [], leaks[:3]


def test_the_site_inside_shift_leak_is_closed_and_one_breakdown_stays():
    """Issue example: at P everyone at site north works days; one person at south works days.
    Publishing site and shift together would give (day) - (north) = that one person."""
    org = Organisation(
        parents={1: None},
        attributes=("site", "shift"),
        people={(1, ("north", "day")): 10, (1, ("south", "day")): 1, (1, ("south", "night")): 9},
        k=5,
    )
    frame = score(org)
    assert attack(org, frame) == []
    shown = frame[~frame["suppressed"] & frame["domain_code"].eq("x")]
    assert set(shown["breakdown_attribute"]) - {""}, "one of the two breakdowns stays"


@st.composite
def participations(draw):
    size = draw(st.integers(1, 7))
    parent = [-1]  # index 0 is the organisation
    for node in range(1, size + 1):
        parent.append(draw(st.integers(0, node - 1)))
    k = draw(st.integers(3, 6))
    invited = [0] + [draw(st.sampled_from([0, 1, 2, k - 1, k, k + 2, 3 * k])) for _ in range(size)]
    answered = [draw(st.integers(0, n)) for n in invited]
    return parent, invited, answered, k


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(participations())
def test_open_participation_counts_never_isolate_a_small_group(case):
    """Participation while open, seen at one moment: the answered counts shown never let an
    exact solver work out the answered count of 1..k-1 people, whoever is subtracted from
    whom (tests/results/scoring/test_disclosure.py watches them over time)."""
    parent, invited, answered, k = case
    order = sorted(range(1, len(parent)), key=lambda n: -_depth(parent, n))
    ours = [0, *order[::-1]]  # the rule wants tree order with the root last
    position = {node: i for i, node in enumerate(ours[1:])} | {0: len(ours) - 1}
    reparented = [position[parent[n]] if parent[n] >= 0 else -1 for n in ours[1:]] + [-1]
    subtree_invited = np.array(invited)
    subtree_answered = np.array(answered)
    for node in order:
        subtree_invited[parent[node]] += subtree_invited[node]
        subtree_answered[parent[node]] += subtree_answered[node]
    shown_ours = participation_disclosed(
        parent=reparented,
        invited=[subtree_invited[n] for n in ours[1:]] + [subtree_invited[0]],
        answered=[subtree_answered[n] for n in ours[1:]] + [subtree_answered[0]],
        k=k,
        shown=np.zeros(len(ours), dtype=bool),
    )
    shown = {0 if i == len(ours) - 1 else ours[1:][i] for i in np.flatnonzero(shown_ours)}
    cells = [{m for m in range(len(parent)) if node in _chain(parent, m)} for node in shown]
    assert linear_leaks(list(answered), cells, k) == []


def _chain(parent, node):
    found = []
    while node >= 0:
        found.append(node)
        node = parent[node]
    return found


def _depth(parent, node):
    return len(_chain(parent, node))


def _known_from_participation(org: Organisation) -> tuple[list, np.ndarray]:
    """The answered counts an open campaign showed at its close, when everyone invited
    answered (the worst case): the participation rule over departments."""
    ids = list(org.parents)
    parent = [ids.index(p) if p is not None else len(ids) for p in org.parents.values()] + [-1]
    direct = np.zeros(len(ids) + 1, dtype=np.int64)
    for (department, _combo), count in org.people.items():
        direct[ids.index(department)] += count
    subtree = direct.copy()
    for node in sorted(range(len(ids)), key=lambda n: -_depth(parent, n)):
        subtree[parent[node]] += subtree[node]
    shown = participation_disclosed(
        parent=parent, invited=subtree, answered=subtree, k=org.k,
        shown=np.zeros(len(parent), dtype=bool),
    )  # fmt: skip
    return [None if n == len(ids) else ids[n] for n in np.flatnonzero(shown)], shown


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(organisations())
def test_results_stay_safe_beside_the_answered_counts_shown_while_open(org):
    known, _ = _known_from_participation(org)
    frame = score(org, known_counts=known)
    atoms = list(org.people)
    counts = [org.people[a] for a in atoms]
    extra = [
        {i for i, (department, _c) in enumerate(atoms) if department in org.subtree(node)}
        for node in known
    ]
    leaks = attack(org, frame, extra_cells=extra)
    assert leaks == [], leaks[:3]
    assert linear_leaks(counts, extra, org.k) == []  # the participation rule on its own


def test_a_department_hidden_for_skips_is_not_rebuilt_from_participation():
    """k=5: the organisation has A (3), B (10) and C (11), everyone invited answered, and
    seven people in C skip the domain. While open, participation showed C's 11 and the
    organisation's 24; shown beside them, the organisation's and B's respondents (24, 10)
    would give A's 3."""
    org = Organisation(
        parents={1: None, 2: None, 3: None},
        attributes=(),
        people={(1, ()): 3, (2, ()): 10, (3, ()): 11},
        k=5,
    )
    known, _ = _known_from_participation(org)
    assert set(known) == {None, 3}
    frame = score(org, known_counts=known, skipping={3: 7})
    extra = [{i for i, (d, _c) in enumerate(org.people) if d in org.subtree(n)} for n in known]
    assert attack(org, frame, extra_cells=extra, domains=[RESPONDENTS]) == []
