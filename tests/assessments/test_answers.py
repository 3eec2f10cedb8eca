"""The compact answer format: one byte per item, scale position, 0 for no answer."""

import numpy as np
import pytest

from assessments.answers import decode_answers, encode_answers, parse_answers

LIKERT = {"min": 1, "max": 5}
ZERO_TO_SIX = {"min": 0, "max": 6}


def test_round_trip_with_scales_starting_at_zero_and_one():
    scales = [LIKERT, ZERO_TO_SIX, LIKERT, ZERO_TO_SIX]
    values = [5, 0, None, 6]
    packed = encode_answers(values, scales)
    assert packed == bytes([5, 1, 0, 7])
    assert decode_answers(packed, scales) == values


def test_a_campaign_loads_as_an_int8_matrix():
    rows = [encode_answers([1, 2, None], [LIKERT] * 3), encode_answers([5, None, 3], [LIKERT] * 3)]
    matrix = np.frombuffer(b"".join(rows), dtype=np.int8).reshape(len(rows), 3)
    assert matrix.tolist() == [[1, 2, 0], [5, 0, 3]]


def test_out_of_range_value_names_the_answer():
    with pytest.raises(ValueError, match=r"answer 2: 6 is outside the scale 1\.\.5"):
        encode_answers([1, 6], [LIKERT, LIKERT])


def test_wrong_number_of_answers():
    with pytest.raises(ValueError, match="expected 2 answers, got 1"):
        encode_answers([1], [LIKERT, LIKERT])
    with pytest.raises(ValueError, match="expected 1 answers, got 2"):
        decode_answers(b"\x01\x02", [LIKERT])


class _Item:
    def __init__(self, code, number, scale):
        self.code, self.number, self.scale = code, number, scale


@pytest.mark.parametrize("raw", ["\u0663", "\uff13", "3.0", "+3", " 3x", "\u00b2"])
def test_only_ascii_digits_are_answers(raw):
    values, errors = parse_answers([_Item("Q1", 1, LIKERT)], {"Q1": raw})
    assert values == [None]
    assert [(e.code, e.kind) for e in errors] == [("Q1", "out_of_range")]


def test_ascii_digits_with_spaces_are_answers():
    values, errors = parse_answers([_Item("Q1", 1, LIKERT)], {"Q1": " 3 "})
    assert (values, errors) == ([3], [])


def test_a_question_sent_twice_is_refused():
    items = [_Item("Q1", 1, LIKERT), _Item("Q2", 2, LIKERT)]
    values, errors = parse_answers(items, {"Q1": ["2", "5"], "Q2": ["4"]})
    assert values == [None, 4]
    assert [(e.code, e.kind) for e in errors] == [("Q1", "duplicate")]
