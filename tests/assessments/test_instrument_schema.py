"""The instrument definition validator: what it accepts, how it normalises, every error it reports.

Pure tests, no database. All definitions are synthetic: item text is "Item 1", "Aussage 1" and
so on. Never paste wording from a published questionnaire into these tests.
"""

import copy
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import assessments.instruments
from assessments.instruments.loader import parse_definition_file
from assessments.instruments.schema import (
    MAX_ITEMS,
    REQUIRED_TOP_KEYS,
    InstrumentDefinitionError,
    validate_definition,
)

SHIPPED_CORE = (
    Path(assessments.instruments.__file__).parent / "definitions" / "plimsoll-core-v1.yaml"
)


def minimal_definition() -> dict:
    """The smallest valid definition: one 1..5 scale, two items, one domain. A fresh dict."""
    return {
        "format": 1,
        "code": "mini",
        "version": 1,
        "title": {"en": "Mini instrument"},
        "languages": ["en"],
        "scales": [
            {
                "code": "s5",
                "min": 1,
                "max": 5,
                "labels": {"en": ["Point 1", "Point 2", "Point 3", "Point 4", "Point 5"]},
            }
        ],
        "domains": [
            {
                "code": "alpha",
                "title": {"en": "Alpha"},
                "direction": "higher_is_better",
                "min_answered": 1,
                "high_risk": 2.0,
                "bands": {"absolute": [2.0, 3.0, 4.0]},
                "items": ["A1", "A2"],
            }
        ],
        "items": [
            {"code": "A1", "scale": "s5", "text": {"en": "Item 1"}},
            {"code": "A2", "scale": "s5", "text": {"en": "Item 2"}},
        ],
    }


def second_domain(code: str = "beta", items: list[str] | None = None) -> dict:
    return {
        "code": code,
        "title": {"en": code.title()},
        "direction": "higher_is_worse",
        "min_answered": 1,
        "high_risk": 4.0,
        "bands": {"absolute": [2.0, 3.0, 4.0]},
        "items": items if items is not None else ["B1"],
    }


def item(code: str, text: str, scale: str = "s5", **extra) -> dict:
    return {"code": code, "scale": scale, "text": {"en": text}, **extra}


def errors_of(definition) -> list[str]:
    with pytest.raises(InstrumentDefinitionError) as info:
        validate_definition(definition)
    return info.value.errors


def hse_style_definition() -> dict:
    """Like the HSE Indicator Tool in shape: 1..5 scales, both directions, reverse items and
    benchmark percentiles. Wording and numbers are invented."""
    agree = {"en": [f"Agree {n}" for n in range(1, 6)]}
    often = {"en": [f"Often {n}" for n in range(1, 6)]}

    def domain(code, direction, items, bench):
        p20, p50, p80 = bench
        return {
            "code": code,
            "group": "stressor",
            "title": {"en": f"Domain {code}"},
            "direction": direction,
            "min_answered": 2,
            "high_risk": 2.0 if direction == "higher_is_better" else 4.0,
            "bands": {"benchmark": {"p20": p20, "p50": p50, "p80": p80}},
            "items": items,
        }

    return {
        "format": 1,
        "code": "hse-style",
        "version": 3,
        "title": {"en": "Synthetic indicator-tool style instrument"},
        "languages": ["en"],
        "norms": {"normed": True, "note": {"en": "Invented benchmark for tests."}},
        "scales": [
            {"code": "often5", "min": 1, "max": 5, "labels": often, "allow_skip": False},
            {"code": "agree5", "min": 1, "max": 5, "labels": agree},
        ],
        "domains": [
            domain("demands", "higher_is_worse", ["D1", "D2", "D3"], (2.1, 2.6, 3.2)),
            domain("control", "higher_is_better", ["C1", "C2"], (3.0, 3.5, 4.0)),
            domain("support", "higher_is_better", ["S1", "S2", "S3"], (3.2, 3.8, 4.2)),
            domain("conflict", "higher_is_worse", ["R1", "R2"], (1.5, 1.5, 2.2)),
        ],
        "items": [
            item("D1", "Item 1", "often5"),
            item("D2", "Item 2", "often5", reverse=True),
            item("D3", "Item 3", "often5"),
            item("C1", "Item 4", "often5"),
            item("C2", "Item 5", "often5", reverse=True),
            item("S1", "Item 6", "agree5"),
            item("S2", "Item 7", "agree5"),
            item("S3", "Item 8", "agree5", reverse=True),
            item("R1", "Item 9", "often5"),
            item("R2", "Item 10", "often5"),
        ],
    }


