"""Clients for chat models. Only asynchronous clients: they run inside the consumer's loop."""

from __future__ import annotations

from studyapp.chat.llm.base import (
    PURPOSE_HEADER,
    ChatResult,
    EndpointConfig,
    LLMError,
    Purpose,
    StreamEvent,
    Usage,
)
from studyapp.chat.llm.openai_compatible import OpenAICompatibleClient

__all__ = [
    "PURPOSE_HEADER",
    "ChatResult",
    "EndpointConfig",
    "LLMError",
    "OpenAICompatibleClient",
    "Purpose",
    "StreamEvent",
    "Usage",
]
