"""Differencing attackers on published result cells, for the suppression tests.

An attacker sees only what is published — each published cell's n and mean (so its sum,
n * mean) — plus the department tree and the breakdown categories, which are public. They know
nothing about unpublished cells. Both attackers return every group of respondents whose size
they can work out and which has 0 < size < k: such a group's mean is then exposed too
(difference of sums / difference of counts).

- `first_order_leaks`: a published parent cell minus any subset of its published children, for
  the three ways cells nest: a department and its sub-departments; a department total and its
  breakdown categories; a category in a department and the same category in its
  sub-departments.
- `derived_leaks`: repeated set differences. Every published cell is a known set of "atoms"
  (respondents attached directly to one department, with one breakdown value or none). Whenever
  one known group contains another, their difference is a new known group, with its count and
  sum; repeat until nothing new appears (bounded by `cap`). This finds, for example, a
  grandparent minus a published grandchild through a suppressed child.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MISSING = None  # the breakdown slot of people without a value


@dataclass(frozen=True)
class Published:
    """The attacker's view: the tree, the categories and the published cells of one domain."""

    parents: dict[int, int | None]  # department id → parent id (None at the top)
    categories: tuple[str, ...]  # breakdown values ("" when there is no breakdown)
    cells: dict[tuple[int | None, str], tuple[int, float]]  # (dept or None, value) → (n, sum)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, parents: dict, domain_code: str = "x") -> Published:
        rows = frame[frame["domain_code"].eq(domain_code)]
        categories = tuple(sorted(set(rows["breakdown_value"]) - {""}))
        cells = {}
        for row in rows[~rows["suppressed"]].itertuples(index=False):
            department = None if pd.isna(row.department_id) else int(row.department_id)
            cells[(department, row.breakdown_value)] = (int(row.n), float(row.n * row.mean))
        return cls(parents=dict(parents), categories=categories, cells=cells)

    def children(self) -> dict[int | None, list[int]]:
        found: dict[int | None, list[int]] = {None: []}
        for department in self.parents:
            found.setdefault(department, [])
        for department, parent in self.parents.items():
            found[parent].append(department)
        return found


def _subset_sums(values: list[int]) -> set[int]:
    sums = {0}
    for value in values:
        sums |= {s + value for s in sums}
    return sums


def first_order_leaks(view: Published, k: int) -> list[str]:
    """Parent minus every subset of its published children, in all three nestings."""
    leaks = []
    children = view.children()
    values = ["", *view.categories]

    def check(parent_key, child_keys, what):
        if parent_key not in view.cells:
            return
        parent_n = view.cells[parent_key][0]
        shown = [view.cells[c][0] for c in child_keys if c in view.cells]
        for covered in _subset_sums(shown):
            if 0 < parent_n - covered < k:
                leaks.append(f"{what}: {parent_key} n={parent_n} minus {covered}")

    for parent, kids in children.items():
        for value in values:
            check((parent, value), [(c, value) for c in kids], "tree")
        if view.categories:
            check((parent, ""), [(parent, value) for value in view.categories], "categories inside")
    return leaks


@dataclass(frozen=True)
class Derived:
    mask: int
    n: int
    total: float
    how: str


def _atom_masks(view: Published) -> dict[tuple[int | None, str], int]:
    """The set of atoms of every possible cell, as a bit mask."""
    slots = [*view.categories, MISSING] if view.categories else [""]
    departments = sorted(view.parents)
    assert len(departments) * len(slots) <= 64, "masks are held in 64 bits"
    bit = {(d, s): 1 << (i * len(slots) + j) for i, d in enumerate(departments) for j, s in
           enumerate(slots)}  # fmt: skip
    children = view.children()

    def subtree(node):
        yield from children[node]
        for child in children[node]:
            yield from subtree(child)

    masks = {}
    for node in [None, *departments]:
        members = list(subtree(node)) + ([] if node is None else [node])
        for value in ["", *view.categories]:
            mask = 0
            for member in members:
                for slot in slots:
                    if value == "" or slot == value:
                        mask |= bit[(member, slot)]
            masks[(node, value)] = mask
    return masks


