"""The table lookup and the item-by-item path score answers identically."""

from pathlib import Path

import numpy as np
import pytest

from assessments.instruments.loader import parse_definition_file
from results.scoring import InstrumentModel, engine

CORE = Path(__file__).parents[3] / "assessments/instruments/definitions/plimsoll-core-v1.yaml"


def test_lookup_tables_and_item_by_item_agree(monkeypatch):
    model = InstrumentModel.from_definition(parse_definition_file(CORE))
    rng = np.random.default_rng(4)
    answers = rng.integers(0, 6, size=(5000, model.item_count)).astype(np.int8)
    by_table = engine.respondent_scores(answers, model)
    monkeypatch.setattr(engine, "MAX_TABLE", 1)  # every domain takes the slow path
    by_item = engine.respondent_scores(answers, model)
    assert np.array_equal(by_table, by_item, equal_nan=True)
    assert np.isnan(by_table).any() and not np.isnan(by_table).all()


@pytest.mark.parametrize("max_table", [1, engine.MAX_TABLE])
def test_code_outside_a_scale_is_refused_on_both_paths(monkeypatch, max_table):
    model = InstrumentModel.from_definition(parse_definition_file(CORE))
    monkeypatch.setattr(engine, "MAX_TABLE", max_table)
    answers = np.full((3, model.item_count), 3, dtype=np.int8)
    answers[1, 4] = 6  # the scale has five points
    with pytest.raises(engine.ScoringInputError):
        engine.respondent_scores(answers, model)
