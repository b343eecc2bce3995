"""Simulated participants: an LLM plays the patient and chats with the arm's model.

Each item (one scenario repetition) is a simulated participant of its own:
``Participant(is_simulated=True)`` on the run's arm, consented, with one active task for
the item's scenario. Every turn goes through the participants' own chat services
(``chat.services.message_store_user`` then ``reply_stream``), so the arm's model gets
exactly what a participant's chat sends it and the messages are stored, with their
timings, as a participant's are. After up to the arm's max turns (or when the patient says
it is finished) the patient answers the study's two questions; the answer is stored on the
task through ``participation.services.answer_submit`` (scored as a participant's is) and
on the item, which links to the task and keeps the transcript in ``parsed["transcript"]``.

The patient is asked the study's two questions and its confidence (0-100, as on the
participants' form). An answer the form would refuse (no care option, or no conditions in
words) is asked for once more, with what is missing and the allowed care options; if it
is still incomplete there is no Answer, and the item counts as wrong on both measures
(``score``). A confidence the patient does not give is stored as None, never made up.

Idempotent: the participant is keyed by a marker of the run and item
(``prolific_pid = "evalsim-<run>-<item>"``, unique per study), and a redelivered item
resumes from the stored conversation (its patient messages carry client message ids), so
a re-run never makes a second participant, task or message. The patient's answers to the
questions are stored on the item as they arrive (``parsed["final_replies"]``), so a
redelivered item never asks them, or re-asks, a second time.

Simulated participants never go through the allocation ledger and are left out of
everything about humans (``Participant.objects.humans()``).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from studyapp.chat.llm import EndpointConfig, LLMError, OpenAICompatibleClient, Purpose
from studyapp.chat.models import Message
from studyapp.chat.selectors import HistoryItem, conversation_history
from studyapp.chat.services import (
    ChatRefused,
    conversation_get_or_create,
    message_store_user,
    reply_stream,
)
from studyapp.evaluations.kinds.base import (
    Configured,
    EvaluationError,
    StartRequest,
    endpoint_prices,
)
from studyapp.evaluations.kinds.model_alone import (
    ScenarioKind,
    question_values,
    score_parsed,
    study_levels,
)
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.runtime.context import RunContext
from studyapp.evaluations.runtime.engine import ItemResult, ItemState, complete_with_retries
from studyapp.evaluations.runtime.slots import evaluation_slot
from studyapp.evaluations.science.parsing import Level, PatientAnswer, parse_patient_answer
from studyapp.evaluations.science.prompts import SIMULATED_TEMPLATES, render, scenario_text
from studyapp.participation.models import Participant, Task
from studyapp.participation.services import FlowError, answer_submit, task_start_answering
from studyapp.studies.models import Arm, ModelEndpoint, Scenario, Study

FINISHED = "FINISHED"


def participant_marker_prefix(*, run_id: int) -> str:
    """What the keys of a run's simulated participants start with."""
    return f"evalsim-{run_id}-"


def participant_marker(*, run_id: int, item_id: int) -> str:
    """The simulated participant's key (in prolific_pid, unique per study)."""
    return f"{participant_marker_prefix(run_id=run_id)}{item_id}"


def run_participants(*, run_id: int, study_id: int) -> QuerySet[Participant]:
    """The simulated participants a run made: by their marker, or through an item's task
    (the marker alone would miss none today; the link is a second, independent way).
    Only simulated ones: a person is never among them."""
    return (
        Participant.objects.simulated()
        .filter(study_id=study_id)
        .filter(
            Q(prolific_pid__startswith=participant_marker_prefix(run_id=run_id))
            | Q(tasks__evaluation_items__run_id=run_id)
        )
    )


# --- writes (plain Django, called from the loop through database_sync_to_async) ----------


@dataclass(frozen=True)
class SimulatedChat:
    participant_id: int
    task_id: int
    task_active: bool
    conversation_id: int
    history: list[HistoryItem]


