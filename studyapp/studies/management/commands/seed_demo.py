"""`manage.py seed_demo [--quiet] [--model scripted|local]`: the demo study. Idempotent."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from studyapp.studies.demo import MODEL_CHOICES, demo_seed
from studyapp.studies.links import participant_entry_path

PASSWORD_ENV = "DEMO_INVESTIGATOR_PASSWORD"  # noqa: S105 (a variable name, not a secret)
DEBUG_DEFAULT_PASSWORD = "investigator-demo"  # noqa: S105 (only ever used with DEBUG on)


class Command(BaseCommand):
    help = "Create the demo study (original scenarios, an LLM arm and a control arm)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--quiet", action="store_true", help="Print nothing.")
        parser.add_argument(
            "--model",
            choices=MODEL_CHOICES,
            default="scripted",
            help=(
                "What the demo's LLM arm talks to: the scripted demo model, or the small "
                "local model for testing (make run MODEL=local)."
            ),
        )

    def handle(self, *args, quiet: bool, model: str, **options) -> None:
        password = os.environ.get(PASSWORD_ENV, "")
        explicit = bool(password)
        if not explicit:
            if not settings.DEBUG:
                raise CommandError(
                    f"Set {PASSWORD_ENV}: a default password is only used with DEBUG on."
                )
            password = DEBUG_DEFAULT_PASSWORD
        result = demo_seed(
            scripted_model_url=settings.SCRIPTED_MODEL_URL,
            investigator_password=password,
            password_is_explicit=explicit,
            model=model,
            local_model_url=settings.LOCAL_MODEL_URL,
            local_model_name=settings.LOCAL_MODEL_NAME,
        )
        if quiet:
            return
        base = f"http://127.0.0.1:{os.environ.get('PORT') or '8000'}"
        for line in result.changes or ["demo already seeded; nothing changed"]:
            self.stdout.write(line)
        shown = f"from {PASSWORD_ENV}" if explicit else DEBUG_DEFAULT_PASSWORD
        self.stdout.write(
            f"Participant link: {base}{participant_entry_path(result.study.slug)}\n"
            f"Investigator login: {base}{reverse('account_login')} "
            f"(user {result.investigator_username}, password {shown})\n"
            f"Study page: {base}{reverse('analysis:study_detail', args=[result.study.slug])}"
        )