def derived_leaks(view: Published, k: int, cap: int = 2000) -> list[Derived]:
    """Known groups closed under "A minus B where B ⊂ A"; those with 0 < n < k.

    At most `cap` groups are learnt (the search is breadth-first from the published cells).
    """
    masks = _atom_masks(view)
    known: list[Derived] = []
    seen: set[int] = set()
    bits = np.zeros(cap, dtype=np.uint64)  # known[i].mask, for vectorised subset tests
    leaks: list[Derived] = []

    def learn(group: Derived) -> None:
        if group.mask == 0 or group.mask in seen or len(known) >= cap:
            return
        seen.add(group.mask)
        bits[len(known)] = group.mask
        known.append(group)
        if 0 < group.n < k:
            leaks.append(group)

    for key in sorted(view.cells, key=lambda c: (c[0] is not None, c[0] or 0, c[1])):
        n, total = view.cells[key]
        department, value = key
        label = ("org" if department is None else f"dept {department}") + (
            f"[{value}]" if value else ""
        )
        learn(Derived(masks[key], n, total, label))
    position = 0
    while position < len(known):
        group = known[position]
        position += 1
        mask = np.uint64(group.mask)
        current = bits[: len(known)]
        inside = np.flatnonzero((current & ~mask) == 0)  # subsets of group (and group itself)
        around = np.flatnonzero((mask & ~current) == 0)  # supersets of group (and itself)
        for index in inside.tolist():
            small = known[index]
            if small.mask != group.mask:
                learn(_minus(group, small))
        for index in around.tolist():
            big = known[index]
            if big.mask != group.mask:
                learn(_minus(big, group))
    return leaks


def _minus(big: Derived, small: Derived) -> Derived:
    return Derived(
        big.mask & ~small.mask,
        big.n - small.n,
        big.total - small.total,
        f"({big.how} - {small.how})",
    )


# --- The exact attacker: linear algebra over the atoms ------------------------------------


def linear_leaks(
    atom_counts: list[int], cells: list[set[int]], k: int
) -> list[tuple[tuple[int, ...], int]]:
    """Every set of atoms holding 1..k-1 respondents whose count some linear combination of
    the published cells determines, as (atom indices, respondents).

    `cells[c]` is the set of atoms published cell c covers. The attacker knows which atoms are
    empty (from the directory, generously: an atom without respondents counts as known-empty),
    and every published figure (n, n * mean, sums of squares, high-risk and band counts) is
    the same 0/1 combination of per-atom quantities, so what holds for counts holds for each
    of them. A set S is determined exactly when its indicator lies in the row space of the
    cells-by-atoms matrix, i.e. is orthogonal to its null space.
    """
    positive = [i for i, count in enumerate(atom_counts) if count > 0]
    column = {atom: j for j, atom in enumerate(positive)}
    matrix = np.zeros((len(cells), len(positive)))
    for c, covered in enumerate(cells):
        for atom in covered:
            if atom in column:
                matrix[c, column[atom]] = 1.0
    if len(positive) == 0:
        return []
    if len(cells):
        _, singular, vt = np.linalg.svd(matrix)
        rank = int((singular > 1e-9).sum())
        null = vt[rank:].T  # (atoms, nullity)
    else:
        null = np.eye(len(positive))
    small = [j for j in range(len(positive)) if atom_counts[positive[j]] < k]
    leaks = []

    def grow(start: int, chosen: list[int], total: int, vector: np.ndarray) -> None:
        for position in range(start, len(small)):
            j = small[position]
            size = total + atom_counts[positive[j]]
            if size >= k:
                continue
            now = vector + null[j]
            members = [*chosen, j]
            if np.abs(now).max(initial=0.0) < 1e-7:
                leaks.append((tuple(positive[m] for m in members), size))
            grow(position + 1, members, size, now)

    grow(0, [], 0, np.zeros(null.shape[1]))
    return leaks
