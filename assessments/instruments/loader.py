"""Read instrument definition files (YAML) into validated, normalised definitions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml

from assessments.instruments.schema import InstrumentDefinitionError, validate_definition


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping instead of keeping the last."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key {key!r} appears twice in one mapping (first on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_definition_file(path: Path) -> dict:
    """Parse and validate one definition file; errors name the file and the path inside it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InstrumentDefinitionError([f"cannot read the file: {exc}"], source=str(path)) from exc
    try:
        # _StrictLoader is a SafeLoader: no arbitrary Python objects.
        raw = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InstrumentDefinitionError(
            [f"{where}not valid YAML ({problem})"], source=str(path)
        ) from exc
    try:
        return validate_definition(raw)
    except InstrumentDefinitionError as exc:
        raise InstrumentDefinitionError(exc.errors, source=str(path)) from None


def definition_files(directory: Path) -> list[Path]:
    """The definition files in a folder, in a stable order."""
    return sorted(p for p in directory.iterdir() if p.suffix in {".yaml", ".yml"} and p.is_file())


def definition_checksum(definition: dict) -> str:
    """SHA-256 of the canonical JSON form, so formatting changes to a file do not count."""
    canonical = json.dumps(definition, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
