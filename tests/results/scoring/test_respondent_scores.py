"""respondent_scores: reverse keys before value maps, min_answered, and codes outside a scale.

Stored answers are codes: code = raw point - scale min + 1, and 0 = not answered
(assessments/answers.py). The instrument here (synthetic, "Item 1" ...):

- scale ``m``: points 0..4 (so codes 1..5), value map [0, 10, 20, 60, 100] — deliberately not
  linear, so that "reverse the raw point, then map" (documented) differs from "map, then
  reverse the value" (100 - value);
- scale ``p``: points 1..3 (codes 1..3), no value map;
- domain ``mapped``: M1, M2 (reverse), M3 on ``m``, min_answered 2;
- domain ``plain``: P1, P2 (reverse) on ``p``, min_answered 1.

Reverse key on ``m``: x' = min + max - x = 4 - x; on ``p``: x' = 1 + 3 - x = 4 - x.
"""

import numpy as np
import pytest

from results.scoring.engine import ScoringInputError, respondent_scores, score_campaign
from tests.results.scoring.builders import departments, domain, instrument, scale

NAN = float("nan")


@pytest.fixture(scope="module")
def model():
    return instrument(
        [scale("m", 0, 4, values=[0, 10, 20, 60, 100]), scale("p", 1, 3)],
        [
            domain(
                "mapped",
                ["M1", "M2", "M3"],
                direction="higher_is_worse",
                min_answered=2,
                high_risk=50,
                absolute=[25, 50, 75],
            ),
            domain(
                "plain",
                ["P1", "P2"],
                direction="higher_is_better",
                min_answered=1,
                high_risk=1.5,
                absolute=[1.5, 2.0, 2.5],
            ),
        ],
        [("M1", "m"), ("M2", "m", True), ("M3", "m"), ("P1", "p"), ("P2", "p", True)],
    )


def test_reverse_keys_come_before_the_value_map_and_min_answered_holds(model):
    """Codes [M1, M2, M3, P1, P2] per row; raw = code - 1 + min.

    row 0: M1 code 2 → raw 1 → 10; M2 code 2 → raw 1 → x' = 3 → 60 (reverse-then-map;
           map-then-reverse would give 100 - 10 = 90); M3 code 5 → raw 4 → 100.
           mapped = (10 + 60 + 100) / 3 = 170/3.
           P1 code 1 → 1; P2 code 1 → raw 1 → x' = 3. plain = (1 + 3) / 2 = 2.
    row 1: only M2 answered (code 5 → raw 4 → x' = 0 → 0): 1 < min_answered 2 → missing.
           P2 code 3 → raw 3 → x' = 1. plain = 1 (1 ≥ min_answered 1).
    row 2: M2 code 1 → raw 0 → x' = 4 → 100; M3 code 3 → raw 2 → 20: 2 answered,
           mapped = (100 + 20) / 2 = 60. Nothing answered in plain → missing.
    row 3: nothing answered → missing in both.
    """
    answers = np.array(
        [
            [2, 2, 5, 1, 1],
            [0, 5, 0, 0, 3],
            [0, 1, 3, 0, 0],
            [0, 0, 0, 0, 0],
        ],
        dtype=np.int8,
    )
    expected = np.array([[170 / 3, 2.0], [NAN, 1.0], [60.0, NAN], [NAN, NAN]])
    np.testing.assert_allclose(respondent_scores(answers, model), expected, rtol=0, atol=1e-12)


def test_every_point_of_a_reversed_mapped_item(model):
    """M2 alone can never reach min_answered 2, so pair it with M1 = code 1 (raw 0 → 0):
    mapped = (0 + values[4 - raw]) / 2 for raw 0..4 → (0 + [100, 60, 20, 10, 0]) / 2."""
    answers = np.array([[1, code, 0, 0, 0] for code in range(1, 6)], dtype=np.int8)
    scores = respondent_scores(answers, model)[:, 0]
    np.testing.assert_allclose(scores, [50.0, 30.0, 10.0, 5.0, 0.0], rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("column", "code"),
    [
        (3, 4),  # P1 is on the 3-point scale: code 4 lies past its max (within the widest scale)
        (4, 5),
        (0, 6),  # past every scale of the instrument
        (0, 127),
        (0, -1),  # a byte read as a negative int8
    ],
)
def test_a_code_outside_the_items_scale_is_refused(model, column, code):
    answers = np.array([[2, 2, 2, 2, 2], [1, 1, 1, 1, 1]], dtype=np.int8)
    answers[1, column] = code
    with pytest.raises(ScoringInputError):
        respondent_scores(answers, model)


def test_score_campaign_refuses_an_out_of_scale_code_too(model):
    answers = np.array([[2, 2, 2, 4, 2]] * 3, dtype=np.int8)
    with pytest.raises(ScoringInputError):
        score_campaign(
            answers=answers,
            response_departments=np.array([1, 1, 1]),
            departments=departments({1: None}),
            model=model,
            k=3,
        )


def test_answers_of_the_wrong_width_are_refused(model):
    with pytest.raises(ScoringInputError):
        respondent_scores(np.ones((2, 4), dtype=np.int8), model)


def test_no_respondents_gives_an_empty_score_matrix(model):
    assert respondent_scores(np.zeros((0, 5), dtype=np.int8), model).shape == (0, 2)