@transaction.atomic
def simulated_chat_prepare(*, run_id: int, item_id: int) -> SimulatedChat:
    """The item's simulated participant, task and conversation, created once."""
    item = EvaluationItem.objects.select_related("run").get(pk=item_id, run_id=run_id)
    run = item.run
    now = timezone.now()
    # Made directly, not through consent: a simulated patient takes no ledger slot.
    participant, _ = Participant.objects.get_or_create(
        study_id=run.study_id,
        prolific_pid=participant_marker(run_id=run_id, item_id=item_id),
        defaults={
            "is_simulated": True,
            "arm_id": run.arm_id,
            "status": Participant.Status.CONSENTED,
            "consented_at": now,
            "instructions_read_at": now,
            "last_seen_at": now,
        },
    )
    task, _ = Task.objects.get_or_create(
        participant=participant,
        scenario_id=item.scenario_id,
        defaults={"position": 1, "status": Task.Status.ACTIVE, "started_at": now},
    )
    if item.task_id != task.pk:
        EvaluationItem.objects.filter(pk=item_id).update(task=task)
    conversation = conversation_get_or_create(task=task)
    return SimulatedChat(
        participant_id=participant.pk,
        task_id=task.pk,
        task_active=task.status == Task.Status.ACTIVE,
        conversation_id=conversation.pk,
        history=conversation_history(conversation_id=conversation.pk),
    )


def simulated_answer_store(
    *,
    participant_id: int,
    task_id: int,
    disposition_id: int | None,
    conditions_text: str,
    confidence: int | None,
) -> int | None:
    """The patient's answer on its task, through the participants' answer service.

    Returns the answer id, or None when there is no complete answer (no disposition or
    no conditions, even after the re-ask): the task then stays at the answer step with
    no Answer, as a participant's would, and the item keeps the raw text. A confidence
    the patient did not give is stored as None, never made up.
    """
    task_start_answering(task_id=task_id)
    if disposition_id is None:
        return None
    try:
        answer = answer_submit(
            participant_id=participant_id,
            position=1,
            disposition_id=disposition_id,
            conditions_text=conditions_text,
            confidence=confidence,
        )
    except (ValidationError, FlowError):
        return None
    return answer.pk


@transaction.atomic
def simulated_final_replies_save(*, item_id: int, replies: list[str]) -> None:
    """Keep the patient's answers to the questions on the item as they arrive, so a
    redelivered item reads them back instead of asking (or re-asking) again."""
    item = EvaluationItem.objects.select_for_update().get(pk=item_id)
    if item.status != EvaluationItem.Status.PENDING:
        return
    item.parsed = {**item.parsed, "final_replies": list(replies)}
    item.save(update_fields=["parsed", "updated_at"])


def simulated_transcript(*, conversation_id: int) -> list[dict[str, Any]]:
    """The stored chat (complete messages, in order) with each reply's timings."""
    rows = (
        Message.objects.filter(conversation_id=conversation_id, status=Message.Status.COMPLETE)
        .in_order()
        .values_list(
            "role",
            "text",
            "time_to_first_token_ms",
            "duration_ms",
            "prompt_tokens",
            "completion_tokens",
        )
    )
    transcript = []
    for role, text, ttft, duration, prompt_tokens, completion_tokens in rows:
        turn: dict[str, Any] = {"role": role, "content": text}
        if role == Message.Role.ASSISTANT:
            turn |= {
                "ttft_ms": None if ttft is None else round(ttft, 1),
                "duration_ms": None if duration is None else round(duration, 1),
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
            }
        transcript.append(turn)
    return transcript


# --- the conversation ------------------------------------------------------------------


class ReplyFailed(Exception):
    """The arm's reply did not complete (stored as error or interrupted by the chat)."""

    def __init__(self, status: str, code: str) -> None:
        self.summary = f"arm reply {status}: {code or 'no code'}"[:200]
        super().__init__(self.summary)


