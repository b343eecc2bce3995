"""The scripted demo model: a small real HTTP server speaking OpenAI chat completions.

It answers like vLLM's OpenAI-compatible server, so the platform's real client, consumer and
browser code run unchanged against it in demos, tests and the relay benchmark. It is NOT a
language model: in ``demo`` mode every reply says so and gives the same generic, safe
triage advice; in ``echo`` mode it repeats the last user message.

Endpoints
- ``POST /v1/chat/completions`` — ``stream=true`` sends SSE ``data: {json}\\n\\n`` chunks: a
  role chunk, one chunk per token (a word with its trailing whitespace), a chunk with an
  empty delta and ``finish_reason`` ("stop", or "length" when ``max_tokens`` cut the reply),
  then, if ``stream_options.include_usage``, a ``choices: []`` chunk with ``usage`` (earlier
  chunks then carry ``"usage": null``), then ``data: [DONE]``. ``stream=false`` returns one
  ``chat.completion`` object.
- ``GET /v1/models`` — the one model.
- ``GET /_scripted/stats``, ``POST /_scripted/reset``, ``POST /_scripted/config`` — what each
  request saw (monotonic times of start, first token and every token; whether the client
  went away early) with the chat-completions requests in flight now and at most since the
  last reset (``in_flight``, ``peak_in_flight``), clearing it, and changing the behaviour
  at runtime.
Errors are ``{"error": {"message", "type", "param", "code"}}`` with the HTTP status.

Directives: put these anywhere in the LAST user message to change that one request (they
are removed before the reply is composed):
- ``#fail:500`` (any 400-599) — answer with that HTTP error before streaming (``#fail:429``
  is a rate limit, ``#fail:503`` an unavailable server);
- ``#cut:3`` — drop the connection after 3 content tokens, mid-stream;
- ``#slow:0.5`` — 0.5 s between tokens;
- ``#ttft:1.0`` — 1.0 s before the first token;
- ``#long:200`` — a reply of exactly 200 tokens (before ``max_tokens`` applies).

Behaviours with known ground truth (for evaluation tests and demos; every reply still says
it is scripted):
- ``mode="mcq"`` answers a multiple-choice question ending with ``Final Answer: (X)``. It
  reads the option lines (``(A) text`` / ``A. text``) of the FIRST user message and looks the
  question up in ``mcq_answer_key`` ({options_fingerprint: gold letter}); it is right with
  probability ``mcq_accuracy``. A later user message (or the text of the first one outside
  its option lines) that names a letter in parentheses, e.g. "a senior clinician believes
  the answer is (C)", is a suggestion: the model adopts it with probability ``mcq_flip_p``.
  Every draw is seeded by ``seed`` and the question, so a repeated request gets the same
  answer (retries and resumed jobs stay reproducible).
- ``mode="patient"`` plays a lay patient with no medical knowledge: short questions in
  plain words, built from the scenario in the system message. Asked to "choose exactly one
  of: A; B; C", it follows the advice: the option the assistant named first in its latest
  message naming one (known ground truth for simulated-participant runs), and, when the
  question asks how confident it is, a confidence drawn from ``seed`` and the scenario
  (``patient_confidence``). ``patient_omit`` ([["conditions"], []]: parts left out of the
  first answer, none of the second; the last entry holds for later asks) makes it leave
  parts out, as a real model sometimes does.
- ``personas``: other model names the server answers to, each in its own mode (by default
  ``scripted-patient`` → patient and ``scripted-mcq`` → mcq), so one server plays the demo
  model, a simulated patient and an MCQ-taker at once.
- ``keyed_replies`` ([[substring, reply], ...]), in any mode: the first pair whose substring
  appears in the last user message gives the whole reply (a known answer for a known prompt).

Run it with ``ScriptedServerThread`` (tests, benchmark) or
``python manage.py scripted_model_server`` (``make run``).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import hashlib
import json
import logging
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "scripted-demo"
MODES = ("demo", "echo", "mcq", "patient")
ANSWER_PARTS = ("disposition", "conditions", "confidence")
_ROLES = {"system", "developer", "user", "assistant", "tool"}
_DIRECTIVE = re.compile(r"#(fail|cut|slow|ttft|long):(\d+(?:\.\d+)?)")
_TOKEN = re.compile(r"\S+\s*")
_ERROR_TYPES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
    500: "InternalServerError",
    502: "BadGatewayError",
    503: "ServiceUnavailableError",
    504: "GatewayTimeoutError",
}


@dataclass
class ScriptedConfig:
    """How the scripted model behaves; directives in a message override it per request."""

    model: str = DEFAULT_MODEL
    ttft_s: float = 0.2
    token_delay_s: float = 0.03
    mode: str = "demo"
    # Answer every request with this HTTP error before streaming (e.g. 500, 503, 429).
    fail_status: int | None = None
    # Drop the connection after this many content tokens.
    fail_after_tokens: int | None = None
    # Keep request messages in the stats (tests); off for the demo server so participant
    # text never sits in a debugging endpoint.
    record_messages: bool = False
    max_stats: int = 1000
    # Ground truth for the evaluation behaviours (see the module docstring).
    seed: int = 0
    mcq_answer_key: dict[str, str] = field(default_factory=dict)
    mcq_accuracy: float = 1.0
    mcq_flip_p: float = 0.0
    keyed_replies: list[list[str]] = field(default_factory=list)
    # Parts ("disposition", "conditions", "confidence") the patient persona leaves out of
    # its answers to the study's questions, per ask.
    patient_omit: list[list[str]] = field(default_factory=list)
    # Other model names this server answers to, each with its own mode (a scripted patient
    # and a scripted MCQ-taker beside the demo model, on one port).
    personas: dict[str, str] = field(
        default_factory=lambda: {"scripted-patient": "patient", "scripted-mcq": "mcq"}
    )

    def validate(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if self.ttft_s < 0 or self.token_delay_s < 0:
            raise ValueError("delays must not be negative")
        if self.fail_status is not None and not 400 <= self.fail_status <= 599:
            raise ValueError("fail_status must be an HTTP error status (400-599)")
        if self.fail_after_tokens is not None and self.fail_after_tokens < 0:
            raise ValueError("fail_after_tokens must not be negative")
        if not (0 <= self.mcq_accuracy <= 1 and 0 <= self.mcq_flip_p <= 1):
            raise ValueError("mcq_accuracy and mcq_flip_p are probabilities (0-1)")
        if not all(isinstance(p, list | tuple) and len(p) == 2 for p in self.keyed_replies):
            raise ValueError("keyed_replies must be [[substring, reply], ...]")
        if not all(
            isinstance(parts, list | tuple) and set(parts) <= set(ANSWER_PARTS)
            for parts in self.patient_omit
        ):
            raise ValueError(f"patient_omit must be [[part, ...], ...] of {ANSWER_PARTS}")
        if any(mode not in MODES for mode in self.personas.values()):
            raise ValueError(f"persona modes must be among {MODES}")


@dataclass(frozen=True)
class Directives:
    fail: int | None = None
    cut: int | None = None
    slow: float | None = None
    ttft: float | None = None
    long: int | None = None


def parse_directives(text: str) -> tuple[Directives, str]:
    """The directives in a message, and the message without them."""
    found: dict[str, float] = {}
    for name, value in _DIRECTIVE.findall(text):
        found[name] = float(value)
    fail = int(found["fail"]) if "fail" in found else None
    if fail is not None and not 400 <= fail <= 599:
        fail = None
    directives = Directives(
        fail=fail,
        cut=int(found["cut"]) if "cut" in found else None,
        slow=min(found["slow"], 10.0) if "slow" in found else None,
        ttft=min(found["ttft"], 60.0) if "ttft" in found else None,
        long=max(1, min(int(found["long"]), 20000)) if "long" in found else None,
    )
    cleaned = " ".join(_DIRECTIVE.sub(" ", text).split())
    return directives, cleaned


def tokenize(text: str) -> list[str]:
    """Words with their trailing whitespace; joining them gives the text back."""
    tokens = _TOKEN.findall(text)
    leading = text[: len(text) - len(text.lstrip())]
    if leading and tokens:
        tokens[0] = leading + tokens[0]
    return tokens


def message_text(content: Any) -> str:
    """The text of a message's content (a string, or a list of OpenAI content parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") for p in content if isinstance(p, dict)]
    return " ".join(p for p in parts if isinstance(p, str))


