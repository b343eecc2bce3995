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
- ``mode="grader"`` grades one rubric item (the prompt of
  ``studyapp.evaluations.science.rubric``) by a rule known in advance: met if and only if
  the item's key (``<criterion key="advises-999">``) is named as a whole token in the
  ``<graded>`` block (the assistant's turns, or the answer); the conversation shown for
  context never counts. It replies ``{"met": true|false, "explanation": ...}``; the keys in
  ``grader_flip_keys`` get the inverted verdict (a grader with known errors), and a prompt
  without both blocks gets a reply that holds no verdict.
- ``purposes``: the mode a request's purpose selects, read from its ``X-Studyapp-Purpose``
  header (``studyapp.chat.llm.PURPOSE_HEADER``, sent by the product's client for
  ``EndpointConfig.purpose``), whatever model it names: by default ``mcq`` → mcq,
  ``patient`` → patient and ``grader`` → grader, so one server plays the demo model, a
  simulated patient, an MCQ-taker and a rubric grader at once while the product only says
  what each request is for. A purpose with no entry gets the model's mode.
- ``personas``: other model names the server answers to, each in its own mode (by default
  ``scripted-patient`` → patient and ``scripted-mcq`` → mcq); kept for evaluation runs that
  stored such a name in their config.

A new mode is a function in ``personas.PERSONAS``; an entry in ``purposes`` lets a purpose
select it.
- ``keyed_replies`` ([[substring, reply], ...]), in any mode: the first pair whose substring
  appears in the last user message gives the whole reply (a known answer for a known prompt).

Run it with ``ScriptedServerThread`` (tests, benchmark) or
``python manage.py scripted_model_server`` (``make run``).

Modules: ``config`` (ScriptedConfig), ``personas`` (the modes' replies, pure), ``replies``
(directives, tokens, the plan of one reply), ``state`` (what each request saw), ``server``
(the aiohttp routes, ``start_site`` and ``ScriptedServerThread``).
"""

from __future__ import annotations

from studyapp.devtools.scripted_server.config import DEFAULT_MODEL, ScriptedConfig
from studyapp.devtools.scripted_server.personas import (
    ANSWER_PARTS,
    MODES,
    PERSONAS,
    demo_reply,
    grader_reply,
    key_named,
    mcq_options,
    mcq_reply,
    options_fingerprint,
    patient_confidence,
    patient_final_answer,
    patient_reply,
)
from studyapp.devtools.scripted_server.replies import (
    Plan,
    message_text,
    parse_directives,
    plan_reply,
    tokenize,
)
from studyapp.devtools.scripted_server.server import ScriptedServerThread, make_app, start_site
from studyapp.devtools.scripted_server.state import RequestRecord, ScriptedState

__all__ = [
    "ANSWER_PARTS",
    "DEFAULT_MODEL",
    "MODES",
    "PERSONAS",
    "Plan",
    "RequestRecord",
    "ScriptedConfig",
    "ScriptedServerThread",
    "ScriptedState",
    "demo_reply",
    "grader_reply",
    "key_named",
    "make_app",
    "mcq_options",
    "mcq_reply",
    "message_text",
    "options_fingerprint",
    "parse_directives",
    "patient_confidence",
    "patient_final_answer",
    "patient_reply",
    "plan_reply",
    "start_site",
    "tokenize",
]
