"""Suppression (anonymity rules 3 and 4) on fixed cases, through `solve` and through score_campaign.

Rule 3: a cell with fewer than k respondents is suppressed — all its figures, n included.
Rule 4: at every parent, the respondents not covered by its published children (suppressed
children plus people attached directly) must number 0 or ≥ k, else the smallest published child
is suppressed too; the same holds for breakdown categories inside a department.

In the score_campaign cases every respondent answers the one item of domain "x", so a cell's n
is its number of respondents. The organisation (department_id <NA>) is the root above the
top-level departments.
"""

import numpy as np
import pytest

from results.scoring.engine import score_campaign
from results.scoring.suppression import publishable, tree_publishable
from tests.results.scoring.attackers import Published, derived_leaks, first_order_leaks
from tests.results.scoring.builders import (
    assert_suppressed,
    cell,
    departments,
    one_item_model,
    people,
    published_ns,
)


def run(tree: dict, counts: dict, k: int, attribute=None):
    """score_campaign with `counts[d]` respondents attached directly to department d."""
    located = people(counts)
    answers = (np.arange(len(located)) % 5 + 1).astype(np.int8).reshape(-1, 1)
    return score_campaign(
        answers=answers,
        response_departments=located,
        departments=departments(tree),
        model=one_item_model(),
        k=k,
        attributes=None if attribute is None else {"tenure": np.array(attribute, dtype=object)},
    )


def assert_only_published(frame, expected: dict) -> None:
    """`expected` is {(department or None, breakdown value): n} of every published cell; every
    other cell must be suppressed without figures."""
    assert published_ns(frame) == expected
    for row in frame[frame["domain_code"].eq("x") & frame["suppressed"]].itertuples():
        assert_suppressed(frame.loc[row.Index])


# --- publishable, on hand-made atoms ------------------------------------------------------------


@pytest.mark.parametrize(
    ("parent", "direct", "k", "expected"),
    [
        # A(3) + B(6) under P(9): A < k; then P - B = 3 is uncovered, so B goes too.
        pytest.param([-1, 0, 0], [0, 3, 6], 5, [1, 0, 0], id="A3+B6-under-P9"),
        # P has 2 people attached directly and a child A(6): P - A = 2 → A suppressed.
        pytest.param([-1, 0], [2, 6], 5, [1, 0], id="2-direct-plus-A6"),
        # A(7) → B(7) → C(7): nothing uncovered anywhere.
        pytest.param([-1, 0, 1], [0, 0, 7], 5, [1, 1, 1], id="chain-7-7-7"),
        # A(7) with 2 direct → B(5): A - B = 2 → B suppressed.
        pytest.param([-1, 0], [2, 5], 5, [1, 0], id="chain-7-5"),
        # Uncovered exactly k is allowed.
        pytest.param([-1, 0], [5, 5], 5, [1, 1], id="uncovered-exactly-k"),
        # An empty child is suppressed and changes nothing for its siblings.
        pytest.param([-1, 0, 0, 0], [0, 5, 5, 0], 5, [1, 1, 1, 0], id="empty-child"),
        pytest.param([-1, 0], [0, 0], 3, [0, 0], id="all-empty"),
        # P(19) = A(9) + B(6) + C(4), nobody directly: C < k; uncovered 19 - 9 - 6 = 4 → B,
        # the smallest published child, goes; uncovered 10 ≥ k, so A stays.
        pytest.param([-1, 0, 0, 0], [0, 9, 6, 4], 5, [1, 1, 0, 0], id="next-smallest"),
    ],
)
def test_tree_fixed_cases(parent, direct, k, expected):
    shown = tree_publishable(parent=parent, direct=direct, k=k)
    assert shown.tolist() == [bool(e) for e in expected]


def test_a_breakdown_with_one_person_without_a_value():
    """Department of 10: categories 6 and 3, 1 without a value. 3 < k, and the 6 would leave
    3 + 1 = 4 → both categories are suppressed; the total stays."""
    totals, (cats,) = publishable(
        parent=[-1], atom_node=np.array([0, 0, 0]), atom_values=np.array([[0], [1], [-1]]),
        atom_count=np.array([6, 3, 1]), widths=[2], k=5,
    )  # fmt: skip
    assert totals.tolist() == [True]
    assert cats.tolist() == [[False, False]]


