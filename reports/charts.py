"""Server-side SVG charts for the PDF reports (and later the HR pages). No JavaScript, no
external files: each function returns an SVG string that is inlined in the HTML.

Bands are told apart by colour *and* by a symbol and text, so a chart reads in black and white
and for colour-blind readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.html import escape

BAND_ORDER = ("urgent", "improve", "good", "well")
BAND_COLOURS = {"urgent": "#b03a2e", "improve": "#d68910", "good": "#7d9d3a", "well": "#1e8449"}
# Shapes from DejaVu Sans, which the report font stack includes.
BAND_SYMBOLS = {"urgent": "▲▲", "improve": "▲", "good": "●", "well": "✓"}


def whole(value: float) -> str:
    """A score rounded half up, as the templates' `floatformat:0` shows it, so a bar and a
    table never disagree (Python's own formatting rounds 62.5 to 62)."""
    return str(Decimal(repr(value)).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Bar:
    label: str
    value: float  # 0..100 risk score
    band: str
    note: str = ""  # e.g. "n = 23"


def _shortened(label: str, characters: int) -> str:
    return label if len(label) <= characters else label[: max(characters - 1, 1)].rstrip() + "…"


def risk_bars(bars: Sequence[Bar], *, width: int = 640, title: str = "") -> str:
    """Horizontal bars of risk scores (0 best, 100 worst), each labelled with its number and
    band symbol."""
    row, top = 22, 24
    # Wide enough for the longest label (DejaVu Sans at 10 px: about 6.2 px a character), up
    # to 45% of the chart; longer labels are shortened with an ellipsis rather than clipped.
    longest = max((len(bar.label) for bar in bars), default=0)
    label_width = min(max(120, int(longest * 6.2) + 12), int(width * 0.45))
    fits = int((label_width - 12) / 6.2)
    plot = width - label_width - 70
    height = top + row * len(bars) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'font-family="DejaVu Sans, sans-serif" font-size="10">'
    ]
    for tick in (0, 25, 50, 75, 100):
        x = label_width + plot * tick / 100
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 20}" '
            'stroke="#d0d7de" stroke-width="0.6"/>'
            f'<text x="{x:.1f}" y="{top - 10}" text-anchor="middle" fill="#4a5a6a">{tick}</text>'
        )
    for i, bar in enumerate(bars):
        y = top + i * row
        length = plot * max(0.0, min(bar.value, 100.0)) / 100
        colour = BAND_COLOURS.get(bar.band, "#7f8c8d")
        symbol = BAND_SYMBOLS.get(bar.band, "")
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 14}" text-anchor="end" fill="#1b2a3a">'
            f"{escape(_shortened(bar.label, fits))}</text>"
            f'<rect x="{label_width}" y="{y + 4}" width="{length:.1f}" height="{row - 8}" '
            f'fill="{colour}"/>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 14}" fill="#1b2a3a">'
            f"{whole(bar.value)} {symbol}{(' · ' + escape(bar.note)) if bar.note else ''}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def band_distribution(
    counts: dict[str, int], *, labels: dict[str, str], width: int = 640, title: str = ""
) -> str:
    """One stacked bar: the share of respondents in each band, with the share written on it
    and the band named in a legend below."""
    total = sum(counts.get(band, 0) for band in BAND_ORDER)
    height = 58
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'font-family="DejaVu Sans, sans-serif" font-size="10">'
    ]
    x = 0.0
    for band in BAND_ORDER:
        share = counts.get(band, 0) / total if total else 0.0
        length = width * share
        if length > 0:
            parts.append(
                f'<rect x="{x:.1f}" y="0" width="{length:.1f}" height="22" '
                f'fill="{BAND_COLOURS[band]}" stroke="#ffffff" stroke-width="1"/>'
            )
            if length > 34:
                parts.append(
                    f'<text x="{x + length / 2:.1f}" y="15" text-anchor="middle" '
                    f'fill="#ffffff">{share:.0%}</text>'
                )
        x += length
    legend_x = 0
    for band in BAND_ORDER:
        share = counts.get(band, 0) / total if total else 0.0
        text = f"{BAND_SYMBOLS[band]} {labels[band]} {share:.0%}"
        parts.append(
            f'<rect x="{legend_x}" y="34" width="10" height="10" fill="{BAND_COLOURS[band]}"/>'
            f'<text x="{legend_x + 14}" y="43" fill="#1b2a3a">{escape(text)}</text>'
        )
        legend_x += width // 4
    parts.append("</svg>")
    return "".join(parts)
