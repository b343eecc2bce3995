"""Simulated participants: an LLM plays the patient and chats with the arm's model.

The patient model gets the scenario and a lay-person persona; the arm's model gets exactly
what a participant's chat sends it (the arm's system prompt, then the turns, assembled by
``chat.selectors.model_messages``) and streams its reply through the same client. After
up to the arm's max turns (or when the patient says it is finished) the patient answers
the study's two questions, scored like a participant's answer.

One item per scenario repetition; the whole transcript is kept in ``parsed["transcript"]``
with the timings and token counts of every model turn.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from studyapp.chat.llm import LLMError, OpenAICompatibleClient
from studyapp.chat.selectors import HistoryItem, model_messages
from studyapp.evaluations.engine import ItemResult, ItemState, complete_with_retries
from studyapp.evaluations.kinds.context import RunContext
from studyapp.evaluations.kinds.model_alone import question_values, score_text, study_levels
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.prompts import render, scenario_text
from studyapp.studies.models import Scenario

FINISHED = "FINISHED"


def plan(
    *, run: EvaluationRun, config: dict[str, Any], inputs: Any = None
) -> list[EvaluationItem]:
    study = run.study
    templates = config["templates"]
    values = question_values(study, study_levels(study))
    scenarios = Scenario.objects.filter(study=study, is_active=True).order_by("key")
    items = []
    for scenario in scenarios:
        patient_system = render(
            templates["patient_system"], scenario=scenario_text(scenario.sections)
        )
        for repetition in range(config.get("repetitions", 1)):
            items.append(
                EvaluationItem(
                    run=run,
                    scenario=scenario,
                    item_key=scenario.key,
                    repetition=repetition,
                    parsed={
                        "part": "together",
                        "patient_system": patient_system,
                        "final_questions": render(templates["final_questions"], **values),
                    },
                )
            )
    return items


def unit_key(item: ItemState | EvaluationItem) -> str:
    return f"{item.item_key}#{item.repetition}"


def _history(turns: list[dict]) -> list[HistoryItem]:
    """The transcript as the chat app's history rows (complete messages, in order)."""
    return [
        HistoryItem(
            id=i,
            sequence=i,
            role=turn["role"],
            text=turn["content"],
            status="complete",
            client_message_id=None,
            reply_to_id=None,
            created_at=None,
        )
        for i, turn in enumerate(turns, start=1)
    ]


async def _assistant_reply(
    client: OpenAICompatibleClient, messages: list[dict], params: dict
) -> dict[str, Any]:
    """One streamed reply of the arm's model, as a participant's chat gets it."""
    started = time.monotonic()
    first: float | None = None
    parts: list[str] = []
    usage = None
    async with aclosing(client.stream_chat(messages, params)) as events:
        async for event in events:
            if event.usage is not None:
                usage = event.usage
            if event.delta:
                first = first or time.monotonic()
                parts.append(event.delta)
    return {
        "role": "assistant",
        "content": "".join(parts),
        "ttft_ms": None if first is None else round((first - started) * 1000, 1),
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
    }


async def run_unit(
    ctx: RunContext, items: list[ItemState], stop: threading.Event
) -> AsyncIterator[ItemResult]:
    assistant = ctx.client()
    patient = OpenAICompatibleClient(ctx.data["patient"])
    config = ctx.config
    system_prompt = config.get("system_prompt", "")
    max_turns = int(config.get("max_turns", 10))
    patient_params = dict(config.get("patient_sampling") or {})
    for item in items:
        if item.status != EvaluationItem.Status.PENDING or stop.is_set():
            continue
        started = time.monotonic()
        transcript: list[dict] = []
        tokens = [0, 0]
        patient_view = [
            {"role": "system", "content": item.parsed["patient_system"]},
            {"role": "user", "content": config["templates"]["patient_start"]},
        ]

        async def ask_patient(messages: list[dict], tokens: list[int] = tokens) -> str:
            timed = await complete_with_retries(
                patient,
                messages,
                patient_params,
                attempts=ctx.attempts,
                base_delay_s=ctx.retry_base_s,
                stop=stop,
            )
            usage = timed.result.usage
            if usage:
                tokens[0] += usage.prompt_tokens or 0
                tokens[1] += usage.completion_tokens or 0
            return timed.result.text.strip()

        try:
            for _turn in range(max_turns):
                said = await ask_patient(patient_view)
                if FINISHED in said and transcript:
                    break
                transcript.append({"role": "user", "content": said})
                messages = model_messages(
                    system_prompt=system_prompt, history=_history(transcript)
                )
                reply = await _assistant_reply(assistant, messages, ctx.params)
                transcript.append(reply)
                tokens[0] += reply["prompt_tokens"] or 0
                tokens[1] += reply["completion_tokens"] or 0
                patient_view += [
                    {"role": "assistant", "content": said},
                    {"role": "user", "content": reply["content"]},
                ]
                if stop.is_set():
                    return
            final_prompt = [
                *patient_view,
                {"role": "user", "content": item.parsed["final_questions"]},
            ]
            answer = await ask_patient(final_prompt)
        except LLMError as exc:
            yield ItemResult(
                pk=item.pk, ok=False, error=exc.summary(), extra={"transcript": transcript}
            )
            continue
        duration = (time.monotonic() - started) * 1000
        yield ItemResult(
            pk=item.pk,
            ok=True,
            prompt=final_prompt,
            response=answer,
            duration_ms=duration,
            prompt_tokens=tokens[0],
            completion_tokens=tokens[1],
            finish_reason="stop",
            extra={
                "transcript": transcript,
                "turns": sum(t["role"] == "user" for t in transcript),
            },
        )


def score(ctx: RunContext, item: EvaluationItem, result: ItemResult) -> dict[str, Any]:
    fields = score_text(
        part="together",
        text=result.response,
        scenario=item.scenario,
        levels=ctx.data["levels"],
        level_pks=ctx.data["level_pks"],
    )
    update = fields.pop("parsed_update")
    return {"parsed": {**item.parsed, **update}} | fields