def cbi_style_definition() -> dict:
    """Like the Copenhagen Burnout Inventory in shape: five points mapped onto 0..100, a reverse
    item, absolute cut-offs on 0..100. Wording is invented."""

    def domain(code, items):
        return {
            "code": code,
            "group": "burnout",
            "title": {"en": f"Burnout {code}", "de": f"Burnout {code}"},
            "direction": "higher_is_worse",
            "min_answered": len(items) - 1,
            "high_risk": 50,
            "bands": {"absolute": [25, 50, 75]},
            "items": items,
        }

    def text(n):
        return {"en": f"Item {n}", "de": f"Aussage {n}"}

    return {
        "format": 1,
        "code": "cbi-style",
        "version": 1,
        "title": {"en": "Synthetic burnout inventory", "de": "Synthetisches Burnout-Inventar"},
        "languages": ["en", "de"],
        "scales": [
            {
                "code": "freq5",
                "min": 1,
                "max": 5,
                "values": [100, 75, 50, 25, 0],
                "allow_skip": True,
                "labels": {
                    "en": [f"Level {n}" for n in range(1, 6)],
                    "de": [f"Stufe {n}" for n in range(1, 6)],
                },
            }
        ],
        "domains": [
            domain("personal", ["P1", "P2", "P3"]),
            domain("work", ["W1", "W2", "W3", "W4"]),
        ],
        "items": [
            {"code": "P1", "scale": "freq5", "text": text(1)},
            {"code": "P2", "scale": "freq5", "text": text(2)},
            {"code": "P3", "scale": "freq5", "text": text(3)},
            {"code": "W1", "scale": "freq5", "text": text(4)},
            {"code": "W2", "scale": "freq5", "text": text(5)},
            {"code": "W3", "scale": "freq5", "text": text(6), "reverse": True},
            {"code": "W4", "scale": "freq5", "text": text(7)},
        ],
    }


# --- Valid definitions and normalisation ------------------------------------------------------


def test_minimal_definition_is_valid_and_gets_defaults():
    result = validate_definition(minimal_definition())

    assert result["code"] == "mini"
    assert result["version"] == 1
    assert result["description"] is None
    assert result["norms"] == {"normed": False, "note": None}
    assert result["scales"][0]["values"] == [1, 2, 3, 4, 5]
    assert result["scales"][0]["allow_skip"] is False
    domain = result["domains"][0]
    assert domain["group"] == ""
    assert domain["description"] is None
    assert domain["score_range"] == [1, 5]
    assert domain["bands"] == {"absolute": [2.0, 3.0, 4.0], "benchmark": None}
    assert [i["reverse"] for i in result["items"]] == [False, False]
    assert all("_path" not in i for i in result["items"])


def test_builder_returns_a_fresh_dict():
    first = minimal_definition()
    first["domains"][0]["items"].append("X")
    assert minimal_definition()["domains"][0]["items"] == ["A1", "A2"]


def test_validation_does_not_change_its_input():
    raw = minimal_definition()
    raw["items"][0]["text"]["en"] = "  Item 1  "
    before = copy.deepcopy(raw)
    result = validate_definition(raw)
    assert raw == before
    assert result["items"][0]["text"] == {"en": "Item 1"}


def test_hse_style_instrument_with_benchmark_percentiles():
    result = validate_definition(hse_style_definition())

    assert result["norms"] == {"normed": True, "note": {"en": "Invented benchmark for tests."}}
    assert [d["direction"] for d in result["domains"]] == [
        "higher_is_worse",
        "higher_is_better",
        "higher_is_better",
        "higher_is_worse",
    ]
    demands = result["domains"][0]
    assert demands["bands"] == {"absolute": None, "benchmark": {"p20": 2.1, "p50": 2.6, "p80": 3.2}}
    # Equal neighbouring percentiles are allowed (a small benchmark sample can tie).
    assert result["domains"][3]["bands"]["benchmark"] == {"p20": 1.5, "p50": 1.5, "p80": 2.2}
    assert all(d["score_range"] == [1, 5] for d in result["domains"])
    assert {i["code"] for i in result["items"] if i["reverse"]} == {"D2", "C2", "S3"}
    assert [s["code"] for s in result["scales"]] == ["often5", "agree5"]
    assert next(i for i in result["items"] if i["code"] == "S1")["scale"] == "agree5"


