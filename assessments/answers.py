"""The compact answer format of a Response: one byte per item, in the instrument's item order.

A byte holds the scale position of the answer (1 for the scale's minimum, 2 for the next, ...);
0 means not answered or "prefer not to answer". So a campaign's answers load into an int8
matrix with `numpy.frombuffer` and no per-answer parsing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

NOT_ANSWERED = 0
SKIP = "skip"  # the form value of "prefer not to answer"


def encode_answers(values: Sequence[int | None], scales: Sequence[dict]) -> bytes:
    """Pack raw scale values (None for no answer) for items whose scales are given in order."""
    if len(values) != len(scales):
        raise ValueError(f"expected {len(scales)} answers, got {len(values)}")
    packed = bytearray(len(values))
    for index, (value, scale) in enumerate(zip(values, scales, strict=True)):
        if value is None:
            continue
        if not scale["min"] <= value <= scale["max"]:
            raise ValueError(
                f"answer {index + 1}: {value} is outside the scale {scale['min']}..{scale['max']}"
            )
        packed[index] = value - scale["min"] + 1
    return bytes(packed)


def decode_answers(packed: bytes, scales: Sequence[dict]) -> list[int | None]:
    """Unpack to raw scale values, None where nothing was answered."""
    if len(packed) != len(scales):
        raise ValueError(f"expected {len(scales)} answers, got {len(packed)}")
    return [
        None if code == NOT_ANSWERED else scale["min"] + code - 1
        for code, scale in zip(packed, scales, strict=True)
    ]


class _Item(Protocol):
    code: str
    number: int
    scale: dict


@dataclass(frozen=True)
class AnswerError:
    """A problem with one question's answer, or with a field that is not a question."""

    code: str
    number: int | None  # the question number shown to the respondent; None for unknown fields
    kind: str  # "missing", "out_of_range", "skip_not_allowed", "unknown", "duplicate"
    value: str = ""


def parse_answers(
    items: Sequence[_Item], submitted: Mapping[str, Any]
) -> tuple[list[int | None], list[AnswerError]]:
    """Turn submitted form values into raw scale values (None for "prefer not to answer").

    Every question needs an answer, or "prefer not to answer" where its scale offers it. A
    value given as a list (the same field posted more than once) is refused unless it holds
    one answer; answers are written in ASCII digits.
    Returns the values in item order and the list of problems (empty when all is well).
    """
    known = {item.code for item in items}
    errors = [
        AnswerError(code=str(code), number=None, kind="unknown", value=str(code))
        for code in submitted
        if code not in known
    ]
    values: list[int | None] = []
    for item in items:
        raw = submitted.get(item.code)
        if isinstance(raw, list | tuple):
            if len(raw) > 1:  # the same question twice: which one was meant is unknowable
                errors.append(AnswerError(item.code, item.number, "duplicate"))
                values.append(None)
                continue
            raw = raw[0] if raw else None
        raw = "" if raw is None else str(raw).strip()
        scale = item.scale
        if raw == "":
            errors.append(AnswerError(item.code, item.number, "missing"))
            values.append(None)
        elif raw == SKIP:
            if not scale.get("allow_skip"):
                errors.append(AnswerError(item.code, item.number, "skip_not_allowed"))
            values.append(None)
        else:
            # ASCII digits only: int() would also take Arabic-Indic or full-width digits.
            value = int(raw) if raw.isascii() and raw.isdigit() else None
            if value is None or not scale["min"] <= value <= scale["max"]:
                errors.append(AnswerError(item.code, item.number, "out_of_range", raw[:20]))
                value = None
            values.append(value)
    return values, errors
