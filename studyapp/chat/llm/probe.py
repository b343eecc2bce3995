"""Does an endpoint answer? One short streamed request, as a participant's chat makes it.

For the admin's "Test connection": says whether a reply streamed to its end (text and a
finish reason), how long the first token took, or which error the chat would show. The
reply itself is not reported, only its length.
"""

from __future__ import annotations

import time
from contextlib import aclosing
from dataclasses import dataclass

from studyapp.chat.llm.base import EndpointConfig, LLMError
from studyapp.chat.llm.openai_compatible import OpenAICompatibleClient

PROBE_MESSAGES = [{"role": "user", "content": "Please reply with one short sentence."}]
PROBE_PARAMS = {"max_tokens": 16, "temperature": 0.0}


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str
    time_to_first_token_ms: float | None = None
    finish_reason: str | None = None
    characters: int = 0


async def probe_endpoint(config: EndpointConfig) -> ProbeResult:
    client = OpenAICompatibleClient(config)
    started = time.monotonic()
    first: float | None = None
    characters = 0
    finish: str | None = None
    try:
        async with aclosing(client.stream_chat(PROBE_MESSAGES, PROBE_PARAMS)) as events:
            async for event in events:
                if event.delta:
                    first = first or time.monotonic()
                    characters += len(event.delta)
                finish = event.finish_reason or finish
    except LLMError as exc:
        return ProbeResult(ok=False, detail=exc.summary())
    ttft = round((first - started) * 1000, 1) if first else None
    if not finish:
        detail = "the stream ended without a finish reason: the chat would show an error"
        return ProbeResult(False, detail, ttft, None, characters)
    if not characters:
        return ProbeResult(False, "the reply had no text", ttft, finish, 0)
    detail = f"answered: first token after {ttft:.0f} ms, {characters} characters, {finish}"
    return ProbeResult(True, detail, ttft, finish, characters)