def test_cbi_style_instrument_with_value_map():
    result = validate_definition(cbi_style_definition())

    scale = result["scales"][0]
    assert scale["values"] == [100, 75, 50, 25, 0]
    assert (scale["min"], scale["max"], scale["allow_skip"]) == (1, 5, True)
    for domain in result["domains"]:
        assert domain["score_range"] == [0, 100]
        assert domain["high_risk"] == 50
        assert domain["bands"]["absolute"] == [25, 50, 75]
    assert [d["min_answered"] for d in result["domains"]] == [2, 3]
    assert [i["code"] for i in result["items"] if i["reverse"]] == ["W3"]
    assert result["items"][0]["text"] == {"en": "Item 1", "de": "Aussage 1"}


def test_value_map_sets_the_score_range_that_cut_offs_are_checked_against():
    # Without the value map the same 0..100 cut-offs lie outside the raw 1..5 range.
    raw = cbi_style_definition()
    del raw["scales"][0]["values"]
    errors = errors_of(raw)
    assert "domains[0].high_risk: 50 lies outside the domain's score range 1..5" in errors
    assert "domains[0].bands.absolute[2]: 75 lies outside the domain's score range 1..5" in errors


def test_value_map_may_ascend_and_use_decimals():
    raw = cbi_style_definition()
    raw["scales"][0]["values"] = [0, 25, 50, 75, 100.0]
    result = validate_definition(raw)
    assert result["scales"][0]["values"] == [0, 25, 50, 75, 100]
    assert result["domains"][0]["score_range"] == [0, 100]


def test_shipped_core_instrument_parses():
    result = parse_definition_file(SHIPPED_CORE)

    assert (result["code"], result["version"]) == ("plimsoll-core", 1)
    assert result["languages"] == ["en", "de"]
    assert len(result["items"]) == 42
    assert len(result["domains"]) == 10
    assert result["norms"]["normed"] is False
    assert set(result["norms"]["note"]) == {"en", "de"}
    assert all(text.strip() for text in result["norms"]["note"].values())
    assert sum(len(d["items"]) for d in result["domains"]) == 42
    assert [i["code"] for i in result["items"]] == [
        c for d in result["domains"] for c in d["items"]
    ]


def test_items_are_ordered_by_domain_order():
    raw = minimal_definition()
    raw["domains"].append(second_domain(items=["B2", "B1"]))
    # Listed in the file in an order that differs from the domains' order.
    raw["items"] = [
        item("B1", "Item 1"),
        item("A2", "Item 2"),
        item("B2", "Item 3"),
        item("A1", "Item 4"),
    ]
    raw["domains"][0]["items"] = ["A1", "A2"]

    result = validate_definition(raw)

    # An item's index in the normalised list is its position in stored answers.
    assert [i["code"] for i in result["items"]] == ["A1", "A2", "B2", "B1"]
    assert [i["text"]["en"] for i in result["items"]] == ["Item 4", "Item 2", "Item 3", "Item 1"]


def test_max_items_is_allowed():
    raw = minimal_definition()
    raw["items"] = [item(f"I{n}", f"Item {n}") for n in range(1, MAX_ITEMS + 1)]
    raw["domains"][0]["items"] = [f"I{n}" for n in range(1, MAX_ITEMS + 1)]
    assert len(validate_definition(raw)["items"]) == MAX_ITEMS


# --- Every error, with its path ---------------------------------------------------------------

Mutation = Callable[[dict], None]


def _set(*path_and_value) -> Mutation:
    """A mutation that sets one value: _set("domains", 0, "direction", "sideways")."""
    *path, key, value = path_and_value

    def mutate(d: dict) -> None:
        target = d
        for step in path:
            target = target[step]
        target[key] = value

    return mutate


def _delete(*path) -> Mutation:
    *path, key = path

    def mutate(d: dict) -> None:
        target = d
        for step in path:
            target = target[step]
        del target[key]

    return mutate


def _two_languages(d: dict) -> None:
    d["languages"] = ["en", "de"]


def _title_in_undeclared_language(d: dict) -> None:
    d["title"]["fr"] = "Titre"


def _item_text_in_undeclared_language(d: dict) -> None:
    d["items"][1]["text"]["fr"] = "Item 2"


