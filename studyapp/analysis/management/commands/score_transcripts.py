"""`manage.py score_transcripts SLUG`: score every answered chat the dashboard counts."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studyapp.analysis.services import conversation_scores_refresh
from studyapp.studies.models import Study


class Command(BaseCommand):
    help = (
        "Find which gold conditions the model and the participant named in each answered "
        "chat (for the dashboard's 'named in the chat vs reported' figure). Only chats "
        "without a score of the current scorer version are scored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--limit", type=int, default=None, help="score at most this many")

    def handle(self, *args, slug: str, limit: int | None, **options) -> None:
        study = Study.objects.filter(slug=slug).first()
        if study is None:
            raise CommandError(f"No study with slug {slug!r}.")
        started = time.monotonic()
        done, left = conversation_scores_refresh(study=study, limit=limit)
        self.stdout.write(
            f"scored {done} chat(s) in {time.monotonic() - started:.1f} s"
            + ("; more are left" if left else "")
        )
