"""Pure scoring: numpy and pandas only, no Django. DataFrames and arrays in, DataFrames out."""

from results.scoring.engine import OVERALL, RESPONDENTS, ScoringInputError, score_campaign
from results.scoring.model import InstrumentModel

__all__ = ["OVERALL", "RESPONDENTS", "InstrumentModel", "ScoringInputError", "score_campaign"]
