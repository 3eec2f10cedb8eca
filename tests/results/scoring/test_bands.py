"""band_of and risk_score at and around every cut-off, both directions, both kinds of cut-off.

The documented semantics (assessments/instruments/FORMAT.md, engine.band_of), cut-offs a < b < c
(a = p20, b = p50, c = p80 for a benchmark)::

    band        higher_is_better    higher_is_worse
    urgent      mean < a            mean > c
    improve     a ≤ mean < b        b < mean ≤ c
    good        b ≤ mean < c        a < mean ≤ b
    well        mean ≥ c            mean ≤ a

So a mean exactly on a cut-off always falls in the better of the two bands it separates: for
higher_is_better at a it is "improve", not "urgent"; for higher_is_worse at c it is "improve",
not "urgent", and at a it is "well", not "good".
"""

import numpy as np
import pytest

from results.scoring.engine import band_of, respondent_bands, risk_score
from tests.results.scoring.builders import domain, instrument, scale

EPSILON = 1e-9
ABSOLUTE = (2.5, 3.25, 4.0)
BENCHMARK = (3.1, 3.6, 4.1)


def one_domain(direction: str, *, absolute=None, benchmark=None, values=None):
    """The DomainModel of a one-domain instrument built through validation."""
    model = instrument(
        [scale("s5", 1, 5, values=values)],
        [
            domain(
                "d",
                ["D1", "D2"],
                direction=direction,
                high_risk=3 if values is None else 50,
                absolute=list(absolute) if absolute else None,
                benchmark=benchmark,
            )
        ],
        [("D1", "s5"), ("D2", "s5", True)],
    )
    return model.domains[0]


BETTER = {
    # offset from the cut-off: below, exactly on, above
    0: ("urgent", "improve", "improve"),
    1: ("improve", "good", "good"),
    2: ("good", "well", "well"),
}
WORSE = {
    0: ("well", "well", "good"),
    1: ("good", "good", "improve"),
    2: ("improve", "improve", "urgent"),
}
CASES = [
    (direction, kind, index, offset, table[index][position])
    for direction, table in (("higher_is_better", BETTER), ("higher_is_worse", WORSE))
    for kind in ("absolute", "benchmark")
    for index in range(3)
    for position, offset in enumerate((-EPSILON, 0.0, EPSILON))
]


@pytest.mark.parametrize(("direction", "kind", "index", "offset", "expected"), CASES)
def test_band_at_and_around_each_cut_off(direction, kind, index, offset, expected):
    cutoffs = ABSOLUTE if kind == "absolute" else BENCHMARK
    model = (
        one_domain(direction, absolute=ABSOLUTE)
        if kind == "absolute"
        else one_domain(direction, benchmark=BENCHMARK)
    )
    assert model.normed is (kind == "benchmark")
    assert band_of(cutoffs[index] + offset, model) == expected


def test_the_benchmark_takes_precedence_over_absolute_cut_offs():
    model = one_domain("higher_is_better", absolute=ABSOLUTE, benchmark=BENCHMARK)
    assert model.cutoffs == BENCHMARK
    assert model.normed
    # 3.5 is "good" by the absolute cut-offs (3.25 ≤ 3.5 < 4.0) but p20 ≤ 3.5 < p50.
    assert band_of(3.5, model) == "improve"


@pytest.mark.parametrize(
    ("direction", "mean", "expected"),
    [
        ("higher_is_better", 1.0, "urgent"),
        ("higher_is_better", 5.0, "well"),
        ("higher_is_worse", 1.0, "well"),
        ("higher_is_worse", 5.0, "urgent"),
    ],
)
def test_the_ends_of_the_score_range(direction, mean, expected):
    assert band_of(mean, one_domain(direction, absolute=ABSOLUTE)) == expected


@pytest.mark.parametrize(
    ("direction", "values", "mean", "expected"),
    [
        # 1..5: position = (mean - 1) / 4
        ("higher_is_worse", None, 1.0, 0.0),
        ("higher_is_worse", None, 5.0, 100.0),
        ("higher_is_worse", None, 2.0, 25.0),
        ("higher_is_better", None, 1.0, 100.0),
        ("higher_is_better", None, 5.0, 0.0),
        ("higher_is_better", None, 4.0, 25.0),
        # value map [100, 75, 50, 25, 0]: score range 0..100 although the points are 1..5
        ("higher_is_worse", [100, 75, 50, 25, 0], 0.0, 0.0),
        ("higher_is_worse", [100, 75, 50, 25, 0], 62.5, 62.5),
        ("higher_is_better", [100, 75, 50, 25, 0], 62.5, 37.5),
        ("higher_is_better", [100, 75, 50, 25, 0], 100.0, 0.0),
    ],
)
def test_risk_score_runs_from_0_best_to_100_worst(direction, values, mean, expected):
    cutoffs = [25, 50, 75] if values else list(ABSOLUTE)
    model = one_domain(direction, absolute=cutoffs, values=values)
    assert risk_score(mean, model) == pytest.approx(expected, abs=1e-9, rel=0)


@pytest.mark.parametrize("direction", ["higher_is_better", "higher_is_worse"])
@pytest.mark.parametrize("kind", ["absolute", "benchmark"])
def test_each_respondent_is_banded_as_band_of_bands_a_mean(direction, kind):
    """The vectorised per-person bands agree with band_of everywhere, cut-offs included;
    a missing score gets -1."""
    cutoffs = ABSOLUTE if kind == "absolute" else BENCHMARK
    model = one_domain(direction, **{kind: cutoffs})
    values = np.array(
        [
            1.0,
            5.0,
            np.nan,
            *cutoffs,
            *(c - EPSILON for c in cutoffs),
            *(c + EPSILON for c in cutoffs),
            *np.linspace(1, 5, 41),
        ]
    )
    order = ["urgent", "improve", "good", "well"]
    expected = [-1 if np.isnan(v) else order.index(band_of(v, model)) for v in values]
    assert respondent_bands(values, model).tolist() == expected
