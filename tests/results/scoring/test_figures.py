"""score_campaign on a small organisation whose every figure was worked out by hand.

The instrument (synthetic, "Item 1" ... "Item 5") has two domains:

- ``demands`` — items D1, D2, D3 on a plain 1..5 scale, **D3 reverse-keyed** (score 6 - x),
  ``higher_is_worse``, ``min_answered: 2``, individual high risk at score ≥ 4.0, bands from
  **benchmark percentiles** p20 = 2.0, p50 = 2.5, p80 = 3.5. It also carries absolute cut-offs
  [3.0, 4.0, 4.5], which must be ignored because the benchmark takes precedence (with them
  N1 would be "good" and S1 "well" instead of "improve" and "good").
  Score range 1..5, so risk score = (mean - 1) / 4 · 100.
- ``energy`` — items E1, E2 on a 1..5 scale **value-mapped** to [0, 25, 50, 75, 100],
  ``higher_is_better``, ``min_answered: 1``, individual high risk at score ≤ 25, **absolute**
  bands [25, 50, 75]. Score range 0..100, so risk score = 100 - mean.

The tree (k = 3, so every checked cell is published unless it is genuinely below k)::

    organisation (department_id <NA>)
    ├── North (10): 3 people attached directly (r8-r10)
    │   ├── N1 (11): r1-r4
    │   └── N2 (12): r5-r7
    └── South (20): nobody attached directly
        ├── S1 (21): r11-r15
        ├── S2 (22): r16-r20
        └── S3 (23): no respondents

Respondent scores (raw answers in RESPONDENTS below; "—" = not answered)::

    r   dept  D1 D2 D3  demands                E1 E2  energy
    1   N1    3  3  3   (3+3+3)/3 = 3          1  1   (0+0)/2    = 0
    2   N1    4  5  3   (4+5+3)/3 = 4          2  2   (25+25)/2  = 25
    3   N1    2  4  3   (2+4+3)/3 = 3          3  3   (50+50)/2  = 50
    4   N1    3  4  1   (3+4+5)/3 = 4          1  3   (0+50)/2   = 25
    5   N2    4  —  —   1 answered < 2: none   4  5   (75+100)/2 = 87.5
    6   N2    2  3  —   (2+3)/2   = 2.5        3  —   50/1       = 50
    7   N2    2  3  5   (2+3+1)/3 = 2          2  1   (25+0)/2   = 12.5
    8   North 5  5  1   (5+5+5)/3 = 5          1  2   (0+25)/2   = 12.5
    9   North 4  4  2   (4+4+4)/3 = 4          2  2   (25+25)/2  = 25
    10  North 3  4  4   (3+4+2)/3 = 3          4  3   (75+50)/2  = 62.5
    11  S1    2  2  4   (2+2+2)/3 = 2          3  3   (50+50)/2  = 50
    12  S1    3  3  3   (3+3+3)/3 = 3          5  4   (100+75)/2 = 87.5
    13  S1    1  2  3   (1+2+3)/3 = 2          2  1   (25+0)/2   = 12.5
    14  S1    4  3  4   (4+3+2)/3 = 3          3  2   (50+25)/2  = 37.5
    15  S1    —  2  3   (2+3)/2   = 2.5        3  4   (50+75)/2  = 62.5
    16  S2    1  1  5   (1+1+1)/3 = 1          5  5   (100+100)/2 = 100
    17  S2    2  2  4   (2+2+2)/3 = 2          4  4   (75+75)/2  = 75
    18  S2    2  3  5   (2+3+1)/3 = 2          4  3   (75+50)/2  = 62.5
    19  S2    3  2  5   (3+2+1)/3 = 2          5  3   (100+50)/2 = 75
    20  S2    3  4  4   (3+4+2)/3 = 3          3  4   (50+75)/2  = 62.5

Per cell: n, Σx, Σx², mean = Σx/n, SS = Σx² - (Σx)²/n, sd = √(SS/(n-1)); "high" counts
demands ≥ 4 (r2, r4, r8, r9) and energy ≤ 25 (r1, r2, r4, r7, r8, r9, r13).

demands (bands: mean > 3.5 urgent, 2.5 < mean ≤ 3.5 improve, 2.0 < mean ≤ 2.5 good, ≤ 2.0 well)::

    N1     n=4  Σx=14    Σx²=50      mean=3.5 (= p80)  SS=50-196/4=1        sd=√(1/3)
           high 2/4   risk=(3.5-1)/4·100=62.5      band improve (3.5 is not > 3.5)
    N2     n=2 < k=3: suppressed (r5 has no demands score)
    North  N1 + N2(r6, r7) + r8-r10: n=9  Σx=14+4.5+12=30.5  Σx²=50+10.25+50=110.25
           mean=30.5/9=61/18  SS=110.25-930.25/9=62/9  sd=√(62/9/8)=√(31/36)
           high 4/9   risk=(61/18-1)/4·100=1075/18   band improve (2.5 < 3.39 ≤ 3.5)
    S1     n=5  Σx=12.5  Σx²=32.25   mean=2.5 (= p50)  SS=32.25-156.25/5=1  sd=√(1/4)=0.5
           high 0     risk=37.5    band good (2.5 is not > 2.5)
    S2     n=5  Σx=10    Σx²=22      mean=2.0 (= p20)  SS=22-100/5=2        sd=√(2/4)
           high 0     risk=25      band well (2.0 ≤ 2.0)
    S3     n=0: suppressed
    South  S1 + S2: n=10  Σx=22.5  Σx²=54.25  mean=2.25  SS=54.25-506.25/10=3.625
           sd=√(3.625/9)   high 0   risk=(2.25-1)/4·100=31.25   band good
    org    North + South: n=19  Σx=53  Σx²=164.5  mean=53/19
           SS=164.5-2809/19=316.5/19   sd=√(316.5/19/18)
           high 4/19  risk=(53/19-1)/4·100=850/19   band improve (2.79)

energy (bands: mean < 25 urgent, 25 ≤ mean < 50 improve, 50 ≤ mean < 75 good, ≥ 75 well)::

    N1     n=4  Σx=100   Σx²=3750     mean=25 (= a)  SS=3750-10000/4=1250   sd=√(1250/3)
           high 3/4   risk=75      band improve (25 is not < 25)
    N2     n=3  Σx=150   Σx²=10312.5  mean=50 (= b)  SS=10312.5-22500/3=2812.5
           sd=√(2812.5/2)=37.5     high 1/3   risk=50   band good
    North  n=10 Σx=100+150+100=350  Σx²=3750+10312.5+4687.5=18750  mean=35
           SS=18750-122500/10=6500  sd=√(6500/9)  high 6/10  risk=65  band improve
    S1     n=5  Σx=250   Σx²=15625    mean=50 (= b)  SS=15625-62500/5=3125  sd=√(3125/4)
           high 1/5   risk=50      band good
    S2     n=5  Σx=375   Σx²=29062.5  mean=75 (= c)  SS=29062.5-140625/5=937.5
           sd=√(937.5/4)           high 0     risk=25   band well
    South  n=10 Σx=625   Σx²=44687.5  mean=62.5  SS=44687.5-390625/10=5625  sd=√(5625/9)=25
           high 1/10  risk=37.5    band good
    org    n=20 Σx=975   Σx²=63437.5  mean=48.75  SS=63437.5-950625/20=15906.25
           sd=√(15906.25/19)   high 7/20   risk=51.25   band improve

Respondents per band (band_counts: each person's own score graded with the domain's cut-offs,
same boundaries as for a group mean), as (urgent, improve, good, well)::

    demands: urgent > 3.5 (r2 4, r4 4, r8 5, r9 4), improve (2.5, 3.5] (the 3s), good (2.0, 2.5]
    (r6, r15: 2.5), well <= 2.0.
    N1 3,4,3,4 -> (2, 2, 0, 0)        North = N1 + r6 good + r7 well + r8, r9 urgent + r10 improve
    S1 2,3,2,3,2.5 -> (0, 2, 1, 2)    -> (4, 3, 1, 1)
    S2 1,2,2,2,3 -> (0, 1, 0, 4)      South (0, 3, 1, 6)       org (4, 6, 2, 7)
    energy: urgent < 25, improve [25, 50), good [50, 75), well >= 75.
    N1 0,25,50,25 -> (1, 2, 1, 0)     N2 87.5,50,12.5 -> (1, 0, 1, 1)
    North = N1 + N2 + 12.5 urgent, 25 improve, 62.5 good -> (3, 3, 3, 1)
    S1 50,87.5,12.5,37.5,62.5 -> (1, 1, 2, 1)   S2 100,75,62.5,75,62.5 -> (0, 0, 2, 3)
    South (1, 1, 4, 4)                org (4, 4, 7, 5)

Suppression at k = 3: N2 has 2 people scored in demands, so N2 is suppressed — in energy too
(n = 3 there), because one choice of cells serves every domain and the respondent counts: an
attacker who assumed the domains' respondents equal could otherwise subtract one domain's cells
from another's. At North, demands: N1 (4) shown, uncovered 9 - 4 = 5; energy: 10 - 4 = 6. At
South the uncovered count is 0 (S3 is empty). At the organisation it is 0. So nothing beyond N2
and S3 is suppressed.
"""

