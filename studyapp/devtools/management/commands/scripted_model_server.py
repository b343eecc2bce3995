"""Run the scripted demo model (an OpenAI-compatible server that is not an AI)."""

from __future__ import annotations

import asyncio
import contextlib

from django.core.management.base import BaseCommand, CommandError

from studyapp.devtools.scripted_server import MODES, ScriptedConfig, ScriptedState, start_site


class Command(BaseCommand):
    help = "Serve the scripted demo model over the OpenAI chat-completions protocol."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8011)
        parser.add_argument("--ttft", type=float, default=0.4, help="seconds to first token")
        parser.add_argument(
            "--token-delay", type=float, default=0.04, help="seconds between tokens"
        )
        parser.add_argument("--mode", choices=MODES, default="demo")
        parser.add_argument("--model", default=ScriptedConfig.model, help="model name served")

    def handle(self, *args, **options) -> None:
        config = ScriptedConfig(
            model=options["model"],
            ttft_s=options["ttft"],
            token_delay_s=options["token_delay"],
            mode=options["mode"],
        )
        try:
            state = ScriptedState(config)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(self._serve(state, options["host"], options["port"]))

    async def _serve(self, state: ScriptedState, host: str, port: int) -> None:
        runner, bound = await start_site(state, host, port)
        self.stdout.write(
            f"Scripted demo model '{state.config.model}' (not an AI) on "
            f"http://{host}:{bound}/v1 (mode {state.config.mode})"
        )
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()
