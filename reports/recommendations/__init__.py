"""Recommendations libraries: practical actions per instrument domain and band (YAML files)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

LIBRARY_DIR = Path(__file__).resolve().parent
ACTION_BANDS = ("urgent", "improve")  # the two bands that need action
FIELDS = ("title", "what", "owner", "check")


class RecommendationsError(ValueError):
    """A recommendations file that does not fit its format; the message names the path."""


@dataclass(frozen=True)
class Recommendation:
    title: str
    what: str
    owner: str
    check: str


def _text(value, path: str, languages: list[str]) -> dict[str, str]:
    if not isinstance(value, dict):
        raise RecommendationsError(f"{path}: must be text per language")
    for language in languages:
        if not isinstance(value.get(language), str) or not value[language].strip():
            raise RecommendationsError(f"{path}.{language}: missing text")
    return {language: value[language].strip() for language in languages}


def parse_library(raw, *, source: str = "") -> dict:
    """Validate a library; returns {domain: {band: [ {field: {lang: text}} ]}}."""
    where = f"{source}: " if source else ""
    if not isinstance(raw, dict) or raw.get("format") != 1:
        raise RecommendationsError(f"{where}expected a mapping with format: 1")
    languages = raw.get("languages")
    if not isinstance(languages, list) or not languages:
        raise RecommendationsError(f"{where}languages: must be a non-empty list")
    domains = raw.get("domains")
    if not isinstance(domains, dict) or not domains:
        raise RecommendationsError(f"{where}domains: must be a mapping of domain codes")
    library: dict = {}
    for code, bands in domains.items():
        if not isinstance(bands, dict):
            raise RecommendationsError(f"{where}domains.{code}: must map bands to actions")
        for band, actions in bands.items():
            path = f"domains.{code}.{band}"
            if band not in ACTION_BANDS:
                raise RecommendationsError(
                    f"{where}{path}: unknown band '{band}' (use {', '.join(ACTION_BANDS)})"
                )
            if not isinstance(actions, list) or not 3 <= len(actions) <= 5:
                raise RecommendationsError(f"{where}{path}: needs 3 to 5 actions")
            library.setdefault(code, {})[band] = [
                {
                    field: _text(action.get(field), f"{where}{path}[{i}].{field}", languages)
                    for field in FIELDS
                }
                if isinstance(action, dict)
                else _raise(f"{where}{path}[{i}]: must be a mapping")
                for i, action in enumerate(actions)
            ]
    return library


def _raise(message: str):
    raise RecommendationsError(message)


@functools.lru_cache(maxsize=16)
def library_for(instrument_code: str) -> dict:
    """The library shipped for an instrument, or {} when there is none."""
    path = LIBRARY_DIR / f"{instrument_code}.yaml"
    if not path.exists():
        return {}
    return parse_library(yaml.safe_load(path.read_text(encoding="utf-8")), source=str(path))


def recommendations(
    *, instrument_code: str, domain_code: str, band: str, language: str
) -> list[Recommendation]:
    """The actions suggested for a domain in a band that needs action, in one language."""
    actions = library_for(instrument_code).get(domain_code, {}).get(band, [])
    return [
        Recommendation(
            **{field: action[field].get(language) or action[field]["en"] for field in FIELDS}
        )
        for action in actions
    ]
