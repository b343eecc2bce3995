"""`manage.py rescore_answers SLUG [--all]`: score answers again after a scorer change."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studyapp.participation.services import answers_rescore
from studyapp.scoring.conditions import SCORER_VERSION
from studyapp.studies.models import Study


class Command(BaseCommand):
    help = (
        "Score a study's answers again with the current rules. By default only answers "
        "scored by another scorer version (or never scored); --all rescores every one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--all", action="store_true", dest="force")

    def handle(self, *args, slug: str, force: bool, **options) -> None:
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study with slug {slug!r}.")
        n = answers_rescore(study=study, force=force)
        self.stdout.write(f"rescored {n} answer(s) with scorer {SCORER_VERSION}")