def test_a_breakdown_across_departments_keeps_the_department_totals():
    """G (nobody directly) → P (a=6, b=3), Q (a=5, b=5); k=5. (G,b) - (Q,b) would be P's 3 "b"
    people, and (P) - (P,a) the same 3. Totals stay; Q's breakdown (5 and 5) may stay; no
    breakdown cell of P or G may, since P's "b" people would be left over."""
    totals, (cats,) = publishable(
        parent=[-1, 0, 0], atom_node=np.array([1, 1, 2, 2]),
        atom_values=np.array([[0], [1], [0], [1]]), atom_count=np.array([6, 3, 5, 5]),
        widths=[2], k=5,
    )  # fmt: skip
    assert totals.tolist() == [True, True, True]
    assert cats.tolist() == [[False, False], [False, False], [True, True]]


def test_two_attributes_where_site_lies_inside_shift():
    """Everyone at site north works days: (day) - (north) is the one person at site south on
    days. Both breakdowns cannot be shown together; one of them can."""
    # atoms: (north, day) 10, (south, day) 1, (south, night) 9
    totals, (site, shift) = publishable(
        parent=[-1], atom_node=np.array([0, 0, 0]),
        atom_values=np.array([[0, 0], [1, 0], [1, 1]]), atom_count=np.array([10, 1, 9]),
        widths=[2, 2], k=5,
    )  # fmt: skip
    assert totals.tolist() == [True]
    shown = [bool(site.any()), bool(shift.any())]
    assert shown.count(True) == 1, (site, shift)


def test_k_below_one_is_refused():
    with pytest.raises(ValueError):
        tree_publishable(parent=[-1], direct=[3], k=0)


# --- score_campaign ---------------------------------------------------------------------------

P, A, B, C = 1, 2, 3, 4


def test_a3_and_b6_under_p9():
    frame = run({P: None, A: P, B: P}, {A: 3, B: 6}, k=5)
    assert_only_published(frame, {(None, ""): 9, (P, ""): 9})
    assert_suppressed(cell(frame, A, "x"))
    assert_suppressed(cell(frame, B, "x"))


def test_people_attached_directly_to_a_parent_are_uncovered():
    frame = run({P: None, A: P}, {P: 2, A: 6}, k=5)
    assert_only_published(frame, {(None, ""): 8, (P, ""): 8})


def test_a_chain_of_single_children_is_all_shown():
    frame = run({A: None, B: A, C: B}, {C: 7}, k=5)
    assert_only_published(frame, {(None, ""): 7, (A, ""): 7, (B, ""): 7, (C, ""): 7})


def test_a_single_child_with_people_directly_above_it_is_suppressed():
    frame = run({A: None, B: A}, {A: 2, B: 5}, k=5)
    assert_only_published(frame, {(None, ""): 7, (A, ""): 7})


def test_breakdown_inside_a_department():
    """10 people: 6 "a", 3 "b", 1 without a value; k=5. (D,b)=3 < 5; uncovered 3 + 1 = 4 →
    (D,a) is suppressed too. The organisation has the same cells and the same outcome."""
    values = ["a"] * 6 + ["b"] * 3 + [None]
    frame = run({P: None}, {P: 10}, k=5, attribute=values)
    assert_only_published(frame, {(None, ""): 10, (P, ""): 10})
    for department in (None, P):
        assert_suppressed(cell(frame, department, "x", "a"))
        assert_suppressed(cell(frame, department, "x", "b"))


def test_empty_text_counts_as_no_value():
    """As above, the missing value given as "" rather than None."""
    values = ["a"] * 6 + ["b"] * 3 + [""]
    frame = run({P: None}, {P: 10}, k=5, attribute=values)
    assert_only_published(frame, {(None, ""): 10, (P, ""): 10})
    assert set(frame["breakdown_value"]) == {"", "a", "b"}


def test_zero_respondent_departments():
    """P = A(5) + B(5) + C(0); Q and its child Q1 have nobody. Empty cells are suppressed (no n,
    not even 0) and do not make anything else uncovered."""
    q, q1 = 5, 6
    frame = run({P: None, A: P, B: P, C: P, q: None, q1: q}, {A: 5, B: 5}, k=5)
    assert_only_published(frame, {(None, ""): 10, (P, ""): 10, (A, ""): 5, (B, ""): 5})
    for department in (C, q, q1):
        assert_suppressed(cell(frame, department, "x"))
        assert_suppressed(cell(frame, department, "overall"))


def test_a_campaign_without_respondents_publishes_nothing():
    frame = run({P: None, A: P}, {}, k=3)
    assert frame["suppressed"].all()
    for index in frame.index:
        assert_suppressed(frame.loc[index])


K_RANGE = list(range(3, 11))


@pytest.mark.parametrize("k", K_RANGE)
def test_siblings_of_k_and_k_minus_one(k):
    """P = A(k) + B(k-1): B < k, and then P - A = k - 1 → A is suppressed too."""
    assert tree_publishable(parent=[-1, 0, 0], direct=[0, k, k - 1], k=k).tolist() == [1, 0, 0]
    frame = run({P: None, A: P, B: P}, {A: k, B: k - 1}, k=k)
    assert_only_published(frame, {(None, ""): 2 * k - 1, (P, ""): 2 * k - 1})