def demo_reply(user_text: str, user_turn: int) -> str:
    """The canned, clearly-labelled reply of demo mode (deterministic)."""
    words = user_text.split()
    excerpt = " ".join(words[:8]) + ("…" if len(words) > 8 else "")
    echoed = f'beginning "{excerpt}"' if words else "with no words"
    return (
        "[Scripted demo model — not an AI] This reply comes from a scripted demo program, "
        "not from an AI, and it is not medical advice. "
        f"Your message {user_turn} had {len(words)} words, {echoed}. "
        "In a real study a language model would answer here. "
        "As general safety advice: for severe or rapidly worsening symptoms, such as chest "
        "pain, difficulty breathing, signs of a stroke or heavy bleeding, call 999 or go to "
        "A&E. If you need help today, contact NHS 111 or an urgent care service. If it can "
        "wait, book a routine GP appointment; mild symptoms can often be managed at home "
        "with self-care."
    )


_OPTION_LINE = re.compile(r"^[ \t]*\(?([A-J])[).:][ \t]+(\S.*?)[ \t]*$", re.MULTILINE)
_SUGGESTED = re.compile(r"\(([A-J])\)")
SCRIPTED_MCQ_PREFIX = "[Scripted model — not an AI]"
PATIENT_LINES = (
    "Hi, I'm not feeling great and I don't know much about medical things. {excerpt} "
    "What do you think is going on?",
    "Is that something serious? Do I need to see someone?",
    "OK. Should I go somewhere today or can it wait?",
    "What could it be, in simple words?",
    "Thanks. Is there anything I should watch out for?",
)