def _replay(history: list[HistoryItem]) -> tuple[list[tuple[str, str]], HistoryItem | None]:
    """Pure: the finished (patient, model) turns so far, and a patient message still
    waiting for a complete reply (a redelivered item resumes from there)."""
    replies = {
        m.reply_to_id: m
        for m in history
        if m.role == Message.Role.ASSISTANT and m.status == Message.Status.COMPLETE
    }
    pairs: list[tuple[str, str]] = []
    waiting: HistoryItem | None = None
    for message in history:
        if message.role != Message.Role.USER:
            continue
        reply = replies.get(message.id)
        if reply is None:
            waiting = message
        else:
            pairs.append((message.text, reply.text))
            waiting = None
    return pairs, waiting


async def _arm_reply(
    conversation_id: int, user_message_id: int, *, arm: EndpointConfig, stop: threading.Event
) -> str:
    """One reply of the arm's model through the participants' reply stream.

    It holds one of the arm endpoint's evaluation slots, as every model request of a job
    does; a participant's own chat never waits for one.
    """
    parts: list[str] = []
    status, code = "", ""
    async with (
        evaluation_slot(arm.endpoint_id, arm.evaluation_concurrency, stop=stop),
        aclosing(
            reply_stream(conversation_id=conversation_id, user_message_id=user_message_id)
        ) as events,
    ):
        async for event in events:
            if event.kind == "delta":
                parts.append(event.text)
            elif event.kind == "end":
                status, code = event.status, event.error_code
    if status != Message.Status.COMPLETE:
        raise ReplyFailed(status or "interrupted", code)
    return "".join(parts)


def _patient_view(system: str, start: str, pairs: list[tuple[str, str]]) -> list[dict]:
    """What the patient model sees: its roles are the mirror of the chat's."""
    view = [{"role": "system", "content": system}, {"role": "user", "content": start}]
    for said, reply in pairs:
        view += [{"role": "assistant", "content": said}, {"role": "user", "content": reply}]
    return view


def reask_message(missing: list[str], *, questions: str, templates: dict[str, str]) -> str:
    """The clarifying message: what the answer form would refuse, then the questions
    (with the allowed care options) again."""
    problems = [
        templates.get(f"reask_{part}") or SIMULATED_TEMPLATES[f"reask_{part}"] for part in missing
    ]
    return "\n".join([*problems, questions])


async def _final_answer(
    ask: Callable[[list[dict]], Awaitable[str]],
    *,
    item: ItemState,
    opening: list[dict],
    templates: dict[str, str],
    levels: list[Level],
    replies: list[str],
) -> tuple[list[dict], PatientAnswer]:
    """The patient's answer to the study's questions, asked once more (never twice) when
    it lacks a part the participants' answer form requires.

    `replies` holds the answers so far (a redelivered item's come from parsed); each new
    one is stored on the item before it is used. Returns the last prompt and the answer,
    the re-ask's parts completing the first's.
    """

    async def reply(index: int, prompt: list[dict]) -> str:
        """The patient's reply number index: read back, or asked and stored first."""
        if len(replies) <= index:
            replies.append(await ask(prompt))
            await database_sync_to_async(simulated_final_replies_save)(
                item_id=item.pk, replies=replies
            )
        return replies[index]

    prompt = [*opening, {"role": "user", "content": item.parsed["final_questions"]}]
    answer = parse_patient_answer(await reply(0, prompt), levels)
    if not answer.missing:
        return prompt, answer
    questions = item.parsed.get("reask_questions") or item.parsed["final_questions"]
    prompt = [
        *prompt,
        {"role": "assistant", "content": replies[0]},
        {
            "role": "user",
            "content": reask_message(answer.missing, questions=questions, templates=templates),
        },
    ]
    return prompt, answer.completed_by(parse_patient_answer(await reply(1, prompt), levels))


