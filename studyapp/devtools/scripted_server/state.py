"""What the server saw (per-request records) and its current config, shared across threads."""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from studyapp.devtools.scripted_server.config import ScriptedConfig


@dataclass
class RequestRecord:
    """What the server saw and did for one chat-completions request (monotonic seconds)."""

    index: int
    request_id: str
    stream: bool
    started_at: float
    model: str = ""
    # The request's X-Studyapp-Purpose header (studyapp.chat.llm.PURPOSE_HEADER); None
    # when it had none.
    purpose: str | None = None
    max_tokens: int | None = None
    status: int = 200
    first_token_at: float | None = None
    token_times: list[float] = field(default_factory=list)
    tokens_sent: int = 0
    finish_reason: str | None = None
    completed: bool = False
    # The client went away before the reply was complete.
    aborted: bool = False
    # The server dropped the connection on purpose (#cut / fail_after_tokens).
    cut: bool = False
    ended_at: float | None = None
    messages: list[dict] | None = None
    # The request body's other fields (sampling parameters, stream options), as sent.
    params: dict = field(default_factory=dict)


class ScriptedState:
    """Config and stats, shared between the server's loop and other threads."""

    def __init__(self, config: ScriptedConfig) -> None:
        config.validate()
        self.config = config
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=config.max_stats)
        self._count = 0
        self._in_flight = 0
        self._peak_in_flight = 0

    def request_started(self) -> None:
        with self._lock:
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)

    def request_ended(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def new_record(self, *, stream: bool) -> RequestRecord:
        with self._lock:
            self._count += 1
            record = RequestRecord(
                index=self._count,
                request_id=f"chatcmpl-{uuid.uuid4().hex}",
                stream=stream,
                started_at=time.monotonic(),
            )
            self._records.append(record)
            return record

    def stats(self) -> dict:
        with self._lock:
            requests = [dataclasses.asdict(r) for r in self._records]
            return {
                "count": self._count,
                "in_flight": self._in_flight,
                "peak_in_flight": self._peak_in_flight,
                "requests": copy.deepcopy(requests),
            }

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
            self._count = 0
            # Requests still running count toward the next peak.
            self._peak_in_flight = self._in_flight

    def configure(self, **changes: Any) -> ScriptedConfig:
        allowed = {f.name for f in dataclasses.fields(ScriptedConfig)}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        config = dataclasses.replace(self.config, **changes)
        config.validate()
        # Swapping the reference is atomic; a request in progress keeps its plan.
        self.config = config
        return config