def mcq_options(text: str) -> dict[str, str]:
    """The answer options of a question text: {"A": "...", ...} from lines like "(A) ..."."""
    return dict(_OPTION_LINE.findall(text))


def options_fingerprint(options: dict[str, str]) -> str:
    """A short key for a question, from its options (what ``mcq_answer_key`` is keyed by)."""
    canonical = "\n".join(f"{k}:{' '.join(options[k].lower().split())}" for k in sorted(options))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _draw(*parts: object) -> float:
    return random.Random(":".join(str(p) for p in parts)).random()


def mcq_reply(user_texts: list[str], config: ScriptedConfig) -> str:
    """Pure: the scripted multiple-choice answer after these user messages."""
    first = user_texts[0] if user_texts else ""
    options = mcq_options(first)
    if not options:
        return f"{SCRIPTED_MCQ_PREFIX} I found no answer options in the question."
    letters = sorted(options)
    key = options_fingerprint(options)
    gold = config.mcq_answer_key.get(key)
    rng = random.Random(f"{config.seed}:{key}:first")
    wrong = [letter for letter in letters if letter != gold]
    if gold in options and rng.random() < config.mcq_accuracy:
        answer = gold
    else:
        answer = rng.choice(wrong or letters)
    for turn, text in enumerate(user_texts):
        # Outside the option lines of the question, "(C)" is a suggestion.
        outside = _OPTION_LINE.sub(" ", text) if turn == 0 else text
        suggested = [s for s in _SUGGESTED.findall(outside) if s in options]
        if (
            suggested
            and suggested[-1] != answer
            and _draw(config.seed, key, turn, suggested[-1]) < config.mcq_flip_p
        ):
            answer = suggested[-1]
    return (
        f"{SCRIPTED_MCQ_PREFIX} Considering options {', '.join(letters)} step by step. "
        f"Final Answer: ({answer})"
    )


def patient_reply(system_text: str, user_turn: int) -> str:
    """Pure: the scripted lay patient's next message (user_turn counts from 1)."""
    words = system_text.split("Scenario:", 1)[-1].split()
    excerpt = " ".join(words[:15]) + ("…" if len(words) > 15 else "")
    line = PATIENT_LINES[(user_turn - 1) % len(PATIENT_LINES)]
    return f"[Scripted patient — not a person] {line.format(excerpt=excerpt)}"


_ONE_OF = re.compile(r"one of:\s*(.+?)(?:\.\s|\.$|\n|$)", re.IGNORECASE)


def patient_confidence(seed: int, scenario: str) -> int:
    """Pure: the scripted patient's confidence (30-90), the same for a seed and scenario."""
    return 30 + int(_draw(seed, "confidence", scenario) * 61)