def _duplicate_scale(d: dict) -> None:
    d["scales"].append(copy.deepcopy(d["scales"][0]))


def _labels_in_undeclared_language(d: dict) -> None:
    d["scales"][0]["labels"]["fr"] = ["1", "2", "3", "4", "5"]


def _unknown_item_code_in_fourth_domain(d: dict) -> None:
    # The example from the schema's docstring, exactly.
    d["domains"] += [
        second_domain("beta", ["B1"]),
        second_domain("gamma", ["C1"]),
        second_domain("delta", ["D1", "D2", "D9"]),
    ]
    d["items"] += [item(c, f"Item {c}") for c in ("B1", "C1", "D1", "D2")]


def _item_in_two_domains(d: dict) -> None:
    d["domains"].append(second_domain("beta", ["A1"]))


def _item_in_no_domain(d: dict) -> None:
    d["items"].append(item("A3", "Item 3"))


def _duplicate_domain(d: dict) -> None:
    d["domains"].append(second_domain("alpha", ["B1"]))
    d["items"].append(item("B1", "Item 3"))


def _mixed_score_ranges(d: dict) -> None:
    d["scales"].append(
        {"code": "s7", "min": 1, "max": 7, "labels": {"en": [f"P{n}" for n in range(7)]}}
    )
    d["items"][1]["scale"] = "s7"


def _mixed_value_maps(d: dict) -> None:
    d["scales"].append(
        {
            "code": "pct",
            "min": 1,
            "max": 5,
            "values": [0, 25, 50, 75, 100],
            "labels": {"en": [f"P{n}" for n in range(5)]},
        }
    )
    d["items"][0]["scale"] = "pct"


def _too_many_items(d: dict) -> None:
    d["items"] = [item(f"I{n}", f"Item {n}") for n in range(MAX_ITEMS + 1)]
    d["domains"][0]["items"] = [f"I{n}" for n in range(MAX_ITEMS + 1)]