from math import sqrt

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from results.scoring.engine import OVERALL, score_campaign
from results.scoring.engine import RESPONDENTS as RESPONDENT_COUNTS
from tests.results.scoring.builders import (
    assert_suppressed,
    cell,
    departments,
    domain,
    instrument,
    scale,
)

TOLERANCE = 1e-9
ROOT = None
NORTH, N1, N2, SOUTH, S1, S2, S3 = 10, 11, 12, 20, 21, 22, 23

TREE = {NORTH: None, N1: NORTH, N2: NORTH, SOUTH: None, S1: SOUTH, S2: SOUTH, S3: SOUTH}

# (department, D1, D2, D3, E1, E2): raw answers on 1..5, None = not answered.
RESPONDENTS = [
    (N1, 3, 3, 3, 1, 1),
    (N1, 4, 5, 3, 2, 2),
    (N1, 2, 4, 3, 3, 3),
    (N1, 3, 4, 1, 1, 3),
    (N2, 4, None, None, 4, 5),
    (N2, 2, 3, None, 3, None),
    (N2, 2, 3, 5, 2, 1),
    (NORTH, 5, 5, 1, 1, 2),
    (NORTH, 4, 4, 2, 2, 2),
    (NORTH, 3, 4, 4, 4, 3),
    (S1, 2, 2, 4, 3, 3),
    (S1, 3, 3, 3, 5, 4),
    (S1, 1, 2, 3, 2, 1),
    (S1, 4, 3, 4, 3, 2),
    (S1, None, 2, 3, 3, 4),
    (S2, 1, 1, 5, 5, 5),
    (S2, 2, 2, 4, 4, 4),
    (S2, 2, 3, 5, 4, 3),
    (S2, 3, 2, 5, 5, 3),
    (S2, 3, 4, 4, 3, 4),
]

