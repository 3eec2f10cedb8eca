"""Load instrument definition files into the database; safe to run again."""

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from assessments.instruments.loader import definition_files, parse_definition_file
from assessments.instruments.schema import InstrumentDefinitionError
from assessments.services import instrument_load


class Command(BaseCommand):
    help = (
        "Validate and load instrument definition files (YAML). With no paths, loads the files "
        "shipped in assessments/instruments/definitions/. Unchanged versions are left alone; a "
        "version that a campaign uses is never changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", type=Path, help="Definition files or folders.")

    def handle(self, *args, paths: list[Path], **options):
        files: list[Path] = []
        for path in paths or [Path(settings.INSTRUMENT_DEFINITIONS_DIR)]:
            if path.is_dir():
                files.extend(definition_files(path))
            elif path.is_file():
                files.append(path)
            else:
                raise CommandError(f"{path}: no such file or folder")
        if not files:
            raise CommandError("No definition files (*.yaml, *.yml) found.")

        # Validate every file before writing anything, so a bad file loads nothing.
        definitions = []
        problems = []
        for path in files:
            try:
                definitions.append((path, parse_definition_file(path)))
            except InstrumentDefinitionError as exc:
                problems.append(str(exc))
        seen: dict[tuple[str, int], Path] = {}
        for path, definition in definitions:
            key = (definition["code"], definition["version"])
            if key in seen:
                problems.append(
                    f"{path}: {key[0]} v{key[1]} is also defined in {seen[key]}; "
                    "each version must come from one file."
                )
            seen[key] = path
        if problems:
            raise CommandError("\n".join(problems))

        try:
            with transaction.atomic():
                for path, definition in definitions:
                    result = instrument_load(definition=definition)
                    self.stdout.write(f"{result.instrument}: {result.outcome} ({path.name})")
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
