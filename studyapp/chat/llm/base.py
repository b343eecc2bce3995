"""What every chat-model client speaks: plain data, no ORM, no HTTP library types."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studyapp.studies.models import ModelEndpoint

# LLMError codes, and what each means.
ERROR_CODES = {
    "timeout": "the model server did not answer in time",
    "rate_limited": "the model server refused: too many requests (HTTP 429)",
    "server_error": "the model server failed (HTTP 5xx, or an error inside the stream)",
    "connection": "the connection to the model server failed or broke mid-stream",
    "incomplete": "the stream ended without a finish reason (cut, or dropped by the engine)",
    "empty": "the reply had no text",
    "bad_request": "the model server rejected the request (HTTP 4xx other than 429)",
    "busy": "this process already runs the most streams allowed for the endpoint",
}


class Purpose(StrEnum):
    """What a request to a model is for; sent along as PURPOSE_HEADER when not CHAT."""

    CHAT = ""  # a participant's chat
    MCQ = "mcq"  # answers to multiple-choice questions (evaluation runs)
    PATIENT = "patient"  # a simulated patient talking to an arm (evaluation runs)
    GRADER = "grader"  # a rubric grader


# A request's purpose travels as this HTTP header. Real OpenAI-compatible servers (vLLM,
# OpenAI) ignore headers they do not know, so it changes nothing there; the scripted model
# server (studyapp.devtools) picks its persona from it, so the product never has to name a
# persona. It says only what the request is for: never a participant, study or arm.
PURPOSE_HEADER = "X-Studyapp-Purpose"


class LLMError(Exception):
    """One error type for every model failure; `code` is a key of ERROR_CODES."""

    def __init__(self, code: str, detail: str = "", *, status: int | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown LLMError code {code!r}")
        self.code = code
        self.detail = detail
        self.status = status
        super().__init__(f"{code}: {detail}" if detail else code)

    def summary(self) -> str:
        """Short, text-free description to store with a failed message (<= 200 chars)."""
        status = f" (HTTP {self.status})" if self.status else ""
        return f"{self.code}{status}: {self.detail}"[:200]


@dataclass(frozen=True)
class EndpointConfig:
    """Everything a client needs to reach one model, read from the database beforehand."""

    endpoint_id: int
    base_url: str
    model: str
    api_key: str
    timeout_s: float
    max_concurrent_streams: int
    # Evaluation jobs' slots of the endpoint, all workers together (evaluations.slots);
    # participants' chats ignore it. The default is ModelEndpoint's.
    evaluation_concurrency: int = 8
    # What the requests are for (a Purpose value): "" for participants' chats.
    purpose: str = Purpose.CHAT

    def __post_init__(self) -> None:
        # Unknown purposes fail here, not as a silently ignored header.
        object.__setattr__(self, "purpose", Purpose(self.purpose))

    @classmethod
    def from_endpoint(
        cls,
        endpoint: ModelEndpoint,
        *,
        base_url: str | None = None,
        model: str | None = None,
        timeout_s: float | None = None,
        purpose: str = Purpose.CHAT,
    ) -> EndpointConfig:
        """From an endpoint row; a conversation's frozen snapshot overrides URL/model/timeout."""
        return cls(
            endpoint_id=endpoint.pk,
            base_url=base_url or endpoint.base_url,
            model=model or endpoint.model,
            api_key=endpoint.api_key(),
            timeout_s=timeout_s or endpoint.timeout_s,
            max_concurrent_streams=max(1, endpoint.max_concurrent_streams),
            evaluation_concurrency=max(1, endpoint.evaluation_concurrency),
            purpose=purpose,
        )

    def __repr__(self) -> str:  # never show the key
        return f"EndpointConfig(id={self.endpoint_id}, base_url={self.base_url!r})"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None
    completion_tokens: int | None


@dataclass(frozen=True)
class StreamEvent:
    """One thing that happened in a stream: some text, the finish reason, or the usage."""

    delta: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True)
class ChatResult:
    text: str
    finish_reason: str | None
    usage: Usage | None