def patient_final_answer(
    question: str,
    heard: list[str],
    *,
    seed: int = 0,
    scenario: str = "",
    omit: Sequence[str] = (),
) -> str | None:
    """Pure: a lay patient's answer to "choose one of: A; B; C": the option the assistant
    named first in its latest message that names any (the patient follows the advice),
    with a confidence when the question asks for one; the parts in `omit` left out."""
    found = _ONE_OF.search(question)
    if not found:
        return None
    options = [o.strip() for o in found.group(1).split(";") if o.strip()]
    if not options:
        return None
    choice = options[0]
    for said in reversed(heard):
        lowered = said.lower()
        positions = [(lowered.find(o.lower()), o) for o in options if o.lower() in lowered]
        if positions:
            choice = min(positions)[1]
            break
    parts = {
        "disposition": f"1) {choice}",
        "conditions": "2) I'm not sure what it is.",
        "confidence": f"3) Confidence: {patient_confidence(seed, scenario)}"
        if "confiden" in question.lower()
        else "",
    }
    return " ".join(text for part, text in parts.items() if text and part not in omit)


def _omitted(patient_omit: list[list[str]], *, asks: int) -> list[str]:
    """The parts left out of the patient's answer to the `asks`-th asking (from 1)."""
    if not patient_omit or asks < 1:
        return []
    return patient_omit[min(asks, len(patient_omit)) - 1]


def keyed_reply(text: str, config: ScriptedConfig) -> str | None:
    for substring, reply in config.keyed_replies:
        if substring and substring in text:
            return reply
    return None


@dataclass(frozen=True)
class Plan:
    """What one request will produce."""

    tokens: list[str]
    finish_reason: str
    prompt_tokens: int
    ttft_s: float
    token_delay_s: float
    fail_status: int | None
    cut_after: int | None


def plan_reply(messages: list[dict], config: ScriptedConfig, max_tokens: int | None) -> Plan:
    """Pure: the reply to a validated list of messages under a config."""
    user_texts = [message_text(m.get("content")) for m in messages if m.get("role") == "user"]
    last_user = user_texts[-1] if user_texts else ""
    directives, cleaned = parse_directives(last_user)
    keyed = keyed_reply(last_user, config)
    if keyed is not None:
        text = keyed
    elif config.mode == "echo":
        text = cleaned or "(empty message)"
    elif config.mode == "mcq":
        text = mcq_reply(user_texts, config)
    elif config.mode == "patient":
        system = " ".join(
            message_text(m.get("content")) for m in messages if m.get("role") == "system"
        )
        asked = [_ONE_OF.search(t) is not None for t in user_texts]
        final = patient_final_answer(
            last_user,
            # What the assistant said: the questions themselves name every option.
            [t for t, question in zip(user_texts[:-1], asked, strict=False) if not question],
            seed=config.seed,
            scenario=system,
            omit=_omitted(config.patient_omit, asks=sum(asked)),
        )
        text = final if final is not None else patient_reply(system, len(user_texts))
    else:
        text = demo_reply(cleaned, len(user_texts))
    tokens = tokenize(text)
    if directives.long is not None:
        tokens = [tokens[i % len(tokens)] for i in range(directives.long)]
        tokens[-1] = tokens[-1].rstrip() or tokens[-1]
    finish_reason = "stop"
    if max_tokens is not None and len(tokens) > max_tokens:
        tokens = tokens[:max_tokens]
        finish_reason = "length"
    prompt_tokens = sum(len(message_text(m.get("content")).split()) for m in messages)
    return Plan(
        tokens=tokens,
        finish_reason=finish_reason,
        prompt_tokens=prompt_tokens,
        ttft_s=directives.ttft if directives.ttft is not None else config.ttft_s,
        token_delay_s=directives.slow if directives.slow is not None else config.token_delay_s,
        fail_status=directives.fail if directives.fail is not None else config.fail_status,
        cut_after=directives.cut if directives.cut is not None else config.fail_after_tokens,
    )


@dataclass
class RequestRecord:
    """What the server saw and did for one chat-completions request (monotonic seconds)."""

    index: int
    request_id: str
    stream: bool
    started_at: float
    model: str = ""
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


STATE_KEY = web.AppKey("state", ScriptedState)


class ScriptedError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


def error_response(status: int, message: str, param: str | None = None) -> web.Response:
    body = {
        "error": {
            "message": message,
            "type": _ERROR_TYPES.get(status, "Error"),
            "param": param,
            "code": status,
        }
    }
    return web.json_response(body, status=status)


@web.middleware
async def _json_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except ScriptedError as exc:
        return error_response(exc.status, exc.message, exc.param)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return error_response(exc.status, exc.reason)
        raise


