"""Answered counts of an open campaign, watched over time by someone who knows the directory
and the disclosure rule (results/scoring/disclosure.py).

The attacker sees the page after every single answer: which groups show their count, and the
counts. They know how many were invited directly in each department, that counts only grow,
and exactly how the groups to show are chosen. Whatever the order of the answers, no group (a
department with everything below it, or the people attached directly to one) may be pinned to
1..k-1 answers, except a group in which everyone answered (the rate of a whole group says so,
and no rule that shows rates can hide it).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from results.scoring.disclosure import participation_disclosed


def _rolled(parent: list[int], direct: np.ndarray) -> np.ndarray:
    """Subtree totals; `direct` may hold one vector per row. Nodes are in tree order."""
    total = np.array(direct, dtype=np.int64, copy=True)
    for node in range(len(parent) - 2, -1, -1):
        total[..., parent[node]] += total[..., node]
    return total


def _disclose(parent, invited_direct, answered_direct, k, shown):
    return participation_disclosed(
        parent=parent,
        invited=_rolled(parent, invited_direct),
        answered=_rolled(parent, answered_direct),
        k=k,
        shown=shown,
    )


class Watcher:
    """Every vector of direct answered counts consistent with all pages seen so far."""

    def __init__(self, parent, invited_direct, k):
        self.parent, self.invited_direct, self.k = parent, np.array(invited_direct), k
        ranges = [range(int(n) + 1) for n in invited_direct]
        self.worlds = np.array(list(itertools.product(*ranges)), dtype=np.int64)
        self.alive = np.ones(len(self.worlds), dtype=bool)  # reachable by growing counts
        self.shown = np.zeros(len(parent), dtype=bool)

    def see(self, shown: np.ndarray, values: dict[int, int]) -> None:
        totals = _rolled(self.parent, self.worlds)
        consistent = np.array(
            [
                np.array_equal(
                    _disclose(self.parent, self.invited_direct, world, self.k, self.shown), shown
                )
                for world in self.worlds
            ]
        )
        for node, value in values.items():
            consistent &= totals[:, node] == value
        # A world is possible now if some world possible before lies at or below it.
        earlier = self.worlds[self.alive]
        reachable = np.array(
            [bool(((earlier <= world).all(axis=1)).any()) for world in self.worlds]
        )
        self.alive = consistent & reachable
        self.shown = shown.copy()
        assert self.alive.any(), "the model of the pages is wrong"

    def pinned_small(self) -> dict[str, int]:
        worlds = self.worlds[self.alive]
        invited = _rolled(self.parent, self.invited_direct)
        pinned = {}
        for label, values, cap in (
            ("subtree", _rolled(self.parent, worlds), invited),
            ("direct", worlds, self.invited_direct),
        ):
            for node in range(len(self.parent)):
                seen = set(values[:, node].tolist())
                if len(seen) == 1:
                    value = seen.pop()
                    if 0 < value < self.k and value < cap[node]:
                        pinned[f"{label} {node}"] = value
        return pinned


def _watch(parent, invited_direct, k, arrivals):
    """Answers arrive one by one in `arrivals` (a node each); the watcher sees every page."""
    watcher = Watcher(parent, invited_direct, k)
    answered = np.zeros(len(parent), dtype=np.int64)
    shown = np.zeros(len(parent), dtype=bool)
    history = []
    for node in arrivals:
        answered[node] += 1
        before = shown
        shown = _disclose(parent, invited_direct, answered, k, shown)
        assert (shown >= before).all(), "a group once shown was hidden again"
        totals = _rolled(parent, answered)
        watcher.see(shown, {n: int(totals[n]) for n in np.flatnonzero(shown)})
        history.append(watcher.pinned_small())
    return watcher, history


def test_the_case_that_pinned_one_answer_in_tower():
    """Quayside (8) and Tower (6) under the whole campaign, k=5. Five answers in Quayside,
    then one in Tower: under a rule that decides from the counts of the moment, both groups
    were shown (5 and 0), then both hidden, which said that Tower had 1..4 and, with the total
    going up by one, exactly 1."""
    parent = [2, 2, -1]  # Quayside, Tower, the whole campaign
    _, history = _watch(parent, [8, 6, 0], 5, [0, 0, 0, 0, 0, 1])
    assert all(pinned == {} for pinned in history), history


def test_the_children_left_with_the_rest_stay_there_once_the_others_are_shown():
    """A (2 people), B (3) and C (3) under the whole campaign, k=3: A is too small to show,
    so C stays with A and only B is cut out. Once B is shown, C must not follow: A's two
    would then be the whole campaign minus B and C."""
    parent = [3, 3, 3, -1]
    _, history = _watch(parent, [2, 3, 3, 0], 3, [0, 0, 1, 1, 1, 2, 2, 2])
    assert all(pinned == {} for pinned in history), history


def test_a_group_is_shown_once_its_share_is_certain():
    """A (6) and B (6), k=3: the whole campaign shows from 3 answers; A is cut out only when
    the answers shown make at least 3 certain on each side (9 answers: at least 3 in A and 3
    in B whatever the split)."""
    parent = [2, 2, -1]
    answered = np.zeros(3, dtype=np.int64)
    shown = np.zeros(3, dtype=bool)
    steps = []
    for node in [0, 0, 0, 0, 0, 0, 1, 1, 1]:
        answered[node] += 1
        shown = _disclose(parent, [6, 6, 0], answered, 3, shown)
        steps.append(tuple(shown))
    assert steps[1] == (False, False, False)
    assert steps[2] == (False, False, True)  # 3 answered: the whole campaign
    assert steps[7] == (False, False, True)  # 6 + 2: A could hold 2
    assert steps[8] == (True, True, True)  # 6 + 3


def test_the_groups_shown_never_shrink_and_classes_keep_k():
    """B (7) sits under A, which has 2 people of its own: B is never cut out of A, since A's
    own two would then be A minus B."""
    parent = [3, 0, 3, -1]
    invited = [2, 7, 9, 0]
    rng = np.random.default_rng(7)
    people = [node for node, n in enumerate(invited) for _ in range(n)]
    answered = np.zeros(4, dtype=np.int64)
    shown = np.zeros(4, dtype=bool)
    for node in rng.permutation(people):
        answered[node] += 1
        new = _disclose(parent, invited, answered, 5, shown)
        assert (new >= shown).all()
        shown = new
        totals = _rolled(parent, answered)
        classes = [  # A's own people (with B while B is hidden), C, nobody at the root
            totals[0] - (totals[1] if shown[1] else 0),
            totals[1],
            totals[2],
        ]
        for group, count in zip((0, 1, 2), classes, strict=True):
            if shown[group]:
                assert count >= 5, (group, answered)
    assert shown.tolist() == [True, False, True, True]


def test_rejects_a_tree_without_its_root_last():
    with pytest.raises(ValueError, match="root last"):
        participation_disclosed(parent=[-1, 0], invited=[1, 1], answered=[0, 0], k=3, shown=[0, 0])


@st.composite
def campaigns(draw):
    size = draw(st.integers(1, 4))
    k = draw(st.integers(3, 5))
    # Tree order: each department's parent is an earlier one or the organisation (last).
    parent = [draw(st.sampled_from([size, *range(node)])) for node in range(size)] + [-1]
    invited = [draw(st.sampled_from([0, 1, 2, k - 1, k, k + 1, 2 * k])) for _ in range(size)]
    invited.append(draw(st.sampled_from([0, 1, k])))  # attached to the organisation itself
    if np.prod([n + 1 for n in invited]) > 4000:
        invited = [min(n, k) for n in invited]
    people = [node for node, n in enumerate(invited) for _ in range(n)]
    arrivals = draw(st.permutations(people))
    stop = draw(st.integers(0, len(arrivals)))
    return parent, invited, k, list(arrivals[:stop])


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(campaigns())
def test_watching_every_answer_arrive_pins_no_small_group(case):
    parent, invited, k, arrivals = case
    _, history = _watch(parent, invited, k, arrivals)
    assert all(pinned == {} for pinned in history), (history, case)


def test_rejects_a_tree_out_of_order():
    with pytest.raises(ValueError, match="tree order"):
        participation_disclosed(
            parent=[1, 2, -1], invited=[5, 5, 10], answered=[0, 0, 0], k=3, shown=[0, 0, 0]
        )
