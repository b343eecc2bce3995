"""Does an endpoint answer? One short streamed request, as a participant's chat makes it.

For "Test connection" (the admin's action and the endpoints page): says whether a reply
streamed to its end (text and a finish reason), how long the first token took and the
reply's first words (FIRST_WORDS_CHARS at most; the reply to PROBE_MESSAGES, no one's
data), or which error the chat would show. `models_probe` asks the server which models
it serves (GET {base_url}/models) and whether the endpoint's is among them.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import aclosing
from dataclasses import dataclass

from studyapp.chat.llm.base import EndpointConfig, LLMError
from studyapp.chat.llm.openai_compatible import OpenAICompatibleClient

PROBE_MESSAGES = [{"role": "user", "content": "Please reply with one short sentence."}]
PROBE_PARAMS = {"max_tokens": 16, "temperature": 0.0}
FIRST_WORDS_CHARS = 80


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str
    time_to_first_token_ms: float | None = None
    finish_reason: str | None = None
    characters: int = 0
    # The reply's beginning, FIRST_WORDS_CHARS at most ("…" when cut); model text, so
    # escaped wherever it is shown.
    first_words: str = ""


def _first_words(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= FIRST_WORDS_CHARS else text[:FIRST_WORDS_CHARS].rstrip() + "…"


async def probe_endpoint(config: EndpointConfig) -> ProbeResult:
    client = OpenAICompatibleClient(config)
    started = time.monotonic()
    first: float | None = None
    characters = 0
    finish: str | None = None
    head = ""  # the reply's beginning, kept short
    try:
        async with aclosing(client.stream_chat(PROBE_MESSAGES, PROBE_PARAMS)) as events:
            async for event in events:
                if event.delta:
                    first = first or time.monotonic()
                    characters += len(event.delta)
                    if len(head) <= FIRST_WORDS_CHARS * 2:
                        head += event.delta
                finish = event.finish_reason or finish
    except LLMError as exc:
        return ProbeResult(ok=False, detail=exc.summary())
    ttft = round((first - started) * 1000, 1) if first else None
    words = _first_words(head)
    if not finish:
        detail = "the stream ended without a finish reason: the chat would show an error"
        return ProbeResult(False, detail, ttft, None, characters, words)
    if not characters:
        return ProbeResult(False, "the reply had no text", ttft, finish, 0)
    detail = f"answered: first token after {ttft:.0f} ms, {characters} characters, {finish}"
    return ProbeResult(True, detail, ttft, finish, characters, words)


@dataclass(frozen=True)
class ModelsResult:
    ok: bool
    detail: str
    models: tuple[str, ...] = ()
    # Whether the endpoint's configured model is among those listed.
    listed: bool = False


async def models_probe(config: EndpointConfig) -> ModelsResult:
    """The server's models (within the endpoint's timeout) and whether config.model is one."""
    try:
        models = await OpenAICompatibleClient(config).list_models()
    except LLMError as exc:
        return ModelsResult(ok=False, detail=exc.summary())
    listed = config.model in models
    if listed:
        detail = f"the server lists {len(models)} model(s), {config.model} among them"
    else:
        detail = f"the server lists {len(models)} model(s), but not {config.model}"
    return ModelsResult(ok=True, detail=detail, models=tuple(models), listed=listed)


async def connection_test(config: EndpointConfig) -> tuple[ProbeResult, ModelsResult]:
    """Both probes at once: the page's "Test connection" waits for the slower one only."""
    reply, models = await asyncio.gather(probe_endpoint(config), models_probe(config))
    return reply, models
