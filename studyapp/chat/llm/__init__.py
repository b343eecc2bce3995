"""Clients for chat models. Only asynchronous clients: they run inside the consumer's loop."""

from __future__ import annotations

from studyapp.chat.llm.base import (
    ChatResult,
    EndpointConfig,
    LLMError,
    StreamEvent,
    Usage,
)
from studyapp.chat.llm.openai_compatible import OpenAICompatibleClient

__all__ = [
    "ChatResult",
    "EndpointConfig",
    "LLMError",
    "OpenAICompatibleClient",
    "StreamEvent",
    "Usage",
]
