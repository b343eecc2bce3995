"""`manage.py import_model_answers CSV --study SLUG --format helpmed`."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studyapp.evaluations.importers import ModelAnswerImportError, model_answers_import_helpmed
from studyapp.studies.models import Study


class Command(BaseCommand):
    help = (
        "Load published model-alone answers (HELPMed's direct_trials_condition.csv) as "
        "model-alone evaluation runs of a study, one per model, scored by studyapp's "
        "scorer against the study's scenarios. Re-importing replaces, never duplicates."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--study", required=True, help="study slug")
        parser.add_argument("--format", choices=["helpmed"], default="helpmed")

    def handle(self, *args, path: Path, study: str, format: str, **options) -> None:
        target = Study.objects.filter(slug=study).first()
        if target is None:
            raise CommandError(f"No study with slug {study!r}.")
        try:
            runs = model_answers_import_helpmed(study=target, path=path)
        except ModelAnswerImportError as exc:
            raise CommandError(str(exc)) from exc
        for run in runs:
            self.stdout.write(
                f"{run.key}: {run.items} answers; conditions correct "
                f"{run.conditions_correct}/{run.items} (HELPMed's label: "
                f"{run.reference_correct}/{run.items})"
            )