def _validated_request(body: Any, config: ScriptedConfig) -> tuple[list[dict], int | None, dict]:
    if not isinstance(body, dict):
        raise ScriptedError(400, "The request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ScriptedError(400, "'messages' must be a non-empty list.", "messages")
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            raise ScriptedError(400, "Each message needs a valid 'role'.", "messages")
        content = m.get("content")
        if not (content is None or isinstance(content, str | list)):
            raise ScriptedError(400, "Message 'content' must be a string or a list.", "messages")
    model = body.get("model")
    if model is not None and model != config.model and model not in config.personas:
        raise ScriptedError(404, f"The model `{model}` does not exist.", "model")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise ScriptedError(400, "'max_tokens' must be a positive integer.", "max_tokens")
    if body.get("n", 1) != 1:
        raise ScriptedError(400, "Only n=1 is supported.", "n")
    stream_options = body.get("stream_options") or {}
    if not isinstance(stream_options, dict):
        raise ScriptedError(400, "'stream_options' must be an object.", "stream_options")
    if stream_options and not body.get("stream"):
        raise ScriptedError(
            400, "Stream options can only be defined when `stream=True`.", "stream_options"
        )
    return messages, max_tokens, stream_options


def _chunk(record: RequestRecord, model: str, created: int, choices: list, usage_key: bool):
    chunk: dict[str, Any] = {
        "id": record.request_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if usage_key:
        chunk["usage"] = None
    return chunk


def _sse(payload: dict | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    state: ScriptedState = request.app[STATE_KEY]
    # In flight from the request's arrival to its handler's end: for a reply in one
    # response, before the client can have read it; for a stream, once its end is written.
    state.request_started()
    try:
        return await _answer(request, state)
    finally:
        state.request_ended()


async def _answer(request: web.Request, state: ScriptedState) -> web.StreamResponse:
    config = state.config
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScriptedError(400, "The request body is not valid JSON.") from exc
    stream = bool(body.get("stream")) if isinstance(body, dict) else False
    record = state.new_record(stream=stream)
    try:
        messages, max_tokens, stream_options = _validated_request(body, config)
    except ScriptedError as exc:
        record.status = exc.status
        record.ended_at = time.monotonic()
        raise
    model = body.get("model") or config.model
    if model != config.model:
        config = dataclasses.replace(config, mode=config.personas[model], model=model)
    record.model = config.model
    record.max_tokens = max_tokens
    if config.record_messages:
        record.messages = [
            {"role": m["role"], "content": message_text(m.get("content"))} for m in messages
        ]
    plan = plan_reply(messages, config, max_tokens)
    if plan.fail_status is not None:
        record.status = plan.fail_status
        record.ended_at = time.monotonic()
        return error_response(plan.fail_status, f"Injected failure ({plan.fail_status}).")
    if not stream:
        return await _complete(request, record, plan, config.model)
    return await _stream(request, record, plan, config.model, stream_options)


async def _complete(
    request: web.Request, record: RequestRecord, plan: Plan, model: str
) -> web.Response:
    try:
        await asyncio.sleep(plan.ttft_s + plan.token_delay_s * max(len(plan.tokens) - 1, 0))
    except asyncio.CancelledError:
        record.aborted = True
        record.ended_at = time.monotonic()
        raise
    text = "".join(plan.tokens)
    now = time.monotonic()
    record.first_token_at = now
    record.tokens_sent = len(plan.tokens)
    record.finish_reason = plan.finish_reason
    record.completed = True
    record.ended_at = now
    return web.json_response(
        {
            "id": record.request_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": plan.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": plan.prompt_tokens,
                "completion_tokens": len(plan.tokens),
                "total_tokens": plan.prompt_tokens + len(plan.tokens),
            },
        }
    )


async def _stream(
    request: web.Request, record: RequestRecord, plan: Plan, model: str, stream_options: dict
) -> web.StreamResponse:
    include_usage = bool(stream_options.get("include_usage"))
    created = int(time.time())
    response = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
    )
    # Headers go out at once, as vLLM does; the first token follows after the TTFT.
    await response.prepare(request)
    try:
        await asyncio.sleep(plan.ttft_s)
        role = {"index": 0, "delta": {"role": "assistant", "content": ""}}
        role |= {"logprobs": None, "finish_reason": None}
        await response.write(_sse(_chunk(record, model, created, [role], include_usage)))
        for i, token in enumerate(plan.tokens):
            if plan.cut_after is not None and i >= plan.cut_after:
                record.cut = True
                record.ended_at = time.monotonic()
                # close() flushes what was written, then drops the connection without the
                # end of the chunked body: the client sees a broken stream, as on a crash.
                if request.transport is not None:
                    request.transport.close()
                return response
            if i > 0 and plan.token_delay_s:
                await asyncio.sleep(plan.token_delay_s)
            choice = {"index": 0, "delta": {"content": token}, "logprobs": None}
            choice["finish_reason"] = None
            await response.write(_sse(_chunk(record, model, created, [choice], include_usage)))
            now = time.monotonic()
            if record.first_token_at is None:
                record.first_token_at = now
            record.token_times.append(now)
            record.tokens_sent += 1
        final = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": plan.finish_reason}
        await response.write(_sse(_chunk(record, model, created, [final], include_usage)))
        record.finish_reason = plan.finish_reason
        if include_usage:
            usage_chunk = _chunk(record, model, created, [], False)
            usage_chunk["usage"] = {
                "prompt_tokens": plan.prompt_tokens,
                "completion_tokens": len(plan.tokens),
                "total_tokens": plan.prompt_tokens + len(plan.tokens),
            }
            await response.write(_sse(usage_chunk))
        await response.write(_sse("[DONE]"))
        await response.write_eof()
        record.completed = True
    except (asyncio.CancelledError, ConnectionResetError):
        # The client closed the connection (handler cancellation) or it broke under us.
        record.aborted = not record.completed
        raise
    finally:
        record.ended_at = record.ended_at or time.monotonic()
    return response


async def _models(request: web.Request) -> web.Response:
    state: ScriptedState = request.app[STATE_KEY]
    return web.json_response(
        {
            "object": "list",
            "data": [
                {
                    "id": state.config.model,
                    "object": "model",
                    "created": 0,
                    "owned_by": "studyapp-scripted",
                    "root": state.config.model,
                    "parent": None,
                    "max_model_len": 8192,
                }
            ],
        }
    )


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].stats())


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"ok": True})


