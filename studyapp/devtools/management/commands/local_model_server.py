"""Run llama.cpp's OpenAI-compatible server with SmolLM2-135M (a model for testing only)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from studyapp.devtools.local_model import (
    server_command,
    server_environment,
    unavailable_reason,
)


class Command(BaseCommand):
    help = "Serve SmolLM2-135M on llama.cpp (make run MODEL=local); for testing, not advice."

    def add_arguments(self, parser) -> None:
        url = urlsplit(settings.LOCAL_MODEL_URL)
        parser.add_argument("--host", default=url.hostname or "127.0.0.1")
        parser.add_argument("--port", type=int, default=url.port or 8012)
        parser.add_argument(
            "--interrupt-requests",
            action="store_true",
            help="The engine's own default: a new request cuts a streaming one short.",
        )

    def handle(self, *args, host: str, port: int, interrupt_requests: bool, **options) -> None:
        reason = unavailable_reason()
        if reason:
            raise CommandError(f"cannot serve the local model: {reason}")
        command = server_command(
            model_alias=settings.LOCAL_MODEL_NAME,
            host=host,
            port=port,
            interrupt_requests=interrupt_requests,
        )
        # Replace this process: a supervisor's SIGTERM then reaches the server itself.
        os.execve(command[0], command, server_environment())  # noqa: S606 (our own command line)
