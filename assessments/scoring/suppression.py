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


# --- The department tree with breakdowns --------------------------------------------------
#
# `solve` above checks the constraints it is given. A tree with breakdowns needs more: an
# attacker also subtracts *derived* counts. A department's total minus its published
# categories is the count of "everyone else" (¬S); a sum of published categories is a count
# too (union of S); and a suppressed department in the middle of a chain is bridged by subtracting
# its published descendants from its published ancestor. `suppress_table` treats every such
# count as a published cell of its own ("family") and applies rules 3 and 4 to all of them.


def suppress_table(
    *,
    parent: Sequence[int],
    totals: Sequence[int],
    breakdowns: Sequence[Sequence[Sequence[int]]] = (),
    k: int,
) -> tuple[list[bool], list[list[list[bool]]]]:
    """Which department totals and breakdown cells may be published.

    `parent[node]` is the parent's index (-1 for the root); `totals[node]` counts everyone in
    the node's subtree; `breakdowns[a][node][v]` counts those with value v of attribute a
    (people without a value are in the total only). Returns (total published per node,
    breakdown cell published per attribute, node and value).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    size = len(totals)
    children: list[list[int]] = [[] for _ in range(size)]
    for node, up in enumerate(parent):
        if up >= 0:
            children[up].append(node)
    totals = [int(t) for t in totals]
    cats = [[[int(c) for c in row] for row in table] for table in breakdowns]
    pub_total = [t >= k for t in totals]
    pub_cat = [[[c >= k and pub_total[n] for c in row] for n, row in enumerate(table)]
               for table in cats]  # fmt: skip
    for a, table in enumerate(cats):
        if _has_small_atom(table, totals, children, k):
            # Sums and differences of department totals and category cells can isolate any
            # atom (the people attached directly to one department with one value, or with
            # none). Unless every atom is empty or at least k, no category cell is shown.
            pub_cat[a] = [[False] * len(row) for row in table]

    families: list[tuple] = [("T",)]
    for a, table in enumerate(cats):
        width = len(table[0]) if table else 0
        families += [("C", a, v) for v in range(width)]
        for subset in _subsets(width):
            families.append(("N", a, subset))  # the total minus these categories
            if len(subset) > 1:
                families.append(("U", a, subset))  # these categories together

    def known(family, node) -> bool:
        kind = family[0]
        if kind == "T":
            return pub_total[node]
        if kind == "C":
            return pub_cat[family[1]][node][family[2]]
        a, subset = family[1], family[2]
        shown = all(pub_cat[a][node][v] for v in subset)
        return shown and (pub_total[node] if kind == "N" else True)

    def value(family, node) -> int:
        kind = family[0]
        if kind == "T":
            return totals[node]
        if kind == "C":
            return cats[family[1]][node][family[2]]
        part = sum(cats[family[1]][node][v] for v in family[2])
        return totals[node] - part if kind == "N" else part

    def hide(family, node) -> None:
        kind = family[0]
        if kind == "T":
            pub_total[node] = False
            for table in pub_cat:  # categories of a hidden total would rebuild it
                table[node] = [False] * len(table[node])
        elif kind == "C":
            pub_cat[family[1]][node][family[2]] = False
        else:
            a = family[1]
            shown = [v for v in family[2] if pub_cat[a][node][v]]
            pub_cat[a][node][min(shown, key=lambda v: (cats[a][node][v], v))] = False

    def cover(family, node) -> list[int]:
        """The published descendants nearest to `node` for this family."""
        found, stack = [], list(children[node])
        while stack:
            child = stack.pop()
            if known(family, child):
                found.append(child)
            else:
                stack.extend(children[child])
        return found

    changed = True
    while changed:
        changed = False
        for family in families:
            for node in range(size):
                if not known(family, node):
                    continue
                amount = value(family, node)
                if 0 < amount < k:  # a published (or derivable) small group
                    hide(family, node)
                    changed = True
                    continue
                below = cover(family, node)
                if not below:
                    continue
                uncovered = amount - sum(value(family, c) for c in below)
                if 0 < uncovered < k:
                    hide(family, min(below, key=lambda c: (value(family, c), c)))
                    changed = True
    return pub_total, pub_cat


def _has_small_atom(table, totals, children, k) -> bool:
    for node, row in enumerate(table):
        direct = [
            count - sum(table[child][v] for child in children[node]) for v, count in enumerate(row)
        ]
        everyone = totals[node] - sum(totals[child] for child in children[node])
        without_value = everyone - sum(direct)
        if any(0 < atom < k for atom in [*direct, without_value]):
            return True
    return False


def _subsets(width: int) -> list[tuple[int, ...]]:
    """Every non-empty set of category indices."""
    return [tuple(v for v in range(width) if mask >> v & 1) for mask in range(1, 1 << width)]
