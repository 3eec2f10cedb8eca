"""Reading rendered PDFs with poppler-utils, as a person would read them: text and pixels."""

from __future__ import annotations

import re
import subprocess
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path


def pdf_text(pdf: bytes) -> str:
    """The text of a PDF laid out as on the page (`pdftotext -layout`)."""
    return subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", "-", "-"],
        input=pdf,
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")


def flat(text: str) -> str:
    """Text with every run of whitespace (line breaks included) turned into one space."""
    return " ".join(text.split())


def pdfinfo(pdf: bytes) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout
    return {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in out.decode().splitlines())
    }


def html_text(html: str) -> str:
    """What an HTML document says, without its tags (entities left as they are)."""
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def whole(value: float) -> str:
    """A figure as `floatformat:0` shows it (half up)."""
    return str(Decimal(repr(value)).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def two_places(value: float, separator: str = ".") -> str:
    """A figure as `floatformat:2` shows it, with the language's decimal separator."""
    text = str(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
    return text.replace(".", separator)


def read_pgm(path: Path) -> tuple[int, int, bytes]:
    """Width, height and grey pixels (0 black .. 255 white) of a binary PGM (P5) file."""
    data = path.read_bytes()
    fields: list[bytes] = []
    position = 0
    while len(fields) < 4:  # magic, width, height, maxval; comments start with '#'
        while data[position : position + 1].isspace():
            position += 1
        if data[position : position + 1] == b"#":
            position = data.index(b"\n", position) + 1
            continue
        start = position
        while not data[position : position + 1].isspace():
            position += 1
        fields.append(data[start:position])
    magic, width, height, maxval = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
    assert magic == b"P5" and maxval == 255, (magic, maxval)
    pixels = data[position + 1 : position + 1 + width * height]
    assert len(pixels) == width * height
    return width, height, pixels