# (department, domain): (n, mean, sd, share_high_risk, risk_score, band), from the docstring.
EXPECTED = {
    (N1, "demands"): (4, 3.5, sqrt(1 / 3), 2 / 4, 62.5, "improve"),
    (NORTH, "demands"): (9, 61 / 18, sqrt(31 / 36), 4 / 9, 1075 / 18, "improve"),
    (S1, "demands"): (5, 2.5, 0.5, 0.0, 37.5, "good"),
    (S2, "demands"): (5, 2.0, sqrt(2 / 4), 0.0, 25.0, "well"),
    (SOUTH, "demands"): (10, 2.25, sqrt(3.625 / 9), 0.0, 31.25, "good"),
    (ROOT, "demands"): (19, 53 / 19, sqrt(316.5 / 19 / 18), 4 / 19, 850 / 19, "improve"),
    (N1, "energy"): (4, 25.0, sqrt(1250 / 3), 3 / 4, 75.0, "improve"),
    (NORTH, "energy"): (10, 35.0, sqrt(6500 / 9), 6 / 10, 65.0, "improve"),
    (S1, "energy"): (5, 50.0, sqrt(3125 / 4), 1 / 5, 50.0, "good"),
    (S2, "energy"): (5, 75.0, sqrt(937.5 / 4), 0.0, 25.0, "well"),
    (SOUTH, "energy"): (10, 62.5, 25.0, 1 / 10, 37.5, "good"),
    (ROOT, "energy"): (20, 48.75, sqrt(15906.25 / 19), 7 / 20, 51.25, "improve"),
}
# (department, domain): respondents per band (urgent, improve, good, well), from the docstring.
BAND_COUNTS = {
    (N1, "demands"): (2, 2, 0, 0),
    (NORTH, "demands"): (4, 3, 1, 1),
    (S1, "demands"): (0, 2, 1, 2),
    (S2, "demands"): (0, 1, 0, 4),
    (SOUTH, "demands"): (0, 3, 1, 6),
    (ROOT, "demands"): (4, 6, 2, 7),
    (N1, "energy"): (1, 2, 1, 0),
    (NORTH, "energy"): (3, 3, 3, 1),
    (S1, "energy"): (1, 1, 2, 1),
    (S2, "energy"): (0, 0, 2, 3),
    (SOUTH, "energy"): (1, 1, 4, 4),
    (ROOT, "energy"): (4, 4, 7, 5),
}
SUPPRESSED = [(N2, "demands"), (N2, "energy"), (S3, "demands"), (S3, "energy")]


