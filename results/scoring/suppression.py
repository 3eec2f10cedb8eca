"""Suppression: which result cells may be published without exposing a small group.

Rules 3 and 4 of the anonymity rules, over the *joint* cells an attacker can reason about.

The attacker knows every published count (and with it every sum, sum of squares, high-risk
count and band count, which add up over people the same way) and the employee directory, so
they know which people every published cell covers. The finest groups they can ever tell apart
are the **atoms**: the respondents attached directly to one department with one combination of
the values of every breakdown attribute (no value counts as a value of its own).

Every published cell is a union of atoms, and any sum or difference of published cells is a
weighted sum over atoms that is *the same for every atom covered by the same published cells*.
So people who lie in exactly the same published cells (the same "signature") can never be told
apart, and any group whose count the published cells determine is a union of such classes. If
every class that lies in at least one published cell numbers 0 or at least k, no combination
of published cells — within a department, across attributes, across parent and child — can
determine a group of 1..k-1 respondents. That is the invariant `publishable` establishes:

1. a cell with fewer than k respondents is suppressed (all its figures, n included), and a
   department's breakdown cells are shown only with its total;
2. while some class of 1..k-1 exists, for each such class hide one cell: of the cells whose
   removal merges the class with a neighbouring class (or makes it invisible), the breakdown
   cell before the department total, the smallest first; failing that, the smallest cell the
   class lies in. Then classes are formed again, until none is small.

On a plain department tree this is rule 4 exactly: the class of a published department is the
people of its subtree not covered by published sub-departments ("uncovered"), and the fix hides
the smallest published child. Signatures are compared through sums of random 64-bit weights
(one per cell); two different signatures collide with a probability of about 2⁻⁶⁴ per pair.
No Django import.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Fixed, so a campaign scored twice publishes the same cells.
_WEIGHT_SEED = 0x504C494D534F4C4C


def ancestor_chains(parent: Sequence[int] | np.ndarray) -> np.ndarray:
    """Each node's ancestors and itself (itself first), padded with -1: shape (nodes, depth)."""
    parent = np.asarray(parent, dtype=np.int64)
    size = len(parent)
    columns = [np.arange(size, dtype=np.int64)]
    current = columns[0]
    for _ in range(size):
        up = np.where(current >= 0, parent[np.maximum(current, 0)], -1)
        if (up < 0).all():
            break
        columns.append(up)
        current = up
    else:
        raise ValueError("the parent links form a cycle")
    return np.stack(columns, axis=1)


