"""A 4-arm study (three LLM arms and a control) with HELPMed-shaped per-arm counts, built
in bulk, whose planned contrasts a test recomputes with statsmodels and scipy directly.

Per arm: `PARTICIPANTS` participants, each with two scenarios. The counts of correct
conditions, correct dispositions and named red flags per arm are fixed below (the control
arm names relevant conditions more often, as in Bean et al.); a few participants of each
arm left their second scenario unanswered and did not complete (so intention to treat and
per protocol differ), and one LLM participant per arm never chatted.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from studyapp.chat.models import Conversation, Message
from studyapp.participation.models import Answer, Participant, Task
from studyapp.studies.models import Study
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_scenario,
    make_study,
)

PARTICIPANTS = 30
# Of each arm's 60 tasks, the last `UNANSWERED` participants leave their second one.
UNANSWERED = 2
# arm key: (conditions correct, disposition exact, red flag named) among answered tasks.
COUNTS = {
    "control": (27, 25, 20),
    "gpt": (19, 24, 14),
    "llama": (16, 22, 12),
    "cmd": (20, 26, 15),
}
ANSWERED = 2 * PARTICIPANTS - UNANSWERED  # 58 per arm


@dataclass(frozen=True)
class Planned:
    study: Study


def build_planned_study(slug: str = "planned") -> Planned:
    study = make_study(slug, status=Study.Status.DRAFT)
    scale = study.disposition_scale
    levels = {level.code: level for level in scale.levels.all()}
    s1 = make_scenario(study, "s1", level_code="ae")
    s2 = make_scenario(study, "s2", level_code="routine_gp", red_flags=[])
    endpoint = make_endpoint()
    arms = {"control": make_control_arm(study, key="control")}
    for key in ("gpt", "llama", "cmd"):
        arms[key] = make_llm_arm(study, endpoint, key=key)
    now = timezone.now()
    for key, (cond, disp, flags) in COUNTS.items():
        arm = arms[key]
        participants = Participant.objects.bulk_create(
            Participant(
                study=study,
                arm=arm,
                status=(
                    Participant.Status.COMPLETED
                    if i < PARTICIPANTS - UNANSWERED
                    else Participant.Status.TIMED_OUT
                ),
                consented_at=now,
                instructions_read_at=now,
                completed_at=now if i < PARTICIPANTS - UNANSWERED else None,
            )
            for i in range(PARTICIPANTS)
        )
        tasks = Task.objects.bulk_create(
            Task(
                participant=p,
                scenario=s1 if position == 1 else s2,
                position=position,
                status=Task.Status.DONE,
            )
            for i, p in enumerate(participants)
            for position in (1, 2)
        )
        # Tasks alternate s1, s2 per participant; the unanswered ones are the last
        # participants' second tasks.
        answered = [
            t
            for t in tasks
            if not (t.position == 2 and t.participant in participants[-UNANSWERED:])
        ]
        assert len(answered) == ANSWERED
        red_flag_tasks = [t for t in answered if t.scenario_id == s1.pk]
        flagged = {t.pk for t in red_flag_tasks[:flags]}
        answers = []
        for j, task in enumerate(answered):
            gold = s1.gold_disposition if task.scenario_id == s1.pk else s2.gold_disposition
            exact = j < disp
            # The wrong answers alternate over- and under-triage.
            if exact:
                level = gold
            elif j % 2:
                level = levels["ambulance"]
            else:
                level = levels["self_care"]
            answers.append(
                Answer(
                    task=task,
                    disposition=level,
                    conditions_text="x",
                    conditions_correct=j % len(answered) < cond,
                    matched_red_flags=["fever"] if task.pk in flagged else [],
                    confidence=80 if exact else 40 + (j % 3) * 10,
                    confidence_set=True,
                    disposition_outcome="exact" if exact else "other",
                    disposition_distance=level.value - gold.value,
                )
            )
        Answer.objects.bulk_create(answers)
        if arm.kind == "llm":
            # Everybody chats once, but the first participant of the arm never did.
            for task in tasks:
                if task.participant == participants[0]:
                    continue
                conversation = Conversation.objects.create(
                    task=task,
                    arm=arm,
                    endpoint=endpoint,
                    base_url=endpoint.base_url,
                    model=endpoint.model,
                    is_scripted=True,
                    system_prompt="",
                    sampling_params={},
                    min_turns=1,
                    max_turns=10,
                    timeout_s=10,
                )
                Message.objects.create(
                    conversation=conversation,
                    sequence=1,
                    role=Message.Role.USER,
                    text="hello",
                    status=Message.Status.COMPLETE,
                )
    return Planned(study=study)
