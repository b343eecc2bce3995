"""A synthetic study at scale, for the analysis benchmark (bench/analysis.py).

    build_synthetic_study(slug="bench-10000", participants=10_000, messages=200_000)

Ten scenarios on the 5-level scale, three LLM arms and a control arm (equal weights), two
tasks per participant, chats in the LLM arms (1 to 10 turns, their lengths adjusted so the
study has exactly `messages` messages), answers with their scores, transcript scores
(analysis.ConversationScore) and the allocation ledger. Everything goes in with
bulk_create in batches, a block of participants at a time, so memory stays flat.

The data are drawn, not scored: each answer's `conditions_correct` and each chat's
"model named a condition" are decided first and the text is written to agree (a gold term
is put in, or not). So the dashboard has realistic proportions to show, and the scores
are what the scorer would find; the benchmark times the real scorer separately.

Needs Django set up (bench/analysis.py does it). Deterministic for a given seed.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from studyapp.analysis.models import ConversationScore
from studyapp.chat.models import Conversation, Message
from studyapp.participation.models import Allocation, Answer, Participant, Task
from studyapp.scoring.conditions import SCORER_VERSION
from studyapp.studies.models import Arm, ModelEndpoint, Scenario, Study
from studyapp.studies.services import disposition_scale_get_or_create_default

BATCH = 2000
# Participants created per block (their tasks, chats and answers follow, then the next).
BLOCK = 1000
DAYS = 30

# (key, gold level code, gold conditions); original, not HELPMed's.
SCENARIOS = [
    ("headache", "ae", ["subarachnoid haemorrhage", "meningitis", "migraine", "stroke"]),
    ("breathless", "ambulance", ["pulmonary embolism", "pneumothorax", "heart attack"]),
    ("belly", "ae", ["appendicitis", "ectopic pregnancy", "ovarian torsion"]),
    ("cough", "routine_gp", ["chest infection", "asthma", "lung cancer"]),
    ("rash", "urgent_primary_care", ["cellulitis", "shingles", "allergic reaction"]),
    ("tired", "routine_gp", ["anaemia", "hypothyroidism", "depression"]),
    ("cold", "self_care", ["common cold", "sinusitis", "influenza"]),
    ("back", "self_care", ["muscle strain", "sciatica", "kidney stones"]),
    ("chest", "ambulance", ["heart attack", "angina", "aortic dissection"]),
    ("ear", "urgent_primary_care", ["otitis media", "glue ear", "mastoiditis"]),
]
# (key, model, P(exact disposition), P(answer names a gold condition), P(model names one))
ARMS = [
    ("gpt-4o", "gpt-4o", 0.45, 0.34, 0.70),
    ("llama-3-70b", "llama-3-70b-instruct", 0.44, 0.33, 0.68),
    ("command-r-plus", "command-r-plus", 0.40, 0.30, 0.62),
    ("control", None, 0.56, 0.47, None),
]
USER_LINES = [
    "I have had this for two days and it is getting worse. What should I do?",
    "Is this something serious or can it wait until Monday?",
    "What could be causing this? I am a bit worried.",
    "Should I go to A&E or just see my GP?",
    "It started after dinner yesterday. Any idea what it is?",
    "My partner thinks I am overreacting. What do you think?",
]
MODEL_LINES = [
    "I'm not a doctor, but I can help you think this through. ",
    "Based on what you describe, there are a few possibilities worth considering. ",
    "It is important to look at how quickly the symptoms came on and whether they are "
    "getting worse, because that changes how urgently you should be seen. ",
    "Keep an eye on warning signs such as a high temperature, confusion, or severe pain. ",
    "If things get worse, or you feel very unwell, seek help straight away. ",
    "Rest, drink plenty of fluids, and make a note of when each symptom started. ",
]


@dataclass(frozen=True)
class Built:
    study_id: int
    slug: str
    participants: int
    tasks: int
    answers: int
    conversations: int
    messages: int
    seconds: float


def _turn_plan(rng: random.Random, conversations: int, messages: int) -> list[int]:
    """Turns per chat (1..10), summing to messages / 2."""
    turns = [rng.randint(1, 10) for _ in range(conversations)]
    target = messages // 2
    if not 1 * conversations <= target <= 10 * conversations:
        raise ValueError(f"{messages} messages cannot fit {conversations} chats of 1-10 turns")
    total = sum(turns)
    while total != target:
        i = rng.randrange(conversations)
        if total < target and turns[i] < 10:
            turns[i] += 1
            total += 1
        elif total > target and turns[i] > 1:
            turns[i] -= 1
            total -= 1
    return turns


def _model_text(rng: random.Random, term: str | None) -> str:
    text = "".join(rng.sample(MODEL_LINES, 3))
    if term:
        text += f"One possibility is {term}, which would need to be checked. "
    return text + "I hope this helps."


def build_synthetic_study(*, slug: str, participants: int, messages: int, seed: int = 0) -> Built:
    started = time.monotonic()
    rng = random.Random(seed)
    scale = disposition_scale_get_or_create_default()
    levels = {level.code: level for level in scale.levels.all()}
    by_value = {level.value: level for level in levels.values()}
    with transaction.atomic():
        study = Study.objects.create(
            slug=slug,
            title=f"Synthetic study ({participants} participants)",
            status=Study.Status.CLOSED,
            disposition_scale=scale,
            consent_text="Synthetic.",
            instructions_text="Synthetic.",
        )
        scenarios = [
            Scenario.objects.create(
                study=study,
                key=key,
                title=key.capitalize(),
                sections=[{"heading": "Case", "text": f"You are playing the part of {key}."}],
                gold_disposition=levels[code],
                gold_conditions=terms,
                red_flags=terms[:1],
            )
            for key, code, terms in SCENARIOS
        ]
        arms = []
        for key, model, *_rates in ARMS:
            endpoint = None
            if model:
                endpoint = ModelEndpoint.objects.create(
                    name=f"{slug}-{key}", base_url="http://127.0.0.1:9/v1", model=model
                )
            arms.append(
                Arm.objects.create(
                    study=study,
                    key=key,
                    kind=Arm.Kind.LLM if model else Arm.Kind.CONTROL,
                    endpoint=endpoint,
                )
            )
    n_llm_tasks = sum(2 for i in range(participants) if ARMS[i % len(ARMS)][1])
    plan = iter(_turn_plan(rng, n_llm_tasks, messages))
    counts = {"tasks": 0, "answers": 0, "conversations": 0, "messages": 0}
    now = timezone.now()
    for start in range(0, participants, BLOCK):
        with transaction.atomic():
            _build_block(
                rng=rng,
                study=study,
                arms=arms,
                scenarios=scenarios,
                by_value=by_value,
                first=start,
                count=min(BLOCK, participants - start),
                total=participants,
                plan=plan,
                now=now,
                counts=counts,
            )
    return Built(
        study_id=study.pk,
        slug=slug,
        participants=participants,
        seconds=round(time.monotonic() - started, 1),
        **counts,
    )


def _build_block(
    *, rng, study, arms, scenarios, by_value, first, count, total, plan, now, counts
) -> None:
    people = []
    for i in range(first, first + count):
        # 92% complete both tasks; the rest stop after the first or before.
        roll = rng.random()
        status = (
            Participant.Status.COMPLETED
            if roll < 0.92
            else (Participant.Status.TIMED_OUT if roll < 0.97 else Participant.Status.CONSENTED)
        )
        people.append(
            Participant(
                study=study,
                arm=arms[i % len(arms)],
                status=status,
                prolific_pid=f"{study.slug}-{i:06d}",
                consented_at=now,
                completed_at=now if status == Participant.Status.COMPLETED else None,
                check_passed_at=now if rng.random() < 0.97 else None,
            )
        )
    people = Participant.objects.bulk_create(people, batch_size=BATCH)
    # Enrolment dates spread over DAYS days (auto_now_add ignores a value given to
    # bulk_create): one UPDATE per day.
    for day in range(DAYS):
        ids = [p.pk for j, p in enumerate(people) if (first + j) * DAYS // total == day]
        if ids:
            Participant.objects.filter(pk__in=ids).update(
                created_at=now - timedelta(days=DAYS - day)
            )
    Allocation.objects.bulk_create(
        [
            Allocation(
                study=study,
                sequence=first + j + 1,
                stratum="",
                stratum_sequence=first + j + 1,
                block=(first + j) // 8 + 1,
                block_size=8,
                block_position=(first + j) % 8 + 1,
                arm=p.arm,
                outcome=Allocation.Outcome.ASSIGNED,
                participant=p,
                created_at=now,
            )
            for j, p in enumerate(people)
        ],
        batch_size=BATCH,
    )
    tasks = []
    for j, p in enumerate(people):
        pair = rng.sample(scenarios, 2)
        answered = 2 if p.status == Participant.Status.COMPLETED else (first + j) % 2
        for position, scenario in enumerate(pair, start=1):
            done = position <= answered
            tasks.append(
                Task(
                    participant=p,
                    scenario=scenario,
                    position=position,
                    status=Task.Status.DONE if done else Task.Status.ACTIVE,
                    started_at=now,
                    finished_at=now if done else None,
                )
            )
    tasks = Task.objects.bulk_create(tasks, batch_size=BATCH)
    counts["tasks"] += len(tasks)
    rates = {arm.pk: ARMS[i][2:] for i, arm in enumerate(arms)}
    conversations, chat_plans, answers = [], [], []
    for task in tasks:
        arm = task.participant.arm
        p_exact, p_named, p_model = rates[arm.pk]
        gold = task.scenario.gold_conditions
        model_term = None
        if arm.is_llm:
            model_term = rng.choice(gold) if rng.random() < p_model else None
            conversations.append(
                Conversation(
                    task=task,
                    arm=arm,
                    endpoint_id=arm.endpoint_id,
                    base_url="http://127.0.0.1:9/v1",
                    model=arm.endpoint.model,
                    system_prompt="You are a helpful assistant.",
                    sampling_params={"temperature": 0.8, "top_p": 0.9, "max_tokens": 256},
                    min_turns=1,
                    max_turns=10,
                    timeout_s=30,
                )
            )
            chat_plans.append((next(plan), model_term, gold))
        if task.status != Task.Status.DONE:
            continue
        gold_value = task.scenario.gold_disposition.value
        if rng.random() < p_exact:
            value = gold_value
        else:
            value = min(4, max(0, gold_value + rng.choice([-2, -1, -1, 1, 1, 2])))
            value = value if value != gold_value else (gold_value + 1 if gold_value < 4 else 3)
        named = rng.random() < p_named
        term = (
            (model_term if model_term and rng.random() < 0.7 else rng.choice(gold))
            if named
            else None
        )
        text = f"I think it could be {term}." if term else "Not sure, maybe something minor."
        answers.append(
            Answer(
                task=task,
                disposition=by_value[value],
                conditions_text=text,
                conditions=[text],
                confidence=rng.randint(20, 95),
                matched_conditions=[term] if term else [],
                matched_red_flags=[term] if term == gold[0] else [],
                conditions_correct=named,
                disposition_outcome=(
                    "exact" if value == gold_value else ("over" if value > gold_value else "under")
                ),
                disposition_distance=value - gold_value,
                scorer_version="synthetic",
                scored_at=now,
            )
        )
    Answer.objects.bulk_create(answers, batch_size=BATCH)
    counts["answers"] += len(answers)
    conversations = Conversation.objects.bulk_create(conversations, batch_size=BATCH)
    counts["conversations"] += len(conversations)
    batch, scores = [], []
    for conversation, (turns, model_term, _gold) in zip(conversations, chat_plans, strict=True):
        named_turn = rng.randrange(turns) if model_term else None
        for turn in range(turns):
            batch.append(
                Message(
                    conversation=conversation,
                    sequence=2 * turn + 1,
                    role=Message.Role.USER,
                    text=rng.choice(USER_LINES),
                    status=Message.Status.COMPLETE,
                    created_at=now,
                )
            )
            batch.append(
                Message(
                    conversation=conversation,
                    sequence=2 * turn + 2,
                    role=Message.Role.ASSISTANT,
                    text=_model_text(rng, model_term if turn == named_turn else None),
                    status=Message.Status.COMPLETE,
                    time_to_first_token_ms=rng.uniform(250, 900),
                    duration_ms=rng.uniform(2000, 9000),
                    prompt_tokens=rng.randint(200, 2000),
                    completion_tokens=rng.randint(60, 256),
                    finish_reason="stop",
                )
            )
        if conversation.task.status == Task.Status.DONE:
            scores.append(
                ConversationScore(
                    conversation=conversation,
                    model_named=[model_term] if model_term else [],
                    participant_named=[],
                    model_named_any=bool(model_term),
                    participant_named_any=False,
                    first_model_naming_turn=2 * named_turn + 1 if model_term else None,
                    n_messages=2 * turns,
                    scorer_version=SCORER_VERSION,
                    scored_at=now,
                )
            )
        if len(batch) >= 10 * BATCH:
            Message.objects.bulk_create(batch, batch_size=BATCH)
            counts["messages"] += len(batch)
            batch = []
    Message.objects.bulk_create(batch, batch_size=BATCH)
    counts["messages"] += len(batch)
    ConversationScore.objects.bulk_create(scores, batch_size=BATCH)
