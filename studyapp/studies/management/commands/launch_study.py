"""`manage.py launch_study SLUG`: run the launch checklist and set the study live."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studyapp.studies.launch import LaunchRefusedError, study_launch
from studyapp.studies.models import Study


class Command(BaseCommand):
    help = (
        "Set a study live after the launch checklist: every LLM arm's endpoint answers a "
        "streamed request now, the scenarios are complete, quotas and the analysis plan are "
        "set, Prolific's codes are set when it recruits there, the translations are complete. "
        "Any problem refuses the launch (exit status 1) and is listed with where to fix it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the study's slug")

    def handle(self, *args, slug: str, **options) -> None:
        try:
            study = Study.objects.get(slug=slug)
        except Study.DoesNotExist:
            raise CommandError(f"No study with the slug {slug!r}.") from None
        try:
            study_launch(study=study)
        except LaunchRefusedError as exc:
            for problem in exc.problems:
                self.stderr.write(f"- {problem.message}\n  Fix: {problem.where}")
            raise CommandError(
                f"{study.slug} was not set live: {len(exc.problems)} problem(s) above."
            ) from None
        self.stdout.write(self.style.SUCCESS(f"{study.slug} is live."))
