"""`manage.py verify_allocation SLUG`: regenerate the sequence from the seed and compare."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studyapp.participation.verification import study_verify_allocation
from studyapp.studies.models import Study


class Command(BaseCommand):
    help = (
        "Regenerate a study's allocation sequence from its seed and check the ledger against "
        "it; prints OK or the first mismatch (exit status 1)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")

    def handle(self, *args, slug: str, **options) -> None:
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study with slug {slug!r}.")
        result = study_verify_allocation(study=study)
        if not result.ok:
            raise CommandError(f"MISMATCH in study {slug}: {result.problem}")
        strata = ", ".join(f"{name}: {n}" for name, n in sorted(result.strata.items()))
        self.stdout.write(
            f"OK: {result.checked} ledger rows of study {slug} match the sequence regenerated "
            f"from its seed"
            + (f" (strata {strata})" if strata else "")
            + f"; largest arm imbalance along the way {result.largest_imbalance:g}."
        )
        for note in result.notes:
            self.stdout.write(f"note: {note}")