def fixture_model():
    return instrument(
        [scale("often", 1, 5), scale("freq", 1, 5, values=[0, 25, 50, 75, 100])],
        [
            domain(
                "demands",
                ["D1", "D2", "D3"],
                direction="higher_is_worse",
                min_answered=2,
                high_risk=4.0,
                benchmark=(2.0, 2.5, 3.5),
                absolute=[3.0, 4.0, 4.5],  # ignored: the benchmark takes precedence
            ),
            domain(
                "energy",
                ["E1", "E2"],
                direction="higher_is_better",
                min_answered=1,
                high_risk=25,
                absolute=[25, 50, 75],
            ),
        ],
        [
            ("D1", "often"),
            ("D2", "often"),
            ("D3", "often", True),
            ("E1", "freq"),
            ("E2", "freq"),
        ],
    )


def fixture_inputs() -> dict:
    """score_campaign's keyword arguments: codes = raw - min + 1 = raw here, 0 = not answered."""
    answers = np.array(
        [[0 if raw is None else raw for raw in row[1:]] for row in RESPONDENTS], dtype=np.int8
    )
    return {
        "answers": answers,
        "response_departments": np.array([row[0] for row in RESPONDENTS], dtype=np.int64),
        "departments": departments(TREE),
        "model": fixture_model(),
        "k": 3,
    }


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return score_campaign(**fixture_inputs())


@pytest.mark.parametrize(("department_id", "domain_code"), list(EXPECTED))
def test_published_figures_match_the_hand_computed_ones(frame, department_id, domain_code):
    n, mean, sd, share, risk, band = EXPECTED[(department_id, domain_code)]
    row = cell(frame, department_id, domain_code)
    assert not row["suppressed"]
    assert row["n"] == n
    assert row["mean"] == pytest.approx(mean, abs=TOLERANCE, rel=0)
    assert row["sd"] == pytest.approx(sd, abs=TOLERANCE, rel=0)
    assert row["share_high_risk"] == pytest.approx(share, abs=TOLERANCE, rel=0)
    assert row["risk_score"] == pytest.approx(risk, abs=TOLERANCE, rel=0)
    assert row["band"] == band


@pytest.mark.parametrize(("department_id", "domain_code"), list(BAND_COUNTS))
def test_respondents_per_band(frame, department_id, domain_code):
    counts = cell(frame, department_id, domain_code)["band_counts"]
    expected = dict(
        zip(
            ("urgent", "improve", "good", "well"),
            BAND_COUNTS[(department_id, domain_code)],
            strict=True,
        )
    )
    assert counts == expected
    assert sum(counts.values()) == EXPECTED[(department_id, domain_code)][0]


@pytest.mark.parametrize(("department_id", "domain_code"), SUPPRESSED)
def test_cells_below_k_carry_no_figures(frame, department_id, domain_code):
    """N2/demands has n = 2 (r5 answered one demands item of the two required); S3 is empty."""
    assert_suppressed(cell(frame, department_id, domain_code))