# (id, mutation, path, key part of the message)
ERROR_CASES: list[tuple[str, Mutation, str, str]] = [
    # top level
    ("unknown top key", _set("instructions", "x"), "instructions", "unknown key 'instructions'"),
    ("format version", _set("format", 2), "format", "unsupported format 2; expected 1"),
    ("format missing value", _set("format", None), "format", "unsupported format nothing"),
    ("bad code", _set("code", "Mini Tool"), "code", "'Mini Tool' is not a valid code"),
    ("code not text", _set("code", 7), "code", "7 is not a valid code"),
    ("version zero", _set("version", 0), "version", "must be at least 1, got 0"),
    ("version negative", _set("version", -2), "version", "must be at least 1, got -2"),
    ("version text", _set("version", "1"), "version", "must be a whole number, got '1'"),
    ("version float", _set("version", 1.0), "version", "must be a whole number, got 1.0"),
    ("version bool", _set("version", True), "version", "must be a whole number, got True"),
    ("languages not list", _set("languages", "en"), "languages", "must be a list, got text"),
    ("languages empty", _set("languages", []), "languages", "must not be empty"),
    (
        "bad language code",
        _set("languages", ["en", "EN"]),
        "languages[1]",
        "'EN' is not a language code like 'en'",
    ),
    (
        "language not text",
        _set("languages", ["en", 5]),
        "languages[1]",
        "5 is not a language code like 'en'",
    ),
    (
        "duplicate language",
        _set("languages", ["en", "en"]),
        "languages[1]",
        "language 'en' is listed twice",
    ),
    ("title missing a language", _two_languages, "title.de", "missing text in this language"),
    ("title empty text", _set("title", "en", "  "), "title.en", "missing text in this language"),
    ("title not a mapping", _set("title", "Mini"), "title", "must be a mapping, got text"),
    (
        "title in undeclared language",
        _title_in_undeclared_language,
        "title.fr",
        "language 'fr' is not in languages",
    ),
    (
        "description missing a language",
        _set("description", {"de": "Beschreibung"}),
        "description.en",
        "missing text in this language",
    ),
    # norms
    ("norms not a mapping", _set("norms", True), "norms", "must be a mapping, got bool"),
    (
        "norms unknown key",
        _set("norms", {"normed": False, "sample": 100}),
        "norms.sample",
        "unknown key 'sample'",
    ),
    (
        "normed missing",
        _set("norms", {"note": {"en": "Note"}}),
        "norms.normed",
        "must be true or false, got nothing",
    ),
    (
        "normed not bool",
        _set("norms", {"normed": "no"}),
        "norms.normed",
        "must be true or false, got 'no'",
    ),
    (
        "norms note in undeclared language",
        _set("norms", {"normed": False, "note": {"en": "Note", "fr": "Note"}}),
        "norms.note.fr",
        "language 'fr' is not in languages",
    ),
    # scales
    (
        "scales not a list",
        _set("scales", {"code": "s5"}),
        "scales",
        "must be a list, got a mapping",
    ),
    ("scales empty", _set("scales", []), "scales", "must not be empty"),
    ("scale not a mapping", _set("scales", 0, "s5"), "scales[0]", "must be a mapping, got text"),
    ("scale unknown key", _set("scales", 0, "step", 1), "scales[0].step", "unknown key 'step'"),
    ("scale bad code", _set("scales", 0, "code", "S 5"), "scales[0].code", "'S 5' is not a valid"),
    ("duplicate scale code", _duplicate_scale, "scales[1].code", "scale code 's5' is used twice"),
    ("min not integer", _set("scales", 0, "min", 1.5), "scales[0].min", "whole number, got 1.5"),
    ("min missing", _delete("scales", 0, "min"), "scales[0].min", "whole number, got nothing"),
    ("max not integer", _set("scales", 0, "max", "5"), "scales[0].max", "whole number, got '5'"),
    (
        "max equals min",
        _set("scales", 0, "max", 1),
        "scales[0].max",
        "must be greater than min (1), got 1",
    ),
    (
        "max below min",
        _set("scales", 0, "max", 0),
        "scales[0].max",
        "must be greater than min (1), got 0",
    ),
    (
        "too many points",
        _set("scales", 0, "max", 101),
        "scales[0]",
        "has 101 points; at most 100 are supported",
    ),
    (
        "labels wrong count",
        _set("scales", 0, "labels", "en", ["1", "2", "3", "4"]),
        "scales[0].labels.en",
        "needs a list of 5 labels, one per point",
    ),
    (
        "labels missing for a language",
        _set("scales", 0, "labels", {}),
        "scales[0].labels.en",
        "needs a list of 5 labels, one per point",
    ),
    (
        "labels not a mapping",
        _set("scales", 0, "labels", ["1", "2", "3", "4", "5"]),
        "scales[0].labels",
        "must be a mapping, got a list",
    ),
    (
        "labels non-text",
        _set("scales", 0, "labels", "en", ["1", "2", 3, "4", "5"]),
        "scales[0].labels.en",
        "every label must be non-empty text",
    ),
    (
        "labels empty text",
        _set("scales", 0, "labels", "en", ["1", "2", " ", "4", "5"]),
        "scales[0].labels.en",
        "every label must be non-empty text",
    ),
    (
        "labels in undeclared language",
        _labels_in_undeclared_language,
        "scales[0].labels.fr",
        "language 'fr' is not in languages",
    ),
    (
        "values wrong count",
        _set("scales", 0, "values", [0, 50, 100]),
        "scales[0].values",
        "needs one value for each of the 5 points 1..5, got 3",
    ),
    (
        "values not a list",
        _set("scales", 0, "values", "0-100"),
        "scales[0].values",
        "must be a list, got text",
    ),
    (
        "values non-number",
        _set("scales", 0, "values", [0, 25, "50", 75, 100]),
        "scales[0].values[2]",
        "must be a number, got '50'",
    ),
    (
        "values bool",
        _set("scales", 0, "values", [0, 25, 50, 75, True]),
        "scales[0].values[4]",
        "must be a number, got True",
    ),
    (
        "values not finite",
        _set("scales", 0, "values", [0, 25, float("nan"), 75, 100]),
        "scales[0].values[2]",
        "must be a number, got nan",
    ),
    (
        "allow_skip not bool",
        _set("scales", 0, "allow_skip", "yes"),
        "scales[0].allow_skip",
        "must be true or false, got 'yes'",
    ),
    # items
    ("items not a list", _set("items", {}), "items", "must be a list, got a mapping"),
    ("items empty", _set("items", []), "items", "must not be empty"),
    ("item not a mapping", _set("items", 0, "A1"), "items[0]", "must be a mapping, got text"),
    ("item unknown key", _set("items", 0, "weight", 2), "items[0].weight", "unknown key 'weight'"),
    (
        "item bad code",
        _set("items", 0, "code", "A 1"),
        "items[0].code",
        "'A 1' is not a valid code",
    ),
    (
        "duplicate item code",
        _set("items", 1, "code", "A1"),
        "items[1].code",
        "item code 'A1' is used twice",
    ),
    (
        "unknown scale",
        _set("items", 0, "scale", "s7"),
        "items[0].scale",
        "unknown scale 's7' (known: s5)",
    ),
    (
        "scale missing",
        _delete("items", 0, "scale"),
        "items[0].scale",
        "unknown scale nothing (known: s5)",
    ),
    (
        "reverse not bool",
        _set("items", 0, "reverse", "yes"),
        "items[0].reverse",
        "must be true or false, got 'yes'",
    ),
    (
        "text missing",
        _delete("items", 0, "text"),
        "items[0].text",
        "must be a mapping, got nothing",
    ),
    (
        "text empty",
        _set("items", 0, "text", "en", ""),
        "items[0].text.en",
        "missing text in this language",
    ),
    (
        "text in undeclared language",
        _item_text_in_undeclared_language,
        "items[1].text.fr",
        "language 'fr' is not in languages",
    ),
    (
        "too many items",
        _too_many_items,
        "items",
        f"has {MAX_ITEMS + 1} items; at most {MAX_ITEMS} are supported",
    ),
    # domains
    ("domains not a list", _set("domains", {}), "domains", "must be a list, got a mapping"),
    ("domains empty", _set("domains", []), "domains", "must not be empty"),
    ("domain not a mapping", _set("domains", 0, 1), "domains[0]", "must be a mapping, got int"),
    (
        "domain unknown key",
        _set("domains", 0, "weight", 1),
        "domains[0].weight",
        "unknown key 'weight'",
    ),
    (
        "domain bad code",
        _set("domains", 0, "code", "Alpha!"),
        "domains[0].code",
        "'Alpha!' is not a valid code",
    ),
    (
        "duplicate domain code",
        _duplicate_domain,
        "domains[1].code",
        "domain code 'alpha' is used twice",
    ),
    (
        "domain title missing language",
        _set("domains", 0, "title", {"de": "Alpha"}),
        "domains[0].title.en",
        "missing text in this language",
    ),
    (
        "domain description not a mapping",
        _set("domains", 0, "description", "About alpha"),
        "domains[0].description",
        "must be a mapping, got text",
    ),
    ("group not text", _set("domains", 0, "group", 3), "domains[0].group", "must be text, got 3"),
    (
        "bad direction",
        _set("domains", 0, "direction", "higher_is_higher"),
        "domains[0].direction",
        "'higher_is_higher' is not one of higher_is_better, higher_is_worse",
    ),
    (
        "domain items not a list",
        _set("domains", 0, "items", "A1"),
        "domains[0].items",
        "must be a list, got text",
    ),
    (
        "domain items empty",
        _set("domains", 0, "items", []),
        "domains[0].items",
        "must not be empty",
    ),
    (
        "unknown item code",
        _unknown_item_code_in_fourth_domain,
        "domains[3].items[2]",
        "unknown item code 'D9'",
    ),
    (
        "item listed twice in a domain",
        _set("domains", 0, "items", ["A1", "A2", "A1"]),
        "domains[0].items[2]",
        "item 'A1' is listed twice in this domain",
    ),
    (
        "item in two domains",
        _item_in_two_domains,
        "domains[1].items[0]",
        "item 'A1' already belongs to domain 'alpha'",
    ),
    ("item in no domain", _item_in_no_domain, "items[2]", "item 'A3' is not in any domain"),
    (
        "min_answered above item count",
        _set("domains", 0, "min_answered", 3),
        "domains[0].min_answered",
        "is 3 but the domain has only 2 item(s)",
    ),
    (
        "min_answered zero",
        _set("domains", 0, "min_answered", 0),
        "domains[0].min_answered",
        "must be at least 1, got 0",
    ),
    (
        "min_answered not integer",
        _set("domains", 0, "min_answered", 1.5),
        "domains[0].min_answered",
        "must be a whole number, got 1.5",
    ),
    (
        "high_risk above range",
        _set("domains", 0, "high_risk", 6),
        "domains[0].high_risk",
        "6 lies outside the domain's score range 1..5",
    ),
    (
        "high_risk below range",
        _set("domains", 0, "high_risk", 0.5),
        "domains[0].high_risk",
        "0.5 lies outside the domain's score range 1..5",
    ),
    (
        "high_risk not a number",
        _set("domains", 0, "high_risk", "high"),
        "domains[0].high_risk",
        "must be a number, got 'high'",
    ),
    (
        "items on different score ranges",
        _mixed_score_ranges,
        "domains[0].items",
        "items of one domain must score on the same range so they can be averaged "
        "(A1: 1..5, A2: 1..7)",
    ),
    (
        "items on different value maps",
        _mixed_value_maps,
        "domains[0].items",
        "(A1: 0..100, A2: 1..5)",
    ),
    (
        "bands not a mapping",
        _set("domains", 0, "bands", [2, 3, 4]),
        "domains[0].bands",
        "must be a mapping, got a list",
    ),
    (
        "bands with neither absolute nor benchmark",
        _set("domains", 0, "bands", {}),
        "domains[0].bands",
        "needs absolute cut-offs, benchmark percentiles, or both",
    ),
    (
        "unknown key in bands",
        _set("domains", 0, "bands", "cutoffs", [2, 3, 4]),
        "domains[0].bands.cutoffs",
        "unknown key 'cutoffs'",
    ),
    (
        "absolute not a list",
        _set("domains", 0, "bands", "absolute", 3),
        "domains[0].bands.absolute",
        "must be a list, got int",
    ),
    (
        "absolute two values",
        _set("domains", 0, "bands", "absolute", [2, 3]),
        "domains[0].bands.absolute",
        "needs exactly 3 ascending cut-offs between the four bands, got 2",
    ),
    (
        "absolute four values",
        _set("domains", 0, "bands", "absolute", [2, 3, 4, 4.5]),
        "domains[0].bands.absolute",
        "needs exactly 3 ascending cut-offs between the four bands, got 4",
    ),
    (
        "absolute non-number",
        _set("domains", 0, "bands", "absolute", [2, "3", 4]),
        "domains[0].bands.absolute[1]",
        "must be a number, got '3'",
    ),
    (
        "absolute not ascending",
        _set("domains", 0, "bands", "absolute", [3, 2, 4]),
        "domains[0].bands.absolute",
        "must be strictly ascending, got [3, 2, 4]",
    ),
    (
        "absolute equal neighbours",
        _set("domains", 0, "bands", "absolute", [2, 3, 3]),
        "domains[0].bands.absolute",
        "must be strictly ascending, got [2, 3, 3]",
    ),
    (
        "absolute out of range",
        _set("domains", 0, "bands", "absolute", [2, 3, 6]),
        "domains[0].bands.absolute[2]",
        "6 lies outside the domain's score range 1..5",
    ),
    (
        "benchmark not a mapping",
        _set("domains", 0, "bands", "benchmark", [2, 3, 4]),
        "domains[0].bands.benchmark",
        "must be a mapping, got a list",
    ),
    (
        "benchmark missing a percentile",
        _set("domains", 0, "bands", "benchmark", {"p20": 2, "p50": 3}),
        "domains[0].bands.benchmark.p80",
        "is required",
    ),
    (
        "benchmark unknown percentile",
        _set("domains", 0, "bands", "benchmark", {"p20": 2, "p50": 3, "p80": 4, "p90": 4.5}),
        "domains[0].bands.benchmark.p90",
        "unknown key 'p90'",
    ),
    (
        "benchmark non-number",
        _set("domains", 0, "bands", "benchmark", {"p20": 2, "p50": None, "p80": 4}),
        "domains[0].bands.benchmark.p50",
        "must be a number, got nothing",
    ),
    (
        "benchmark not ordered",
        _set("domains", 0, "bands", "benchmark", {"p20": 3, "p50": 2, "p80": 4}),
        "domains[0].bands.benchmark",
        "percentiles must satisfy p20 <= p50 <= p80",
    ),
    (
        "benchmark out of range",
        _set("domains", 0, "bands", "benchmark", {"p20": 0, "p50": 3, "p80": 4}),
        "domains[0].bands.benchmark.p20",
        "0 lies outside the domain's score range 1..5",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "path", "message"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_each_error_is_reported_with_its_path(mutate, path, message):
    raw = minimal_definition()
    mutate(raw)
    errors = errors_of(raw)
    at_path = [e for e in errors if e.startswith(f"{path}: ")]
    assert any(message in e for e in at_path), f"no '{path}: ...{message}...' in {errors}"


def test_spec_example_is_reported_exactly_and_alone():
    raw = minimal_definition()
    _unknown_item_code_in_fourth_domain(raw)
    assert errors_of(raw) == ["domains[3].items[2]: unknown item code 'D9'"]


@pytest.mark.parametrize("key", REQUIRED_TOP_KEYS)
def test_missing_required_top_key(key):
    raw = minimal_definition()
    del raw[key]
    assert f"{key}: is required" in errors_of(raw)


@pytest.mark.parametrize(
    "key", ["code", "title", "direction", "min_answered", "high_risk", "bands", "items"]
)
def test_missing_required_domain_key(key):
    raw = minimal_definition()
    del raw["domains"][0][key]
    assert f"domains[0].{key}: is required" in errors_of(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([minimal_definition()], "must be a mapping, got a list"),
        (None, "must be a mapping, got nothing"),  # an empty YAML file
        ("format: 1", "must be a mapping, got text"),
    ],
)
def test_top_level_must_be_a_mapping(raw, message):
    # There is no path at the top: the message stands alone.
    assert errors_of(raw) == [message]


def test_several_errors_are_reported_at_once():
    raw = minimal_definition()
    raw["version"] = 0
    raw["scales"][0]["max"] = 1
    raw["items"][1]["reverse"] = "no"
    raw["domains"][0]["items"] = ["A1", "A2", "Z9"]
    raw["domains"][0]["direction"] = "up"

    with pytest.raises(InstrumentDefinitionError) as info:
        validate_definition(raw)

    errors = info.value.errors
    expected = [
        "version: must be at least 1, got 0",
        "scales[0].max: must be greater than min (1), got 1",
        "items[1].reverse: must be true or false, got 'no'",
        "domains[0].direction: 'up' is not one of higher_is_better, higher_is_worse",
        "domains[0].items[2]: unknown item code 'Z9'",
    ]
    for error in expected:
        assert error in errors
    assert len(errors) >= 3
    message = str(info.value)
    assert f"{len(errors)} problem(s)" in message
    for error in errors:
        assert f"\n  {error}" in message


def test_error_names_its_source_when_given():
    error = InstrumentDefinitionError(["code: is required"], source="defs/x.yaml")
    assert str(error).startswith("defs/x.yaml: 1 problem(s)")
    assert error.errors == ["code: is required"]
    assert error.source == "defs/x.yaml"


def test_parse_definition_file_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("format: 1\ncode: x\n  version: 1\n", encoding="utf-8")
    with pytest.raises(InstrumentDefinitionError) as info:
        parse_definition_file(path)
    assert info.value.source == str(path)
    assert info.value.errors[0].startswith("line 3, column ")
    assert "not valid YAML" in info.value.errors[0]


# --- The format reference ---------------------------------------------------------------------

FORMAT_MD = Path(assessments.instruments.__file__).parent / "FORMAT.md"


def test_complete_examples_in_format_reference_are_valid():
    text = FORMAT_MD.read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    complete = [yaml.safe_load(b) for b in blocks if b.startswith("format: 1\n")]
    assert len(complete) >= 2
    results = [validate_definition(raw) for raw in complete]

    benchmark, value_map = results[0], results[1]
    assert benchmark["domains"][0]["bands"]["benchmark"] == {"p20": 2.2, "p50": 2.7, "p80": 3.3}
    assert value_map["scales"][0]["values"] == [100, 75, 50, 25, 0]
    assert value_map["domains"][0]["score_range"] == [0, 100]


def test_format_reference_reminds_authors_about_licensed_text():
    text = FORMAT_MD.read_text(encoding="utf-8").lower()
    assert "licence" in text
    assert "never commit" in text


@pytest.mark.parametrize("key", ["scales", "domains", "items", "title"])
def test_empty_top_level_value_counts_as_missing(key):
    raw = minimal_definition()
    raw[key] = None
    assert f"{key}: is required" in errors_of(raw)


@pytest.mark.parametrize("key", ["bands", "items", "title", "direction"])
def test_empty_domain_value_counts_as_missing(key):
    raw = minimal_definition()
    raw["domains"][0][key] = None
    assert f"domains[0].{key}: is required" in errors_of(raw)


def test_domain_group_longer_than_the_column_is_refused():
    raw = minimal_definition()
    raw["domains"][0]["group"] = "g" * 41
    assert errors_of(raw) == ["domains[0].group: is 41 characters long; at most 40"]
