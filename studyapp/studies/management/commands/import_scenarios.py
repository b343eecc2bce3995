"""`manage.py import_scenarios PATH --study SLUG [--format helpmed|jsonl]`."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from studyapp.studies.importers import (
    ScenarioImportError,
    read_scenarios,
    scenarios_import,
    study_get_or_create_for_import,
)


class Command(BaseCommand):
    help = (
        "Import scenarios with their gold standard into a study (created as a draft if "
        "missing). --format helpmed reads a folder with HELPMed's scenarios.csv and "
        "scenarios_text.jsonl; --format jsonl a file in the format the README describes. "
        "Re-importing the same file changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--study", required=True, help="study slug")
        parser.add_argument("--format", choices=["helpmed", "jsonl"], default="jsonl")
        parser.add_argument("--title", help="title of the study, if it has to be created")

    def handle(self, *args, path: Path, study: str, format: str, title: str | None, **options):
        try:
            bundle = read_scenarios(path, format=format)
            with transaction.atomic():
                target = study_get_or_create_for_import(
                    slug=study, title=title, scale_spec=bundle.scale
                )
                result = scenarios_import(study=target, bundle=bundle)
        except ScenarioImportError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"study {target.slug}: {result.summary()}")