@pytest.mark.parametrize("k", K_RANGE)
def test_siblings_of_k_and_k(k):
    assert tree_publishable(parent=[-1, 0, 0], direct=[0, k, k], k=k).all()
    frame = run({P: None, A: P, B: P}, {A: k, B: k}, k=k)
    assert_only_published(frame, {(None, ""): 2 * k, (P, ""): 2 * k, (A, ""): k, (B, ""): k})


@pytest.mark.parametrize("k", K_RANGE)
@pytest.mark.parametrize("direct", [1, "k-1", "k"])
def test_people_directly_above_a_single_child(k, direct):
    """P has `direct` people attached directly and a child A(k): A is shown only if direct ≥ k."""
    direct = {1: 1, "k-1": k - 1, "k": k}[direct]
    shown = direct >= k
    assert tree_publishable(parent=[-1, 0], direct=[direct, k], k=k).tolist() == [True, shown]
    frame = run({P: None, A: P}, {P: direct, A: k}, k=k)
    expected = {(None, ""): direct + k, (P, ""): direct + k}
    if shown:
        expected[(A, "")] = k
    assert_only_published(frame, expected)


@pytest.mark.parametrize("k", K_RANGE)
def test_a_department_of_exactly_k_and_one_of_k_minus_one(k):
    """Two top-level departments: k is shown; k - 1 is not, and the organisation (2k - 1) minus
    the shown one leaves k - 1 uncovered → the k one is suppressed too."""
    frame = run({P: None, A: None}, {P: k, A: k - 1}, k=k)
    assert_only_published(frame, {(None, ""): 2 * k - 1})


# --- Differencing across levels and across the breakdown ---------------------------------------
#
# Each case below satisfies rule 4 constraint by constraint (parent minus its own published
# children), yet an earlier engine let a small group be worked out by chaining differences of
# published cells (see attackers.derived_leaks). Regression tests.


def test_no_group_below_k_through_a_suppressed_middle_department():
    """A has 2 people attached directly and one child B, which has nobody directly and one
    child C(5); k=5. At A: A - B = 2 → B is suppressed. At B: B - C = 0, fine. So A(7) and
    C(5) are published — and A - C = 2: the two people attached directly to A (and to B, who
    are none), with their sum A.sum - C.sum, i.e. their mean, exposed."""
    tree = {A: None, B: A, C: B}
    frame = run(tree, {A: 2, C: 5}, k=5)
    view = Published.from_frame(frame, tree)
    assert first_order_leaks(view, 5) == []
    leaks = derived_leaks(view, 5)
    assert leaks == [], [f"n={g.n} mean={g.total / g.n:g} via {g.how}" for g in leaks]


@pytest.mark.parametrize(
    ("tree", "members"),
    [
        pytest.param(
            # G (nobody directly) → P (a=6, b=3), Q (a=5, b=5); k=5. Published: G(19), P(9),
            # Q(10), (G,a)=11, (G,b)=8, (Q,a)=5. (G - Q) - ((G,a) - (Q,a)) = 9 - 6 = 3:
            # the "b" people of P.
            {1: None, 2: 1, 3: 1},
            {2: {"a": 6, "b": 3}, 3: {"a": 5, "b": 5}},
            id="category-difference-through-the-tree",
        ),
        pytest.param(
            # P: 5 "x", 5 "y", 2 without a value directly; child A: 5 "x", 5 "y", 5 without;
            # k=5. Every constraint is satisfied and everything is published, yet
            # (P - A) - ((P,x) - (A,x)) - ((P,y) - (A,y)) = 12 - 5 - 5 = 2: the two people
            # attached directly to P without a value.
            {1: None, 2: 1},
            {1: {"x": 5, "y": 5, None: 2}, 2: {"x": 5, "y": 5, None: 5}},
            id="remainder-of-remainders",
        ),
    ],
)
def test_no_group_below_k_by_combining_the_tree_and_a_breakdown(tree, members):
    counts = {d: sum(by_value.values()) for d, by_value in members.items()}
    values = [v for by_value in members.values() for v, n in by_value.items() for _ in range(n)]
    frame = run(tree, counts, k=5, attribute=values)
    view = Published.from_frame(frame, tree)
    assert first_order_leaks(view, 5) == []
    leaks = derived_leaks(view, 5)
    assert leaks == [], [f"n={g.n} mean={g.total / g.n:g} via {g.how}" for g in leaks]
