"""What a unit runs with: plain data built in the writing thread before the loop starts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from studyapp.chat.llm import EndpointConfig, OpenAICompatibleClient


@dataclass(frozen=True)
class RunContext:
    run_id: int
    config: dict[str, Any]
    endpoint: EndpointConfig | None
    params: dict[str, Any]
    attempts: int
    retry_base_s: float
    # Kind-specific data read beforehand (scenarios, disposition levels...).
    data: dict[str, Any] = field(default_factory=dict)

    def client(self) -> OpenAICompatibleClient:
        if self.endpoint is None:
            raise ValueError("this run has no model endpoint")
        return OpenAICompatibleClient(self.endpoint)
