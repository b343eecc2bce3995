"""`manage.py sync_prolific SLUG`: read the study's Prolific submissions and apply them."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studyapp.participation.prolific_api import ProlificError
from studyapp.participation.prolific_sync import study_sync_prolific
from studyapp.studies.models import Study


class Command(BaseCommand):
    help = (
        "Read a study's submissions on Prolific (token from STUDYAPP_PROLIFIC_TOKEN_<SLUG> or "
        "..._DEFAULT) and move participants who returned or timed out there, freeing their "
        "places; prints what it saw and changed as JSON."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")

    def handle(self, *args, slug: str, **options) -> None:
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study with slug {slug!r}.")
        try:
            report = study_sync_prolific(study_id=study.pk)
        except ProlificError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(json.dumps(report.as_dict(), indent=2))