def publishable(
    *,
    parent: Sequence[int] | np.ndarray,
    atom_node: np.ndarray,
    atom_values: np.ndarray | None = None,
    atom_count: np.ndarray,
    widths: Sequence[int] = (),
    k: int,
    allowed_totals: np.ndarray | None = None,
    zero_shown: bool = False,
    known_totals: np.ndarray | None = None,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Which department totals and breakdown cells may be published.

    `parent[node]` is the parent's index (-1 for the root). Atom i has `atom_count[i]`
    respondents attached directly to node `atom_node[i]`, with code `atom_values[i, a]` of
    attribute a (0..widths[a]-1, or -1 without a value). A total counts everyone in a node's
    subtree; breakdown cell (a, node, v) those of them with value v of attribute a.

    `atom_count` may have one row per population (everyone who answered, and those scored in
    each domain): one set of cells is then chosen that is safe for every population at once,
    because an attacker who assumes that the populations are equal could otherwise combine
    the cells of one domain with those of another.

    `allowed_totals`, if given, marks the totals that may be shown at all (e.g. only groups
    with at least k invited); the rest are treated as suppressed from the start. With
    `zero_shown`, a cell counting nobody may be shown (a count with no figures beside it).
    `known_totals` marks totals whose count of the first population the attacker already knows
    from elsewhere (the answered counts shown while the campaign was open): the cells chosen
    here must be safe together with those too.

    Returns (total published per node, per attribute a bool array of shape (nodes, widths[a])).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    parent = np.asarray(parent, dtype=np.int64)
    size = len(parent)
    widths = [int(w) for w in widths]
    counts = np.atleast_2d(np.asarray(atom_count, dtype=np.int64))
    keep = (counts > 0).any(axis=0)
    counts = counts[:, keep]
    node = np.asarray(atom_node, dtype=np.int64)[keep]
    values = (
        np.zeros((len(node), 0), dtype=np.int64)
        if atom_values is None or not widths
        else np.asarray(atom_values, dtype=np.int64).reshape(len(keep), len(widths))[keep]
    )
    count = counts.max(axis=0)

    # Cell ids: totals 0..size-1, then each attribute's (node, value) cells.
    offsets = np.cumsum([size, *(size * w for w in widths)])
    cells = int(offsets[-1])
    chains = ancestor_chains(parent)[node]  # (atoms, depth)
    slots = [chains]
    for a, width in enumerate(widths):
        code = values[:, a : a + 1]
        slots.append(np.where((chains >= 0) & (code >= 0), offsets[a] + chains * width + code, -1))
    member = np.concatenate(slots, axis=1)  # (atoms, cells an atom lies in), -1 padded
    present = member >= 0
    member_at = np.where(present, member, 0)

    def per_cell(weights: np.ndarray) -> np.ndarray:
        spread = np.broadcast_to(weights[:, None], member.shape)[present]
        return np.bincount(member_at[present], weights=spread, minlength=cells).astype(np.int64)

    cell_count = per_cell(count)
    is_total = np.zeros(cells, dtype=bool)
    is_total[:size] = True
    owner = np.concatenate(  # the department of every cell
        [np.arange(size)] + [np.repeat(np.arange(size), w) for w in widths]
    ).astype(np.int64)
    weight = (
        np.random.default_rng(_WEIGHT_SEED)
        .integers(1, np.iinfo(np.int64).max, size=cells, dtype=np.int64)
        .astype(np.uint64)
    )

    published = np.ones(cells, dtype=bool)
    for population in counts:
        in_cell = per_cell(population)
        published &= (in_cell >= k) | (zero_shown & (in_cell == 0))
    if allowed_totals is not None:
        published[:size] &= np.asarray(allowed_totals, dtype=bool)
    known = None
    if known_totals is not None and np.asarray(known_totals, dtype=bool).any():
        known = np.zeros(cells, dtype=bool)
        known[:size] = np.asarray(known_totals, dtype=bool)
    while True:
        published &= published[owner]  # no breakdown cell without its department's total
        active = present & published[member_at]
        signature = np.where(active, weight[member_at], np.uint64(0)).sum(axis=1, dtype=np.uint64)
        classes, first, which = np.unique(signature, return_index=True, return_inverse=True)
        small = np.zeros(len(classes), dtype=bool)
        for population in counts:
            sizes = np.bincount(which, weights=population, minlength=len(classes))
            small |= (sizes > 0) & (sizes < k)
        small &= classes != 0
        victims = []
        if small.any():
            victims.append(
                _victims(
                    classes, first, small, member_at, active, weight, cell_count, is_total, cells
                )
            )
        if known is not None:
            victims.append(_victims_beside_known(published, known, present, member_at, weight,
                                                 counts[0], cell_count, is_total, k))  # fmt: skip
        victims = np.concatenate(victims) if victims else np.zeros(0, dtype=np.int64)
        if not len(victims):
            break
        published[victims] = False

    totals = published[:size].copy()
    breakdowns = [
        published[offsets[a] : offsets[a + 1]].reshape(size, width)
        for a, width in enumerate(widths)
    ]
    return totals, breakdowns


def _victims_beside_known(published, known, present, member_at, weight, population, cell_count,
                          is_total, k) -> np.ndarray:  # fmt: skip
    """Cells to hide so that the published cells together with the known ones leave no class of
    1..k-1 people of `population`. Known cells cannot be taken back, so only published ones
    that are not known go: one that merges a small class with a neighbour if there is one,
    else the smallest published cell among the people who share the small class's known cells
    (they number 0 or at least k, since the known cells were chosen safe on their own, so
    hiding cells there ends with them all in one class)."""
    active = present & (published | known)[member_at]
    signature = np.where(active, weight[member_at], np.uint64(0)).sum(axis=1, dtype=np.uint64)
    classes, first, which = np.unique(signature, return_index=True, return_inverse=True)
    sizes = np.bincount(which, weights=population, minlength=len(classes))
    small = (sizes > 0) & (sizes < k) & (classes != 0)
    if not small.any():
        return np.zeros(0, dtype=np.int64)
    hideable = active & (published & ~known)[member_at]
    pair_class, column = np.nonzero(hideable[first])
    pair_cell = member_at[first[pair_class], column]
    merging_class, merging_cell = _merges(classes, small, pair_class, pair_cell, weight)
    fixed_class, fixed_cell = [merging_class], [merging_cell]
    stuck = small.copy()
    stuck[merging_class] = False
    if stuck.any():
        known_only = np.where(present & known[member_at], weight[member_at], np.uint64(0)).sum(
            axis=1, dtype=np.uint64
        )
        for c in np.flatnonzero(stuck):
            region = known_only == known_only[first[c]]
            rows, columns = np.nonzero(hideable & region[:, None])
            if not len(rows):
                # Cannot happen if the known cells are safe on their own; if they are not,
                # nothing published may stand beside them.
                return np.flatnonzero(published & ~known)
            fixed_class.append(np.array([c]))
            fixed_cell.append(np.array([_smallest(member_at[rows, columns], cell_count,
                                                  is_total)]))  # fmt: skip
    return _first_choice(np.concatenate(fixed_class), np.concatenate(fixed_cell), cell_count,
                         is_total)  # fmt: skip


def _merges(classes, small, pair_class, pair_cell, weight) -> tuple[np.ndarray, np.ndarray]:
    """(class, cell) for every small class and cell whose hiding merges it with another class.

    Hiding a cell moves every class that lies in it to the class without it: when that class
    exists (or is the invisible one, signature 0), the two merge. `pair_class`/`pair_cell`
    list the cells each class lies in (those that may be hidden).
    """
    reduced = classes[pair_class] - weight[pair_cell]
    where = np.minimum(np.searchsorted(classes, reduced), len(classes) - 1)
    exists = classes[where] == reduced
    target = np.where(exists, where, -1)
    fixes_from = (exists | (reduced == 0)) & small[pair_class]
    fixes_to = exists & (target >= 0) & small[np.maximum(target, 0)]
    return (
        np.concatenate([pair_class[fixes_from], target[fixes_to]]),
        np.concatenate([pair_cell[fixes_from], pair_cell[fixes_to]]),
    )


def _first_choice(fixed_class, fixed_cell, cell_count, is_total) -> np.ndarray:
    """Of the candidate cells of each class, the one to hide: a breakdown cell before a
    total, the smallest first."""
    order = np.lexsort((fixed_cell, cell_count[fixed_cell], is_total[fixed_cell], fixed_class))
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = fixed_class[order][1:] != fixed_class[order][:-1]
    return fixed_cell[order][keep]


def _smallest(candidates: np.ndarray, cell_count: np.ndarray, is_total: np.ndarray) -> int:
    """The cell to give up first: a breakdown cell before a total, the smallest first."""
    candidates = np.unique(candidates)
    order = np.lexsort((candidates, cell_count[candidates], is_total[candidates]))
    return int(candidates[order[0]])


def _victims(classes, first, small, member_at, active, weight, cell_count, is_total, cells):
    """One cell to hide for every small class (several classes may pick the same cell)."""
    # Every atom of a class lies in the same published cells: one atom speaks for its class.
    pair_class, columns = np.nonzero(active[first])  # sorted by class
    pair_cell = member_at[first[pair_class], columns]
    fixed_class, fixed_cell = _merges(classes, small, pair_class, pair_cell, weight)
    stuck = np.zeros(len(classes), dtype=bool)
    stuck[np.flatnonzero(small)] = True
    stuck[fixed_class] = False
    if stuck.any():
        more_class, more_cell = _stuck_victims(
            stuck, classes, pair_class, pair_cell, weight, is_total, cell_count
        )
        fixed_class = np.concatenate([fixed_class, more_class])
        fixed_cell = np.concatenate([fixed_cell, more_cell])
    return _first_choice(fixed_class, fixed_cell, cell_count, is_total)


def _stuck_victims(stuck, classes, pair_class, pair_cell, weight, is_total, cell_count):
    """Candidate cells for small classes that no single hidden cell merges with another.

    1. A class that lies in breakdown cells gives them up (the smallest first), so that it
       comes closer to the others of its departments.
    2. A class that lies in department totals only takes the breakdown cells of the other
       classes with the same totals (its department's people with other values) away.
    3. Alone among its department totals: the published sub-department whose people it would
       join goes (rule 4's smallest published child), else the smallest total it lies in.
    """
    breakdown = ~is_total[pair_cell]
    own = stuck[pair_class] & breakdown
    found_class, found_cell = [pair_class[own]], [pair_cell[own]]
    left = stuck.copy()
    left[pair_class[own]] = False
    if left.any():
        # The signature of the department totals alone, per class.
        tree = np.zeros(len(classes), dtype=np.uint64)
        np.add.at(tree, pair_class, np.where(breakdown, np.uint64(0), weight[pair_cell]))
        waiting = np.flatnonzero(left)  # totals only, so each has its own totals signature
        order = np.argsort(tree[waiting])
        sorted_trees = tree[waiting][order]
        peer_tree = tree[pair_class]
        where = np.minimum(np.searchsorted(sorted_trees, peer_tree), len(waiting) - 1)
        peers = breakdown & (sorted_trees[where] == peer_tree)
        owner = waiting[order][where[peers]]
        found_class.append(owner)
        found_cell.append(pair_cell[peers])
        left[owner] = False
        for c in np.flatnonzero(left):
            victim = _child_or_own_total(c, tree, pair_class, pair_cell, weight, is_total,
                                         cell_count)  # fmt: skip
            found_class.append(np.array([c]))
            found_cell.append(np.array([victim]))
    return np.concatenate(found_class), np.concatenate(found_cell)


def _child_or_own_total(c, tree, pair_class, pair_cell, weight, is_total, cell_count) -> int:
    own = pair_cell[pair_class == c]
    deeper = tree - tree[c]
    children = np.setdiff1d(np.flatnonzero(is_total & np.isin(weight, deeper)), own)
    candidates = children if len(children) else own
    order = np.lexsort((candidates, cell_count[candidates]))
    return int(candidates[order[0]])


def tree_publishable(
    *,
    parent: Sequence[int] | np.ndarray,
    direct: Sequence[int] | np.ndarray,
    k: int,
    allowed: np.ndarray | None = None,
    zero_shown: bool = False,
) -> np.ndarray:
    """Which subtree counts of a department tree may be shown, `direct[..., node]` people being
    attached directly to each node (one row per population, e.g. invited and answered)."""
    direct = np.atleast_2d(np.asarray(direct, dtype=np.int64))
    totals, _ = publishable(
        parent=parent, atom_node=np.arange(direct.shape[1]), atom_count=direct, k=k,
        allowed_totals=allowed, zero_shown=zero_shown,
    )  # fmt: skip
    return totals
