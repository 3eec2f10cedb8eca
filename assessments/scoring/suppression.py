"""Suppression: which result cells may be published without exposing a small group.

Rules 3 and 4 of the anonymity rules, as one pure function over counts:

- a cell with fewer than k respondents is suppressed (all its figures, n included);
- wherever a cell is the sum of child cells (a department and its sub-departments; a group and
  its breakdown categories), the respondents not covered by the *published* children must
  number 0 or at least k. Otherwise the smallest published child is suppressed too, and the
  check runs again until nothing changes.

Cells and constraints are plain integers, so the same solver serves the department tree, every
breakdown category inside it, and both at once. No Django import.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence


def solve(
    counts: Sequence[int], constraints: Sequence[tuple[int, Sequence[int]]], k: int
) -> list[bool]:
    """Which cells are published.

    `counts[c]` is the number of respondents in cell c. Each constraint `(parent, children)`
    says the children partition part of the parent (what they do not cover is the parent's own
    remainder: people attached directly to a department, or without a breakdown value).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    counts = [int(c) for c in counts]
    published = [c >= k for c in counts]
    as_child: dict[int, list[int]] = defaultdict(list)
    for index, (_, children) in enumerate(constraints):
        for child in children:
            as_child[child].append(index)

    pending = list(range(len(constraints)))
    queued = set(pending)
    while pending:
        index = pending.pop()
        queued.discard(index)
        parent, children = constraints[index]
        shown = [c for c in children if published[c]]
        uncovered = counts[parent] - sum(counts[c] for c in shown)
        if not 0 < uncovered < k:
            continue
        if shown:
            victim = min(shown, key=lambda c: (counts[c], c))
        elif published[parent]:
            victim = parent
        else:
            continue  # nothing here is published: nothing to difference against
        published[victim] = False
        # The victim is now uncovered wherever it is a child: check those places again,
        # and this one (its next-smallest child may have to go as well).
        for again in [index, *as_child[victim]]:
            if again not in queued:
                queued.add(again)
                pending.append(again)
    return published
