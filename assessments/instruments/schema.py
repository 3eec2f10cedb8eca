"""The instrument definition format and its validator.

A definition (see FORMAT.md beside this file) is checked as a whole and every problem is
reported with its path, e.g. ``domains[3].items[2]: unknown item code 'D9'`` (indices count
from 0), so an author can fix a file in one pass. No Django import: this runs anywhere.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = 1
DIRECTIONS = ("higher_is_better", "higher_is_worse")
MAX_ITEMS = 250  # far beyond any survey people finish; keeps a runaway file from loading
MAX_GROUP_LENGTH = 40  # InstrumentDomain.group
MAX_SCALE_POINTS = 100
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
ITEM_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2}(-[a-z]{2})?$")

TOP_KEYS = {
    "format",
    "code",
    "version",
    "title",
    "description",
    "languages",
    "norms",
    "scales",
    "domains",
    "items",
}
REQUIRED_TOP_KEYS = (
    "format",
    "code",
    "version",
    "title",
    "languages",
    "scales",
    "domains",
    "items",
)
SCALE_KEYS = {"code", "min", "max", "labels", "values", "allow_skip"}
DOMAIN_KEYS = {
    "code",
    "group",
    "title",
    "description",
    "direction",
    "min_answered",
    "high_risk",
    "bands",
    "items",
}
ITEM_KEYS = {"code", "scale", "reverse", "text"}
BENCHMARK_KEYS = ("p20", "p50", "p80")


class InstrumentDefinitionError(ValueError):
    """A definition that failed validation; `errors` lists every problem with its path."""

    def __init__(self, errors: list[str], source: str = "") -> None:
        self.errors = errors
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(
            f"{prefix}{len(errors)} problem(s) in the instrument definition:\n"
            + "\n".join(f"  {e}" for e in errors)
        )


@dataclass
class _Checker:
    errors: list[str] = field(default_factory=list)

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}" if path else message)

    def unknown_keys(self, path: str, value: dict, allowed: set[str]) -> None:
        for key in value:
            if key not in allowed:
                self.error(_join(path, str(key)), f"unknown key '{key}'")

    def mapping(self, path: str, value: Any) -> dict | None:
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping, got {_kind(value)}")
            return None
        return value

    def list_(self, path: str, value: Any, *, non_empty: bool = True) -> list | None:
        if not isinstance(value, list):
            self.error(path, f"must be a list, got {_kind(value)}")
            return None
        if non_empty and not value:
            self.error(path, "must not be empty")
            return None
        return value

    def integer(self, path: str, value: Any, *, minimum: int | None = None) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(path, f"must be a whole number, got {_show(value)}")
            return None
        if minimum is not None and value < minimum:
            self.error(path, f"must be at least {minimum}, got {value}")
            return None
        return value

    def number(self, path: str, value: Any) -> float | None:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
        ):
            self.error(path, f"must be a number, got {_show(value)}")
            return None
        return float(value)

    def boolean(self, path: str, value: Any) -> bool | None:
        if not isinstance(value, bool):
            self.error(path, f"must be true or false, got {_show(value)}")
            return None
        return value

    def code(self, path: str, value: Any, pattern: re.Pattern = CODE_RE) -> str | None:
        if not isinstance(value, str) or not pattern.match(value):
            self.error(
                path,
                f"{_show(value)} is not a valid code (letters, digits, '_' or '-', "
                "starting with a letter or digit)",
            )
            return None
        return value

    def text_per_language(self, path: str, value: Any, languages: list[str]) -> dict | None:
        mapping = self.mapping(path, value)
        if mapping is None:
            return None
        ok = True
        for lang in mapping:
            if lang not in languages:
                self.error(_join(path, str(lang)), f"language '{lang}' is not in languages")
                ok = False
        for lang in languages:
            text = mapping.get(lang)
            if not isinstance(text, str) or not text.strip():
                self.error(_join(path, lang), "missing text in this language")
                ok = False
        return {lang: mapping[lang].strip() for lang in languages} if ok else None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def _show(value: Any) -> str:
    return repr(value) if value is not None else "nothing"


def validate_definition(raw: Any) -> dict:
    """Check a parsed definition; return it normalised, or raise InstrumentDefinitionError."""
    check = _Checker()
    top = check.mapping("", raw)
    if top is None:
        raise InstrumentDefinitionError(check.errors)
    check.unknown_keys("", top, TOP_KEYS)
    for key in REQUIRED_TOP_KEYS:
        # An empty value (`domains:` with nothing after it) is as missing as an absent key.
        if top.get(key) is None:
            check.error(key, "is required")
    if "format" in top and top["format"] != FORMAT_VERSION:
        check.error(
            "format", f"unsupported format {_show(top['format'])}; expected {FORMAT_VERSION}"
        )

    code = check.code("code", top["code"]) if "code" in top else None
    version = check.integer("version", top["version"], minimum=1) if "version" in top else None

    languages: list[str] = []
    if "languages" in top and (langs := check.list_("languages", top["languages"])) is not None:
        for i, lang in enumerate(langs):
            if not isinstance(lang, str) or not LANGUAGE_RE.match(lang):
                check.error(f"languages[{i}]", f"{_show(lang)} is not a language code like 'en'")
            elif lang in languages:
                check.error(f"languages[{i}]", f"language '{lang}' is listed twice")
            else:
                languages.append(lang)

    title = check.text_per_language("title", top["title"], languages) if "title" in top else None
    description = None
    if "description" in top:
        description = check.text_per_language("description", top["description"], languages)
    norms = _check_norms(check, top.get("norms"), languages)

    scales = _check_scales(check, top.get("scales"), languages)
    items = _check_items(check, top.get("items"), languages, scales)
    domains = _check_domains(check, top.get("domains"), languages, items, scales)

    if check.errors:
        raise InstrumentDefinitionError(check.errors)
    return {
        "format": FORMAT_VERSION,
        "code": code,
        "version": version,
        "title": title,
        "description": description,
        "languages": languages,
        "norms": norms,
        "scales": list(scales.values()),
        "domains": domains,
        # Items in domain order: an item's index here is its position in stored answers.
        "items": [items[c] for d in domains for c in d["items"]],
    }


def _check_norms(check: _Checker, raw: Any, languages: list[str]) -> dict:
    if raw is None:
        return {"normed": False, "note": None}
    norms = check.mapping("norms", raw)
    if norms is None:
        return {"normed": False, "note": None}
    check.unknown_keys("norms", norms, {"normed", "note"})
    normed = check.boolean("norms.normed", norms.get("normed"))
    note = None
    if "note" in norms:
        note = check.text_per_language("norms.note", norms["note"], languages)
    return {"normed": bool(normed), "note": note}


def _check_scales(check: _Checker, raw: Any, languages: list[str]) -> dict[str, dict]:
    scales: dict[str, dict] = {}
    if raw is None or (entries := check.list_("scales", raw)) is None:
        return scales
    for i, entry in enumerate(entries):
        path = f"scales[{i}]"
        scale = check.mapping(path, entry)
        if scale is None:
            continue
        check.unknown_keys(path, scale, SCALE_KEYS)
        code = check.code(f"{path}.code", scale.get("code"))
        if code is not None and code in scales:
            check.error(f"{path}.code", f"scale code '{code}' is used twice")
            code = None
        low = check.integer(f"{path}.min", scale.get("min"))
        high = check.integer(f"{path}.max", scale.get("max"))
        if low is None or high is None:
            continue
        if high <= low:
            check.error(f"{path}.max", f"must be greater than min ({low}), got {high}")
            continue
        points = high - low + 1
        if points > MAX_SCALE_POINTS:
            check.error(path, f"has {points} points; at most {MAX_SCALE_POINTS} are supported")
            continue
        labels = _check_labels(check, f"{path}.labels", scale.get("labels"), languages, points)
        values = list(range(low, high + 1))
        if "values" in scale:
            mapped = check.list_(f"{path}.values", scale["values"])
            if mapped is not None:
                if len(mapped) != points:
                    check.error(
                        f"{path}.values",
                        f"needs one value for each of the {points} points {low}..{high}, "
                        f"got {len(mapped)}",
                    )
                else:
                    numbers = [check.number(f"{path}.values[{j}]", v) for j, v in enumerate(mapped)]
                    if None not in numbers:
                        values = numbers
        allow_skip = scale.get("allow_skip", False)
        if check.boolean(f"{path}.allow_skip", allow_skip) is None:
            allow_skip = False
        if code is not None:
            scales[code] = {
                "code": code,
                "min": low,
                "max": high,
                "labels": labels,
                "values": values,
                "allow_skip": allow_skip,
            }
    return scales


def _check_labels(
    check: _Checker, path: str, raw: Any, languages: list[str], points: int
) -> dict | None:
    labels = check.mapping(path, raw)
    if labels is None:
        return None
    out = {}
    for lang in labels:
        if lang not in languages:
            check.error(_join(path, str(lang)), f"language '{lang}' is not in languages")
    for lang in languages:
        entry = labels.get(lang)
        if not isinstance(entry, list) or len(entry) != points:
            check.error(_join(path, lang), f"needs a list of {points} labels, one per point")
            continue
        if any(not isinstance(label, str) or not label.strip() for label in entry):
            check.error(_join(path, lang), "every label must be non-empty text")
            continue
        out[lang] = [label.strip() for label in entry]
    return out


def _check_items(
    check: _Checker, raw: Any, languages: list[str], scales: dict[str, dict]
) -> dict[str, dict]:
    items: dict[str, dict] = {}
    if raw is None or (entries := check.list_("items", raw)) is None:
        return items
    if len(entries) > MAX_ITEMS:
        check.error("items", f"has {len(entries)} items; at most {MAX_ITEMS} are supported")
    for i, entry in enumerate(entries):
        path = f"items[{i}]"
        item = check.mapping(path, entry)
        if item is None:
            continue
        check.unknown_keys(path, item, ITEM_KEYS)
        code = check.code(f"{path}.code", item.get("code"), ITEM_CODE_RE)
        if code is not None and code in items:
            check.error(f"{path}.code", f"item code '{code}' is used twice")
            code = None
        scale_code = item.get("scale")
        if scale_code not in scales:
            known = ", ".join(sorted(scales)) or "none defined"
            check.error(f"{path}.scale", f"unknown scale {_show(scale_code)} (known: {known})")
        reverse = item.get("reverse", False)
        if check.boolean(f"{path}.reverse", reverse) is None:
            reverse = False
        text = check.text_per_language(f"{path}.text", item.get("text"), languages)
        if code is not None:
            items[code] = {
                "code": code,
                "scale": scale_code,
                "reverse": reverse,
                "text": text,
                "_path": path,
            }
    return items


def _check_domains(
    check: _Checker,
    raw: Any,
    languages: list[str],
    items: dict[str, dict],
    scales: dict[str, dict],
) -> list[dict]:
    domains: list[dict] = []
    if raw is None or (entries := check.list_("domains", raw)) is None:
        return domains
    seen_codes: set[str] = set()
    owner: dict[str, str] = {}
    for i, entry in enumerate(entries):
        path = f"domains[{i}]"
        domain = check.mapping(path, entry)
        if domain is None:
            continue
        check.unknown_keys(path, domain, DOMAIN_KEYS)
        for key in ("code", "title", "direction", "min_answered", "high_risk", "bands", "items"):
            if domain.get(key) is None:
                check.error(_join(path, key), "is required")
        code = check.code(f"{path}.code", domain.get("code"))
        if code is not None and code in seen_codes:
            check.error(f"{path}.code", f"domain code '{code}' is used twice")
        seen_codes.add(code)
        title = check.text_per_language(f"{path}.title", domain.get("title"), languages)
        description = None
        if "description" in domain:
            description = check.text_per_language(
                f"{path}.description", domain["description"], languages
            )
        group = domain.get("group", "")
        if not isinstance(group, str):
            check.error(f"{path}.group", f"must be text, got {_show(group)}")
            group = ""
        elif len(group) > MAX_GROUP_LENGTH:
            check.error(
                f"{path}.group", f"is {len(group)} characters long; at most {MAX_GROUP_LENGTH}"
            )
        direction = domain.get("direction")
        if "direction" in domain and direction not in DIRECTIONS:
            check.error(
                f"{path}.direction",
                f"{_show(direction)} is not one of {', '.join(DIRECTIONS)}",
            )

        item_codes: list[str] = []
        raw_items = domain.get("items")
        if raw_items is not None and check.list_(f"{path}.items", raw_items) is not None:
            for j, item_code in enumerate(raw_items):
                item_path = f"{path}.items[{j}]"
                if item_code not in items:
                    check.error(item_path, f"unknown item code {_show(item_code)}")
                elif item_code in item_codes:
                    check.error(item_path, f"item '{item_code}' is listed twice in this domain")
                elif item_code in owner:
                    check.error(
                        item_path,
                        f"item '{item_code}' already belongs to domain '{owner[item_code]}'",
                    )
                else:
                    item_codes.append(item_code)
                    owner[item_code] = code or path

        score_range = _domain_score_range(check, path, item_codes, items, scales)
        min_answered = None
        if "min_answered" in domain:
            min_answered = check.integer(f"{path}.min_answered", domain["min_answered"], minimum=1)
            if min_answered is not None and item_codes and min_answered > len(item_codes):
                check.error(
                    f"{path}.min_answered",
                    f"is {min_answered} but the domain has only {len(item_codes)} item(s)",
                )
        high_risk = None
        if "high_risk" in domain:
            high_risk = check.number(f"{path}.high_risk", domain["high_risk"])
            _check_in_range(check, f"{path}.high_risk", high_risk, score_range)
        bands = _check_bands(check, f"{path}.bands", domain.get("bands"), score_range)

        domains.append(
            {
                "code": code,
                "group": group,
                "title": title,
                "description": description,
                "direction": direction,
                "min_answered": min_answered,
                "high_risk": high_risk,
                "bands": bands,
                "items": item_codes,
                "score_range": list(score_range) if score_range else None,
            }
        )
    for code, item in items.items():
        if code not in owner:
            check.error(item["_path"], f"item '{code}' is not in any domain")
        item.pop("_path", None)
    return domains


def _domain_score_range(
    check: _Checker, path: str, item_codes: list[str], items: dict, scales: dict
) -> tuple[float, float] | None:
    """The lowest and highest score any item of the domain can give; all items must agree."""
    ranges = {}
    for code in item_codes:
        scale = scales.get(items[code]["scale"])
        if scale is not None:
            ranges[code] = (min(scale["values"]), max(scale["values"]))
    distinct = set(ranges.values())
    if len(distinct) > 1:
        detail = ", ".join(f"{c}: {lo:g}..{hi:g}" for c, (lo, hi) in ranges.items())
        check.error(
            f"{path}.items",
            f"items of one domain must score on the same range so they can be averaged ({detail})",
        )
        return None
    return distinct.pop() if distinct else None


def _check_in_range(
    check: _Checker, path: str, value: float | None, score_range: tuple[float, float] | None
) -> None:
    if value is None or score_range is None:
        return
    low, high = score_range
    if not low <= value <= high:
        check.error(path, f"{value:g} lies outside the domain's score range {low:g}..{high:g}")


def _check_bands(
    check: _Checker, path: str, raw: Any, score_range: tuple[float, float] | None
) -> dict | None:
    if raw is None:
        return None
    bands = check.mapping(path, raw)
    if bands is None:
        return None
    check.unknown_keys(path, bands, {"absolute", "benchmark"})
    if "absolute" not in bands and "benchmark" not in bands:
        check.error(path, "needs absolute cut-offs, benchmark percentiles, or both")
        return None
    out: dict[str, Any] = {"absolute": None, "benchmark": None}
    if "absolute" in bands:
        cutoffs = check.list_(f"{path}.absolute", bands["absolute"])
        if cutoffs is not None:
            if len(cutoffs) != 3:
                check.error(
                    f"{path}.absolute",
                    "needs exactly 3 ascending cut-offs between the four bands, "
                    f"got {len(cutoffs)}",
                )
            else:
                numbers = [check.number(f"{path}.absolute[{j}]", v) for j, v in enumerate(cutoffs)]
                if None not in numbers:
                    if not numbers[0] < numbers[1] < numbers[2]:
                        check.error(
                            f"{path}.absolute", f"must be strictly ascending, got {cutoffs}"
                        )
                    for j, value in enumerate(numbers):
                        _check_in_range(check, f"{path}.absolute[{j}]", value, score_range)
                    out["absolute"] = numbers
    if "benchmark" in bands:
        bench = check.mapping(f"{path}.benchmark", bands["benchmark"])
        if bench is not None:
            check.unknown_keys(f"{path}.benchmark", bench, set(BENCHMARK_KEYS))
            values = {}
            for key in BENCHMARK_KEYS:
                if key not in bench:
                    check.error(f"{path}.benchmark.{key}", "is required")
                    continue
                values[key] = check.number(f"{path}.benchmark.{key}", bench[key])
                _check_in_range(check, f"{path}.benchmark.{key}", values[key], score_range)
            if len(values) == 3 and None not in values.values():
                if not values["p20"] <= values["p50"] <= values["p80"]:
                    check.error(f"{path}.benchmark", "percentiles must satisfy p20 <= p50 <= p80")
                else:
                    out["benchmark"] = values
    return out
