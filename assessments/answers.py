"""The compact answer format of a Response: one byte per item, in the instrument's item order.

A byte holds the scale position of the answer (1 for the scale's minimum, 2 for the next, ...);
0 means not answered or "prefer not to answer". So a campaign's answers load into an int8
matrix with `numpy.frombuffer` and no per-answer parsing.
"""

from __future__ import annotations

from collections.abc import Sequence

NOT_ANSWERED = 0


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
