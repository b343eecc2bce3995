"""A scored study with chats, whose dashboard figures are known in advance.

Arm keys, labels and model names are distinctive strings, so a test can check that a
blinded page or export contains none of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.utils import timezone

from studyapp.chat.models import Conversation, Message
from studyapp.participation.models import Answer, Participant, Task
from studyapp.scoring.conditions import SCORER_VERSION, matched_conditions
from studyapp.studies.models import Arm, Scenario, Study
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
)

# Everything that identifies an arm; none may appear in a blinded response.
ARM_SECRETS = (
    "gptarmzq",
    "ctlarmzq",
    "Helper Bot Zq",
    "Own Sources Zq",
    "model-secret-zq",
    "endpoint-secret-zq",
)


def scored_answer(
    participant: Participant,
    scenario: Scenario,
    position: int,
    level: str,
    text: str,
    *,
    chat: list[tuple[str, str]] | None = None,
) -> Answer:
    """A done task with an answer scored as the scoring app would, and its chat if any."""
    task = Task.objects.create(
        participant=participant, scenario=scenario, position=position, status=Task.Status.DONE
    )
    if chat is not None:
        arm = participant.arm
        conversation = Conversation.objects.create(
            task=task,
            arm=arm,
            endpoint=arm.endpoint,
            base_url=arm.endpoint.base_url,
            model=arm.endpoint.model,
            is_scripted=arm.endpoint.is_scripted,
            system_prompt=arm.system_prompt,
            sampling_params=arm.sampling_params,
            min_turns=arm.min_turns,
            max_turns=arm.max_turns,
            timeout_s=arm.endpoint.timeout_s,
        )
        Message.objects.bulk_create(
            Message(
                conversation=conversation,
                sequence=i,
                role=role,
                text=message,
                status=Message.Status.COMPLETE,
            )
            for i, (role, message) in enumerate(chat, start=1)
        )
    level_obj = scenario.study.disposition_scale.levels.get(code=level)
    matched = matched_conditions(text, scenario.gold_conditions)
    distance = level_obj.value - scenario.gold_disposition.value
    return Answer.objects.create(
        task=task,
        disposition=level_obj,
        conditions_text=text,
        conditions=[text],
        confidence=60,
        matched_conditions=matched,
        matched_red_flags=matched_conditions(text, scenario.red_flags),
        conditions_correct=bool(matched),
        disposition_outcome="exact" if distance == 0 else ("over" if distance > 0 else "under"),
        disposition_distance=distance,
        scorer_version=SCORER_VERSION,
        scored_at=timezone.now(),
    )


@dataclass
class ScoredStudy:
    study: Study
    llm: Arm
    control: Arm
    belly: Scenario
    back: Scenario
    p1: Participant


def add_scored_participants(data: ScoredStudy, count: int) -> None:
    """More completed participants (with chats in the LLM arm), for query-count tests."""
    for i in range(count):
        arm = data.llm if i % 2 else data.control
        p = make_participant(data.study, arm=arm, status=Participant.Status.COMPLETED)
        chat = (
            [("user", "it hurts"), ("assistant", "Perhaps appendicitis.")] if arm.is_llm else None
        )
        scored_answer(p, data.belly, 1, "ae", "appendicitis", chat=chat)
        scored_answer(p, data.back, 2, "self_care", "no idea", chat=chat and [("user", "x")])


@pytest.fixture
def scored(alice) -> ScoredStudy:
    """gptarmzq (LLM): 3 answers; disposition 1 exact, 1 over, 1 under; conditions 2/3.
    Chats: the model names a gold condition in 2 of 3, the participant in 1 of 3; in one
    the model named one and the answer none.
    ctlarmzq (control): 2 answers, both exact; conditions 1/2.
    Participants: LLM completed 1 + consented 1; control completed 1 + started 1;
    1 not allocated.
    """
    study = make_study("beta", title="Beta study")
    make_member(study, alice)
    belly = make_scenario(
        study, "belly", level_code="ae", gold_conditions=["appendicitis", "ovarian torsion"]
    )
    back = make_scenario(
        study, "back", level_code="self_care", gold_conditions=["muscle strain", "sciatica"]
    )
    endpoint = make_endpoint(name="endpoint-secret-zq", model="model-secret-zq")
    llm = make_llm_arm(study, endpoint, key="gptarmzq", participant_label="Helper Bot Zq")
    control = make_control_arm(study, key="ctlarmzq", participant_label="Own Sources Zq")

    p1 = make_participant(study, arm=llm, status=Participant.Status.COMPLETED)
    scored_answer(
        p1,
        belly,
        1,
        "ae",
        "I think Appendicitis.",
        chat=[
            ("user", "My belly hurts low on the right."),
            ("assistant", "It may be appendicitis."),
        ],
    )
    scored_answer(
        p1,
        back,
        2,
        "routine_gp",
        "no idea",
        chat=[("user", "My back hurts."), ("assistant", "Most likely a muscle strain.")],
    )
    p2 = make_participant(study, arm=llm, status=Participant.Status.CONSENTED)
    scored_answer(
        p2,
        belly,
        1,
        "urgent_primary_care",
        "ovarian-torsion?",
        chat=[("user", "Could it be ovarian torsion?"), ("assistant", "Please see a doctor.")],
    )
    p3 = make_participant(study, arm=control, status=Participant.Status.COMPLETED)
    scored_answer(p3, belly, 1, "ae", "gastroenteritis")
    scored_answer(p3, back, 2, "self_care", "a muscle strain")
    make_participant(study, arm=control, status=Participant.Status.STARTED)
    make_participant(study, status=Participant.Status.STARTED)
    return ScoredStudy(study=study, llm=llm, control=control, belly=belly, back=back, p1=p1)


# Prolific ids of the scored study's first four participants (the fifth came without).
PIDS = ("5f0c3a9be1d2c4a7b8e9f001", "5f0c3a9be1d2c4a7b8e9f002", "60aa11bb22cc33dd44ee5503",
        "60aa11bb22cc33dd44ee5504")  # fmt: skip
SESSIONS = ("sessq1zz", "sessq2zz", "sessq3zz", "sessq4zz")


@pytest.fixture
def prolific(scored):
    """The scored study, its participants entered from Prolific (but the last one)."""
    participants = list(scored.study.participants.order_by("pk"))
    for participant, pid, session in zip(participants, PIDS, SESSIONS, strict=False):
        Participant.objects.filter(pk=participant.pk).update(
            prolific_pid=pid, prolific_study_id="64bbstudyzz", prolific_session_id=session
        )
    return scored