def _answer_facts(answer: PatientAnswer, replies: list[str]) -> dict[str, Any]:
    """What the item records of the patient's answer (in parsed)."""
    return {
        "final_replies": replies,
        "reasked": len(replies) > 1,
        # False: no complete answer even after the re-ask (no Answer row; see score()).
        "answered": not answer.missing,
        "missing": answer.missing,
        "patient_answer": {
            "disposition": answer.disposition_code,
            "conditions_text": answer.conditions_text,
            "confidence": answer.confidence,
        },
        "confidence": answer.confidence,
        "confidence_missing": answer.confidence is None,
    }


class SimulatedKind(ScenarioKind):
    """An LLM plays a lay patient who chats with the arm's model, then answers."""

    name = "simulated"
    label = "Simulated participants"

    def configure(
        self, *, study: Study, arm: Arm, request: StartRequest, base: dict
    ) -> Configured:
        patient_endpoint = arm.endpoint
        if request.patient_endpoint:
            patient_endpoint = ModelEndpoint.objects.filter(name=request.patient_endpoint).first()
            if patient_endpoint is None:
                raise EvaluationError(f"no model endpoint named {request.patient_endpoint!r}")
        config = self.arm_config(arm=arm, request=request, base=base) | {
            "templates": dict(SIMULATED_TEMPLATES),
            "patient_endpoint": patient_endpoint.name,
            # The patient's tokens are counted apart and priced at its endpoint's prices
            # (the arm's, given ones included, when the arm's endpoint plays the patient).
            "patient_price_per_million": base["price_per_million"]
            if patient_endpoint.pk == arm.endpoint_id
            else endpoint_prices(patient_endpoint),
            "max_turns": arm.max_turns,
            "patient_sampling": {"temperature": 0.7, "max_tokens": 200},
        }
        return Configured(config=config, inputs=None, source=f"arm {arm.key}")

    def context_data(self, run: EvaluationRun) -> dict[str, Any]:
        patient = ModelEndpoint.objects.get(name=run.config["patient_endpoint"])
        return super().context_data(run) | {
            # Runs started before purposes named the scripted patient by model.
            "patient": EndpointConfig.from_endpoint(
                patient, model=run.config.get("patient_model"), purpose=Purpose.PATIENT
            )
        }

    def made_participants(self, run: EvaluationRun) -> QuerySet[Participant]:
        return run_participants(run_id=run.pk, study_id=run.study_id)

    def plan(
        self, *, run: EvaluationRun, config: dict[str, Any], inputs: Any = None
    ) -> list[EvaluationItem]:
        study = run.study
        templates = config["templates"]
        values = question_values(study, study_levels(study))
        scenarios = Scenario.objects.filter(study=study).active().order_by("key")
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
                            "reask_questions": render(
                                templates.get("reask", SIMULATED_TEMPLATES["reask"]), **values
                            ),
                        },
                    )
                )
        return items

    async def run_unit(
        self, ctx: RunContext, items: list[ItemState], stop: threading.Event
    ) -> AsyncIterator[ItemResult]:
        patient = OpenAICompatibleClient(ctx.data["patient"])
        arm_reply = functools.partial(_arm_reply, arm=ctx.endpoint, stop=stop)
        config = ctx.config
        max_turns = int(config.get("max_turns", 10))
        patient_params = dict(config.get("patient_sampling") or {})
        levels = ctx.data["levels"]
        level_pks = ctx.data["level_pks"]
        db = database_sync_to_async
        for item in items:
            if item.status != EvaluationItem.Status.PENDING or stop.is_set():
                continue
            started = time.monotonic()
            tokens = [0, 0]

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

            chat: SimulatedChat | None = None
            final_replies: list[str] = list(item.parsed.get("final_replies") or [])
            try:
                chat = await db(simulated_chat_prepare)(run_id=ctx.run_id, item_id=item.pk)
                pairs, waiting = _replay(chat.history)
                turns = len(pairs) + (waiting is not None)
                if chat.task_active and waiting is not None:
                    pairs.append((waiting.text, await arm_reply(chat.conversation_id, waiting.id)))
                while chat.task_active and turns < max_turns and not stop.is_set():
                    view = _patient_view(
                        item.parsed["patient_system"], config["templates"]["patient_start"], pairs
                    )
                    said = (await ask_patient(view))[: settings.CHAT_MAX_MESSAGE_CHARS]
                    if FINISHED in said and pairs:
                        break
                    stored = await db(message_store_user)(
                        conversation_id=chat.conversation_id,
                        text=said,
                        # Per turn: a redelivered item never stores a turn twice.
                        client_message_id=f"evalsim-{item.pk}-{turns + 1}",
                    )
                    turns += 1
                    pairs.append((said, await arm_reply(chat.conversation_id, stored.message_id)))
                if stop.is_set():
                    return
                final_prompt, answer = await _final_answer(
                    ask_patient,
                    item=item,
                    opening=_patient_view(
                        item.parsed["patient_system"], config["templates"]["patient_start"], pairs
                    ),
                    templates=config["templates"],
                    levels=levels,
                    replies=final_replies,
                )
                answer_id = await db(simulated_answer_store)(
                    participant_id=chat.participant_id,
                    task_id=chat.task_id,
                    disposition_id=None
                    if answer.missing
                    else level_pks.get(answer.disposition_code),
                    conditions_text=answer.conditions_text,
                    confidence=answer.confidence,
                )
                transcript = await db(simulated_transcript)(conversation_id=chat.conversation_id)
            except (LLMError, ReplyFailed, ChatRefused) as exc:
                if isinstance(exc, ChatRefused):
                    error = f"chat refused: {exc.code}"
                else:
                    error = exc.summary() if isinstance(exc, LLMError) else exc.summary
                extra: dict[str, Any] = {}
                if chat is not None:
                    extra = {
                        "transcript": await db(simulated_transcript)(
                            conversation_id=chat.conversation_id
                        ),
                    }
                if final_replies:
                    extra["final_replies"] = final_replies
                yield ItemResult(pk=item.pk, ok=False, error=error, extra=extra)
                continue
            replies = [t for t in transcript if t["role"] == Message.Role.ASSISTANT]
            yield ItemResult(
                pk=item.pk,
                ok=True,
                prompt=final_prompt,
                response=final_replies[-1],
                duration_ms=(time.monotonic() - started) * 1000,
                prompt_tokens=tokens[0] + sum(t["prompt_tokens"] or 0 for t in replies),
                completion_tokens=tokens[1] + sum(t["completion_tokens"] or 0 for t in replies),
                finish_reason="stop",
                extra={
                    "transcript": transcript,
                    "turns": sum(t["role"] == Message.Role.USER for t in transcript),
                    "participant_id": chat.participant_id,
                    "answer_id": answer_id,
                    **_answer_facts(answer, final_replies),
                    # The patient's share of the token counts, priced at its endpoint's prices.
                    "patient_tokens": {"prompt": tokens[0], "completion": tokens[1]},
                },
            )

    def score(self, ctx: RunContext, item: EvaluationItem, result: ItemResult) -> dict[str, Any]:
        """Scores of the patient's answer, as its Answer row has them.

        An answer the participants' form would refuse (no disposition or no conditions after
        the re-ask) is no answer: scored with neither, so it counts as wrong on both measures
        and stays in every denominator (items are counted, not Answer rows). The parts it did
        give stay in parsed["patient_answer"], the raw text in response and final_replies.
        """
        extra = result.extra
        given = extra["patient_answer"]
        answered = extra["answered"]
        fields = score_parsed(
            part="together",
            code=given["disposition"] if answered else None,
            conditions_text=given["conditions_text"] if answered else "",
            scenario=item.scenario,
            levels=ctx.data["levels"],
            level_pks=ctx.data["level_pks"],
        )
        update = fields.pop("parsed_update")
        return {"parsed": {**item.parsed, **update}} | fields
