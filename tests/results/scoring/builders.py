"""Small helpers for the pure scoring tests: synthetic instruments, trees and result lookups.

No Django, no database. Every instrument here is synthetic: item text is "Item 1", "Item 2", ...
and scale labels are "Point 1", ...; never paste wording from a published questionnaire.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from assessments.instruments.schema import validate_definition
from results.scoring.model import InstrumentModel

FIGURES = [
    "n", "mean", "sd", "share_high_risk", "risk_score", "band",
    "trend_diff", "trend_ci_low", "trend_ci_high", "trend_significant", "band_counts",
]  # fmt: skip


def scale(code: str, low: int, high: int, values: list[float] | None = None) -> dict:
    """A scale with placeholder labels, optionally with a value map."""
    entry = {
        "code": code,
        "min": low,
        "max": high,
        "labels": {"en": [f"Point {p}" for p in range(low, high + 1)]},
    }
    if values is not None:
        entry["values"] = values
    return entry


def domain(
    code: str,
    items: list[str],
    *,
    direction: str,
    min_answered: int = 1,
    high_risk: float,
    absolute: list[float] | None = None,
    benchmark: tuple[float, float, float] | None = None,
) -> dict:
    bands: dict = {}
    if absolute is not None:
        bands["absolute"] = absolute
    if benchmark is not None:
        bands["benchmark"] = dict(zip(("p20", "p50", "p80"), benchmark, strict=True))
    return {
        "code": code,
        "title": {"en": code.title()},
        "direction": direction,
        "min_answered": min_answered,
        "high_risk": high_risk,
        "bands": bands,
        "items": items,
    }


def instrument(scales: list[dict], domains: list[dict], items: list[tuple]) -> InstrumentModel:
    """Validate a synthetic definition and build its scoring model.

    `items` are (code, scale code) or (code, scale code, reverse) tuples; their text is
    "Item 1", "Item 2", ... in the order given.
    """
    raw = {
        "format": 1,
        "code": "synthetic-test",
        "version": 1,
        "title": {"en": "Synthetic test instrument"},
        "languages": ["en"],
        "scales": scales,
        "domains": domains,
        "items": [
            {
                "code": entry[0],
                "scale": entry[1],
                "reverse": len(entry) > 2 and entry[2],
                "text": {"en": f"Item {number}"},
            }
            for number, entry in enumerate(items, start=1)
        ],
    }
    return InstrumentModel.from_definition(validate_definition(raw))


def one_item_model() -> InstrumentModel:
    """One domain "x" of one 1..5 item: a respondent's score is their raw answer."""
    return instrument(
        [scale("s5", 1, 5)],
        [domain("x", ["X1"], direction="higher_is_worse", high_risk=4, absolute=[2, 3, 4])],
        [("X1", "s5")],
    )


def departments(parents: dict[int, int | None]) -> pd.DataFrame:
    """The departments frame score_campaign takes, from {id: parent id or None}."""
    return pd.DataFrame(
        {
            "id": pd.array(list(parents), dtype="Int64"),
            "parent_id": pd.array(list(parents.values()), dtype="Int64"),
        }
    )


def people(counts: dict[int, int]) -> np.ndarray:
    """response_departments for {department id: number of respondents attached directly}."""
    return np.array([d for d, count in counts.items() for _ in range(count)], dtype=np.int64)


def cell(frame: pd.DataFrame, department_id: int | None, domain_code: str, value: str = ""):
    """The one result row of a department (None: the organisation) and domain."""
    rows = frame[
        (
            frame["department_id"].isna()
            if department_id is None
            else frame["department_id"].eq(department_id).fillna(False)
        )
        & frame["domain_code"].eq(domain_code)
        & frame["breakdown_value"].eq(value)
    ]
    assert len(rows) == 1, f"expected one row for {department_id}/{domain_code}/{value!r}"
    return rows.iloc[0]


def assert_suppressed(row) -> None:
    """A suppressed cell carries no figure at all, n included."""
    assert bool(row["suppressed"]) is True
    for column in FIGURES:
        assert pd.isna(row[column]), f"suppressed cell shows {column}={row[column]!r}"


def published_ns(frame: pd.DataFrame, domain_code: str = "x") -> dict:
    """{(department_id or None, breakdown_value): n} of the published cells of one domain."""
    shown = frame[frame["domain_code"].eq(domain_code) & ~frame["suppressed"]]
    return {
        (None if pd.isna(row.department_id) else int(row.department_id), row.breakdown_value): int(
            row.n
        )
        for row in shown.itertuples(index=False)
    }
