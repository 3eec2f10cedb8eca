"""Which answered counts an open campaign may show, over the whole time it is open.

While a campaign is open its answered counts grow, and HR may look at them at any moment. A
rule that decided from the counts of the moment which groups to show would show a group at
one moment and hide it at the next, and the change itself would tell why: one more answer that
makes a shown group disappear pins it to 1..k-1 people. So here:

- The groups shown only ever grow: what was shown is recorded and stays shown.
- The whole campaign is shown once k people have answered.
- Below a shown group, its children (those with at least k invited) are shown all at once,
  when each of them and the people left over (attached to the group itself, or in children too
  small to show) hold at least k answers. Which children go together is fixed by the invited
  counts alone; a child is never shown before its parent.
- When staying hidden would by itself pin one of those parts to a single value of 1..k-1
  (the total is shown and the invited counts are known, so only one split may be possible),
  the group's children stay hidden whatever the split, and the decision tells nothing.

Answer counts only grow, so a group shown once keeps k answers on each side for good. The
property tests (tests/results/scoring/test_disclosure.py) watch every answer arrive, knowing
the directory and this rule, and find no group pinned to 1..k-1 answers short of everyone in it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def participation_disclosed(
    *,
    parent: Sequence[int] | np.ndarray,
    invited: Sequence[int] | np.ndarray,
    answered: Sequence[int] | np.ndarray,
    k: int,
    shown: Sequence[bool] | np.ndarray,
) -> np.ndarray:
    """The groups whose answered count may be shown now: those in `shown` (shown before, in
    the same tree) and those that may be added to them.

    `parent[node]` is the parent's index; the root is the last index and has parent -1, and
    nodes are in tree order (a parent before its children). `invited` and `answered` are
    subtree totals per node. Only groups with at least k invited are ever shown.
    """
    parent = np.asarray(parent, dtype=np.int64)
    invited = np.asarray(invited, dtype=np.int64)
    answered = np.asarray(answered, dtype=np.int64)
    shown = np.array(shown, dtype=bool)
    size = len(parent)
    root = size - 1
    if not (len(invited) == len(answered) == len(shown) == size) or parent[root] != -1:
        raise ValueError("parent, invited, answered and shown must describe one tree, root last")
    departments = parent[:root]
    if ((departments >= np.arange(root)) & (departments != root)).any():
        raise ValueError("nodes must be in tree order: every parent before its children")

    # What the shown groups below each node cover: its class is its subtree minus that.
    covered_invited = np.zeros(size, dtype=np.int64)
    covered_answered = np.zeros(size, dtype=np.int64)
    for node in range(size - 2, -1, -1):  # children before their parents
        up = parent[node]
        if shown[node]:
            covered_invited[up] += invited[node]
            covered_answered[up] += answered[node]
        else:
            covered_invited[up] += covered_invited[node]
            covered_answered[up] += covered_answered[node]

    if not shown[root] and invited[root] >= k and answered[root] >= k:
        shown[root] = True
    children: dict[int, list[int]] = {}
    for node in range(size - 1):
        if invited[node] >= k:
            children.setdefault(int(parent[node]), []).append(node)
    # Top down: a shown group's children (those with at least k invited) are cut out of its
    # class all at once, and only once it is shown itself.
    for node in [root, *range(size - 1)]:
        below = children.get(node, [])
        if not shown[node] or not below or shown[below].all():
            continue
        # The plan follows the invited counts alone: where the people left over (attached to
        # the group itself, or in children too small to show) number 1..k-1, the smallest
        # child stays with them, so that the rest is nobody or at least k.
        below = sorted(below, key=lambda c: (-invited[c], c))
        while below and 0 < invited[node] - sum(invited[c] for c in below) < k:
            below.pop()
        if not below or shown[below].all():
            continue
        # Nothing below the node is shown yet (children go first, and all together).
        class_invited = invited[node] - covered_invited[node]
        class_answered = answered[node] - covered_answered[node]
        parts_invited = [int(invited[c] - covered_invited[c]) for c in below]
        parts_answered = [int(answered[c] - covered_answered[c]) for c in below]
        rest_invited = int(class_invited) - sum(parts_invited)
        rest_answered = int(class_answered) - sum(parts_answered)
        if not _cut_allowed([*parts_answered, rest_answered], [*parts_invited, rest_invited], k):
            continue
        shown[below] = True
        covered_invited[node] += sum(parts_invited)
        covered_answered[node] += sum(parts_answered)
    return shown


def _cut_allowed(answered: list[int], invited: list[int], k: int) -> bool:
    """Whether a class may be cut into parts with these answered and invited counts (the
    class's total is shown, the parts' counts are not yet). Every part must hold at least k
    (or have nobody invited). And when staying hidden would pin a part to one value of
    1..k-1 whatever else happened, given only what is shown, the class stays hidden however
    the answers are split, so that the decision says nothing itself."""

    def small(x: int, cap: int) -> bool:
        return cap > 0 and x < k

    if any(small(x, cap) for x, cap in zip(answered, invited, strict=True)):
        return False
    total = sum(answered)
    capacity = sum(invited)
    for i, cap in enumerate(invited):
        if cap == 0:
            continue
        others = capacity - cap
        # The most the others can hold while one of them stays below k.
        others_small = max(
            (others - other + min(other, k - 1) for j, other in enumerate(invited)
             if j != i and other > 0),
            default=-1,
        )  # fmt: skip
        values = [
            x
            for x in range(max(0, total - others), min(cap, total) + 1)
            if x < k or total - x <= others_small
        ]
        if len(values) == 1 and 0 < values[0] < min(k, cap):
            return False
    return True