def test_the_frame_has_exactly_one_row_per_department_and_domain(frame):
    """7 departments + the organisation, * (2 domains + the "overall" priority row + the
    "respondents" count row)."""
    assert len(frame) == 8 * 4
    assert not frame.duplicated(["department_id", "domain_code"]).any()
    assert set(frame["breakdown_attribute"]) == {""}
    assert set(frame["breakdown_value"]) == {""}
    checked = {*EXPECTED, *SUPPRESSED}
    domains = frame[~frame["domain_code"].isin([OVERALL, RESPONDENT_COUNTS])]
    found = {
        (None if pd.isna(d) else int(d), str(c))
        for d, c in zip(domains["department_id"], domains["domain_code"], strict=True)
    }
    assert found == checked


def test_no_trend_without_a_previous_campaign(frame):
    assert (
        frame[["trend_diff", "trend_ci_low", "trend_ci_high", "trend_significant"]]
        .isna()
        .all(axis=None)
    )


@pytest.mark.parametrize(
    ("department_id", "n", "score", "band"),
    [
        # mean of the published domains' risk scores, worst band, largest n
        (ROOT, 20, (850 / 19 + 51.25) / 2, "improve"),
        (NORTH, 10, (1075 / 18 + 65) / 2, "improve"),
        (N1, 4, (62.5 + 75) / 2, "improve"),
        (SOUTH, 10, (31.25 + 37.5) / 2, "good"),
        (S1, 5, (37.5 + 50) / 2, "good"),
        (S2, 5, (25 + 25) / 2, "well"),
    ],
)
def test_overall_priority_rows(frame, department_id, n, score, band):
    row = cell(frame, department_id, OVERALL)
    assert not row["suppressed"]
    assert row["n"] == n
    assert row["risk_score"] == pytest.approx(score, abs=TOLERANCE, rel=0)
    assert row["mean"] == pytest.approx(score, abs=TOLERANCE, rel=0)
    assert row["band"] == band


@pytest.mark.parametrize("department_id", [N2, S3])
def test_overall_row_of_a_department_without_published_domains_is_suppressed(frame, department_id):
    assert_suppressed(cell(frame, department_id, OVERALL))


@pytest.mark.parametrize(
    ("department_id", "n"),
    [(ROOT, 20), (NORTH, 10), (N1, 4), (N2, None), (SOUTH, 10), (S1, 5), (S2, 5), (S3, None)],
)
def test_respondent_counts_are_published_with_the_department(frame, department_id, n):
    """Everyone who answered counts (r5 has no demands score but answered); N2 and S3 are
    suppressed like their domains."""
    row = cell(frame, department_id, RESPONDENT_COUNTS)
    if n is None:
        assert_suppressed(row)
    else:
        assert not row["suppressed"]
        assert row["n"] == n


def test_the_department_order_and_the_answer_order_do_not_matter():
    """Shuffling the departments frame and the response rows gives the same cells."""
    inputs = fixture_inputs()
    expected = score_campaign(**inputs)
    rng = np.random.default_rng(7)
    rows = rng.permutation(len(RESPONDENTS))
    shuffled = score_campaign(
        **{
            **inputs,
            "answers": inputs["answers"][rows],
            "response_departments": inputs["response_departments"][rows],
            "departments": inputs["departments"].iloc[::-1].reset_index(drop=True),
        }
    )
    key = ["department_id", "domain_code"]
    pd.testing.assert_frame_equal(
        expected.sort_values(key).reset_index(drop=True),
        shuffled.sort_values(key).reset_index(drop=True),
        check_exact=False,
        atol=TOLERANCE,
        rtol=0,
    )


# --- Trend ------------------------------------------------------------------------------------