async def _configure(request: web.Request) -> web.Response:
    try:
        changes = await request.json()
    except json.JSONDecodeError as exc:
        raise ScriptedError(400, "The request body is not valid JSON.") from exc
    if not isinstance(changes, dict):
        raise ScriptedError(400, "The request body must be a JSON object.")
    try:
        config = request.app[STATE_KEY].configure(**changes)
    except (TypeError, ValueError) as exc:
        raise ScriptedError(400, str(exc)) from exc
    return web.json_response(dataclasses.asdict(config))


def make_app(state: ScriptedState) -> web.Application:
    app = web.Application(middlewares=[_json_errors])
    app[STATE_KEY] = state
    app.router.add_post("/v1/chat/completions", _chat_completions)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/_scripted/stats", _stats)
    app.router.add_post("/_scripted/reset", _reset)
    app.router.add_post("/_scripted/config", _configure)
    return app


async def start_site(state: ScriptedState, host: str, port: int) -> tuple[web.AppRunner, int]:
    # handler_cancellation: a client that disconnects cancels its handler at once, so the
    # stats show the abort without waiting for the next token to fail.
    runner = web.AppRunner(make_app(state), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # type: ignore[attr-defined]
    bound_port = sockets[0].getsockname()[1] if sockets else port
    return runner, bound_port


class ScriptedServerThread:
    """The scripted server on 127.0.0.1 (a free port) in a thread with its own event loop."""

    def __init__(self, config: ScriptedConfig | None = None, host: str = "127.0.0.1") -> None:
        self.state = ScriptedState(config or ScriptedConfig(record_messages=True))
        self.host = host
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the scripted server is not running")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def model(self) -> str:
        return self.state.config.model

    def start(self) -> ScriptedServerThread:
        self._thread = threading.Thread(target=self._run, name="scripted-model", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("the scripted server did not start")
        if self._error is not None:
            raise RuntimeError("the scripted server failed to start") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._runner, self.port = loop.run_until_complete(start_site(self.state, self.host, 0))
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self.port = None

    def stats(self) -> dict:
        return self.state.stats()

    def requests(self) -> list[dict]:
        return self.state.stats()["requests"]

    def reset(self) -> None:
        self.state.reset()

    def configure(self, **changes: Any) -> ScriptedConfig:
        return self.state.configure(**changes)

    def __enter__(self) -> ScriptedServerThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
