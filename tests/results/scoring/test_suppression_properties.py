"""Property tests of suppression on random organisations (Hypothesis, deterministic).

Random trees up to 6 levels deep and up to 12 departments, 0-40 respondents attached directly to
each department, k from 3 to 10, and optionally one breakdown attribute with 2 or 3 values
(some respondents without a value, given as None or ""). Every respondent answers both items of
a one-domain instrument, so every cell's n is its number of respondents.

Checked on every example:

- every cell is in the frame once; a suppressed cell has no figure at all (n included); a
  published cell has n ≥ k, and its n, mean, sd and share of high risk are the ones computed
  directly from its respondents (so the roll-up through the tree is right);
- the attacker of rule 4 (attackers.first_order_leaks): a published parent minus any subset of
  its published children — sub-departments, categories inside a department, and the same
  category in sub-departments — never yields a count strictly between 0 and k;
- the stronger attacker (attackers.derived_leaks): chains of such differences never expose a
  group of 0 < n < k either.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from results.scoring.engine import score_campaign
from tests.results.scoring.attackers import Published, derived_leaks, first_order_leaks
from tests.results.scoring.builders import FIGURES, domain, instrument, scale

MAX_DEPTH = 6
MAX_DEPARTMENTS = 12

PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Organisation:
    parents: dict[int, int | None]  # department id → parent id
    direct: dict[int, dict[str | None, int]]  # department id → {value or None: respondents}
    categories: tuple[str, ...]  # () without a breakdown
    k: int
    seed: int
    frame_order: tuple[int, ...]  # row order of the departments frame

    def children(self) -> dict[int | None, list[int]]:
        found: dict[int | None, list[int]] = {None: [], **{d: [] for d in self.parents}}
        for department, parent in self.parents.items():
            found[parent].append(department)
        return found

    def members(self, node: int | None) -> list[int]:
        """The departments whose people count in `node` (itself and every descendant)."""
        children = self.children()
        found, stack = [], list(children[node])
        while stack:
            department = stack.pop()
            found.append(department)
            stack.extend(children[department])
        return found if node is None else [node, *found]


@st.composite
def organisations(draw, max_departments: int = MAX_DEPARTMENTS) -> Organisation:
    size = draw(st.integers(1, max_departments))
    ids = [100 + 10 * i for i in range(size)]  # ids unlike indices, to catch mix-ups
    parents: dict[int, int | None] = {}
    depth: dict[int | None, int] = {None: 0}
    for department in ids:
        options = [None, *(d for d in parents if depth[d] < MAX_DEPTH)]
        parent = draw(st.sampled_from(options))
        parents[department] = parent
        depth[department] = depth[parent] + 1
    k = draw(st.integers(3, 10))
    categories = draw(st.sampled_from([(), ("a", "b"), ("a", "b", "c")]))
    # A breakdown is shown only if no group of the people attached directly to one department
    # with one value (or none) is below k. In "regular" organisations every such group has 0 or
    # at least k people, so that breakdown cells are published often enough to be attacked.
    if draw(st.booleans()):
        group = st.sampled_from([0, k, min(k + 1, 11)])
        without = st.sampled_from([0, k] if k <= 7 else [0])
    else:
        group, without = st.integers(0, 11), st.integers(0, 7)
    direct = {}
    for department in ids:
        if categories:
            # at most 3 * 11 + 7 = 40 people attached directly
            counts = {value: draw(group) for value in categories}
            counts[None] = draw(without)
        else:
            counts = {None: draw(st.one_of(st.integers(0, 40), st.sampled_from([k - 1, k])))}
        direct[department] = counts
    return Organisation(
        parents=parents,
        direct=direct,
        categories=categories,
        k=k,
        seed=draw(st.integers(0, 2**32 - 1)),
        frame_order=tuple(draw(st.permutations(range(size)))),
    )


MODEL = instrument(
    [scale("s5", 1, 5)],
    [domain("x", ["X1", "X2"], direction="higher_is_worse", high_risk=4, absolute=[2, 3, 4])],
    [("X1", "s5"), ("X2", "s5")],
)


@dataclass(frozen=True)
class Truth:
    """A cell's figures computed directly from its respondents' scores (numpy, no roll-up)."""

    n: int
    mean: float | None
    sd: float | None
    share_high_risk: float | None
    band_counts: dict[str, int]


def scored(org: Organisation) -> tuple[pd.DataFrame, dict]:
    """Run score_campaign; return the frame and the true figures of every (node, value)."""
    located, values = [], []
    for department, counts in org.direct.items():
        for value, count in counts.items():
            located += [department] * count
            values += [value] * count
    rng = np.random.default_rng(org.seed)
    answers = rng.integers(1, 6, size=(len(located), 2)).astype(np.int8)
    rows = rng.permutation(len(located))
    located = np.array(located, dtype=np.int64)[rows]
    # Missing values as None or "" alternately: both mean "no value".
    values = [("" if i % 2 else None) if v is None else v for i, v in enumerate(values)]
    values = np.array(values, dtype=object)[rows] if values else np.array([], dtype=object)
    answers = answers[rows]
    frame_ids = [list(org.parents)[i] for i in org.frame_order]
    departments = pd.DataFrame(
        {
            "id": pd.array(frame_ids, dtype="Int64"),
            "parent_id": pd.array([org.parents[d] for d in frame_ids], dtype="Int64"),
        }
    )
    frame = score_campaign(
        answers=answers,
        response_departments=located,
        departments=departments,
        model=MODEL,
        k=org.k,
        attributes={"tenure": values} if org.categories else None,
    )

    scores = answers.mean(axis=1)
    # The engine knows a breakdown's categories from the answers: a value nobody has is no cell.
    observed = [value for value in org.categories if (values == value).any()]
    truth = {}
    for node in [None, *org.parents]:
        inside = np.isin(located, org.members(node))
        for value in ["", *observed]:
            chosen = scores[inside if value == "" else inside & (values == value)]
            truth[(node, value)] = Truth(
                n=len(chosen),
                mean=float(chosen.mean()) if len(chosen) else None,
                sd=float(chosen.std(ddof=1)) if len(chosen) > 1 else None,
                share_high_risk=float((chosen >= 4).mean()) if len(chosen) else None,
                # higher_is_worse, cut-offs 2 < 3 < 4: > 4 urgent, (3, 4] improve,
                # (2, 3] good, <= 2 well
                band_counts={
                    "urgent": int((chosen > 4).sum()),
                    "improve": int(((chosen > 3) & (chosen <= 4)).sum()),
                    "good": int(((chosen > 2) & (chosen <= 3)).sum()),
                    "well": int((chosen <= 2).sum()),
                },
            )
    return frame, truth


def check_cells(org: Organisation, frame: pd.DataFrame, truth: dict) -> None:
    cells = frame[frame["domain_code"].eq("x")]
    keys = [
        (None if pd.isna(d) else int(d), v)
        for d, v in zip(cells["department_id"], cells["breakdown_value"], strict=True)
    ]
    assert sorted(keys, key=repr) == sorted(truth, key=repr)
    for key, row in zip(keys, cells.itertuples(index=False), strict=True):
        if row.suppressed:
            for column in FIGURES:
                assert pd.isna(getattr(row, column)), f"{key}: suppressed but {column} shown"
        else:
            true = truth[key]
            assert row.n >= org.k, f"{key}: published with n={row.n} < k={org.k}"
            assert row.n == true.n
            assert row.mean == pytest.approx(true.mean, rel=1e-12, abs=1e-12)
            assert row.sd == pytest.approx(true.sd, rel=1e-9, abs=1e-12)
            assert row.share_high_risk == pytest.approx(true.share_high_risk, abs=1e-12)
            if key[1] == "":
                assert row.band_counts == true.band_counts
            else:  # respondents per band are given for department totals only
                assert pd.isna(row.band_counts)
    overall = frame[frame["domain_code"].eq("overall")]
    for row in overall.itertuples(index=False):
        if row.suppressed:
            for column in FIGURES:
                assert pd.isna(getattr(row, column))
        else:
            assert row.n >= org.k


@PROPERTY_SETTINGS
@given(organisations())
def test_published_cells_are_true_and_no_parent_minus_children_is_below_k(org):
    frame, truth = scored(org)
    check_cells(org, frame, truth)
    view = Published.from_frame(frame, org.parents)
    assert first_order_leaks(view, org.k) == []


@PROPERTY_SETTINGS
@given(organisations(max_departments=6))
def test_no_chain_of_differences_exposes_a_group_below_k(org):
    frame, _ = scored(org)
    view = Published.from_frame(frame, org.parents)
    leaks = derived_leaks(view, org.k, cap=1000)
    assert leaks == [], [f"n={g.n} mean={g.total / g.n:g} via {g.how}" for g in leaks[:3]]
