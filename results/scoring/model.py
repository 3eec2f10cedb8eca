"""The parts of an instrument definition that scoring needs, as arrays. No Django import."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HIGHER_IS_WORSE = "higher_is_worse"
HIGHER_IS_BETTER = "higher_is_better"


@dataclass(frozen=True)
class DomainModel:
    code: str
    direction: str
    min_answered: int
    high_risk: float
    cutoffs: tuple[float, float, float]  # a < b < c between the four bands
    normed: bool  # True when the cut-offs are benchmark percentiles (p20, p50, p80)
    low: float  # lowest score an item can give
    high: float  # highest score an item can give
    start: int  # the domain's items are answers[start:stop]
    stop: int


@dataclass(frozen=True)
class InstrumentModel:
    domains: tuple[DomainModel, ...]
    # lookup[i, code] is item i's score for stored code 0..n (reverse keys and value maps
    # applied); NaN for code 0 (not answered) and for codes past the item's scale.
    lookup: np.ndarray

    @property
    def item_count(self) -> int:
        return self.lookup.shape[0]

    @classmethod
    def from_definition(cls, definition: dict) -> InstrumentModel:
        """Build from a validated, normalised definition (see assessments/instruments)."""
        scales = {scale["code"]: scale for scale in definition["scales"]}
        items = definition["items"]
        width = 1 + max(len(scales[item["scale"]]["values"]) for item in items)
        lookup = np.full((len(items), width), np.nan)
        for index, item in enumerate(items):
            values = list(scales[item["scale"]]["values"])
            if item["reverse"]:
                # min + max - x on the raw points, then the value map.
                values = values[::-1]
            lookup[index, 1 : len(values) + 1] = values
        position = {item["code"]: index for index, item in enumerate(items)}
        domains = []
        for domain in definition["domains"]:
            indices = [position[code] for code in domain["items"]]
            start, stop = min(indices), max(indices) + 1
            if indices != list(range(start, stop)):
                raise ValueError(f"domain {domain['code']}: items are not contiguous")
            bands = domain["bands"]
            benchmark = bands.get("benchmark")
            if benchmark:
                cutoffs = (benchmark["p20"], benchmark["p50"], benchmark["p80"])
            else:
                cutoffs = tuple(bands["absolute"])
            low, high = domain["score_range"]
            domains.append(
                DomainModel(
                    code=domain["code"],
                    direction=domain["direction"],
                    min_answered=domain["min_answered"],
                    high_risk=float(domain["high_risk"]),
                    cutoffs=tuple(float(c) for c in cutoffs),
                    normed=bool(benchmark),
                    low=float(low),
                    high=float(high),
                    start=start,
                    stop=stop,
                )
            )
        return cls(domains=tuple(domains), lookup=lookup)