def welch_by_hand(n1, m1, s1, n0, m0, s0):
    """diff = m1 - m0, se² = s1²/n1 + s0²/n0, Welch-Satterthwaite
    df = se⁴ / ((s1²/n1)²/(n1-1) + (s0²/n0)²/(n0-1)), 95% CI = diff ± t(0.975, df)·se."""
    v1, v0 = s1 * s1 / n1, s0 * s0 / n0
    df = (v1 + v0) ** 2 / (v1 * v1 / (n1 - 1) + v0 * v0 / (n0 - 1))
    half = stats.t.ppf(0.975, df) * sqrt(v1 + v0)
    diff = m1 - m0
    return diff, diff - half, diff + half, df


def test_trend_against_the_previous_campaign():
    """North/demands, now n=9 mean=61/18 sd=√(31/36), before n=12 mean=2.5 sd=0.6:
    diff = 61/18 - 45/18 = 8/9 ≈ 0.889; v1 = (31/36)/9 ≈ 0.0957, v0 = 0.36/12 = 0.03,
    se = √0.1257 ≈ 0.355, df = 0.1257² / (0.0957²/8 + 0.03²/11) ≈ 12.9, t ≈ 2.16,
    CI ≈ 0.889 ± 0.766 = (0.12, 1.65): excludes 0, significant.

    South/energy, now n=10 mean=62.5 sd=25, before n=8 mean=60 sd=20:
    diff = 2.5; v1 = 625/10 = 62.5, v0 = 400/8 = 50, se = √112.5 ≈ 10.6,
    df = 112.5² / (62.5²/9 + 50²/7) ≈ 16.0, t ≈ 2.12, CI ≈ 2.5 ± 22.5: contains 0.

    The previous rows for the organisation (no department id), for a suppressed cell (no
    mean) and for a department without a current published cell change nothing.
    """
    previous = pd.DataFrame(
        {
            "department_id": pd.array([NORTH, SOUTH, None, S1, N2], dtype="Int64"),
            "domain_code": ["demands", "energy", "demands", "energy", "demands"],
            "n": pd.array([12, 8, 30, None, 6], dtype="Int64"),
            "mean": pd.array([2.5, 60.0, 1.0, None, 1.0], dtype="Float64"),
            "sd": pd.array([0.6, 20.0, 0.1, None, 0.1], dtype="Float64"),
        }
    )
    frame = score_campaign(**fixture_inputs(), previous=previous)

    north = cell(frame, NORTH, "demands")
    diff, low, high, df = welch_by_hand(9, 61 / 18, sqrt(31 / 36), 12, 2.5, 0.6)
    assert diff == pytest.approx(8 / 9, abs=TOLERANCE)
    assert df == pytest.approx(12.88, abs=0.01)
    assert 0 < low < high
    assert north["trend_diff"] == pytest.approx(diff, abs=TOLERANCE, rel=0)
    assert north["trend_ci_low"] == pytest.approx(low, abs=TOLERANCE, rel=0)
    assert north["trend_ci_high"] == pytest.approx(high, abs=TOLERANCE, rel=0)
    assert north["trend_significant"]

    south = cell(frame, SOUTH, "energy")
    diff, low, high, df = welch_by_hand(10, 62.5, 25.0, 8, 60.0, 20.0)
    assert diff == 2.5
    assert df == pytest.approx(15.997, abs=0.01)
    assert low < 0 < high
    assert south["trend_diff"] == pytest.approx(diff, abs=TOLERANCE, rel=0)
    assert south["trend_ci_low"] == pytest.approx(low, abs=TOLERANCE, rel=0)
    assert south["trend_ci_high"] == pytest.approx(high, abs=TOLERANCE, rel=0)
    assert not south["trend_significant"]

    trend = ["trend_diff", "trend_ci_low", "trend_ci_high", "trend_significant"]
    for department_id, domain_code in [(NORTH, "energy"), (S1, "energy"), (SOUTH, "demands")]:
        assert cell(frame, department_id, domain_code)[trend].isna().all()
    assert_suppressed(cell(frame, N2, "demands"))  # a previous row does not revive it
    others = frame[frame["domain_code"] != OVERALL].drop(columns=trend)
    baseline = score_campaign(**fixture_inputs())
    baseline = baseline[baseline["domain_code"] != OVERALL].drop(columns=trend)
    pd.testing.assert_frame_equal(others.reset_index(drop=True), baseline.reset_index(drop=True))
