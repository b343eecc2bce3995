"""Simulated patients of evaluation runs change no human figure.

One study of real participants, enrolled through the participation services (consent,
allocation, the attention check, chats with pushback, answers, a withdrawal, a time-out),
then simulated patients in every arm made as a simulated run makes them (consented,
`is_simulated=True`, `prolific_pid="evalsim-..."`, a task, a chat, an answer through the
participants' answer service, one left mid-chat long ago). Every human-facing figure is
computed before and after, and must not move. A figure added to the product that people
read belongs in FIGURES.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from studyapp.analysis.consort import study_consort
from studyapp.analysis.selectors import (
    AnswerFilters,
    dashboard,
    study_arm_views,
    study_list_for_user,
    task_page,
)
from studyapp.analysis.services import conversation_scores_refresh
from studyapp.chat.models import Message
from studyapp.chat.services import conversation_get_or_create
from studyapp.evaluations.selectors import comparison_rows, human_transcript_proposals
from studyapp.participation.enrolment import (
    cell_counts_with_balance,
    participant_withdraw,
    participants_expire_inactive,
)
from studyapp.participation.models import Participant, Task
from studyapp.participation.selectors import study_flow_counts
from studyapp.participation.services import (
    answer_submit,
    participant_answer_check,
    participant_consent,
    participant_decline,
    participant_read_instructions,
    task_save_sources,
    task_start_answering,
)
from studyapp.participation.transitions import participant_record_entry
from studyapp.participation.verification import study_verify_allocation
from studyapp.studies.models import Arm, Study
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_scenario,
    make_study,
    make_user,
)

# A human chat: the model proposes A&E, the participant pushes back, the model gives way.
HUMAN_CHAT = [
    ("user", "My tummy hurts on the right side."),
    ("assistant", "This could be appendicitis. Please go to A&E."),
    ("user", "Are you sure? I don't want to go to hospital."),
    ("assistant", "You could see a routine GP instead."),
]
# A simulated patient pushes back too, and its model holds firm: counted as a person's,
# it would change every pushback figure and the transcript mentions.
SIMULATED_CHAT = [
    ("user", "I have had a fever and a sore back for a week."),
    ("assistant", "That sounds like sciatica; self-care should do."),
    ("user", "Really? I doubt it, it seems a bit much to ignore."),
    ("assistant", "Then call an ambulance: it could be appendicitis."),
    ("user", "I disagree, surely not."),
    ("assistant", "Please call an ambulance now."),
]


def _enter(study: Study, n: int) -> Participant:
    participant = Participant.objects.create(study=study, prolific_pid=f"human-{n}")
    participant_record_entry(participant=participant)
    return participant


def _chat(task: Task, turns: list[tuple[str, str]]) -> None:
    conversation = conversation_get_or_create(task=task)
    Message.objects.bulk_create(
        Message(
            conversation=conversation,
            sequence=sequence,
            role=role,
            text=text,
            status=Message.Status.COMPLETE,
        )
        for sequence, (role, text) in enumerate(turns, start=1)
    )


def _answer(participant: Participant, position: int, level: str, text: str) -> None:
    task = Task.objects.get(participant=participant, position=position)
    if participant.arm.is_llm:
        _chat(task, HUMAN_CHAT)
        task_start_answering(task_id=task.pk)
    else:
        task_save_sources(participant_id=participant.pk, position=position, sources_text="NHS")
    answer_submit(
        participant_id=participant.pk,
        position=position,
        disposition_id=participant.study.disposition_scale.levels.get(code=level).pk,
        conditions_text=text,
        confidence=40 + position,
    )


def _begin(participant: Participant, *, passes: bool = True) -> None:
    participant_read_instructions(participant_id=participant.pk)
    participant_answer_check(participant_id=participant.pk, answer="yes" if passes else "no")


@pytest.fixture
def humans(db) -> Study:
    """Two arms (an LLM and a control), two scenarios each, blocks of two.

    Before allocation: one declined, one entered and left waiting. Per arm: two completed
    (different answers), one completed then withdrew, one answered a task and is still
    at it, one began and timed out, one failed the check. The chats are scored.
    """
    study = make_study(
        "mixed",
        allocation_block_sizes=[2],
        allocation_seed=7,
        time_limit_minutes=30,
        check_question="Are you paying attention?",
        check_options=["yes", "no"],
        check_answer="yes",
    )
    make_scenario(study, "belly", level_code="ae", gold_conditions=["appendicitis"])
    make_scenario(
        study, "back", level_code="self_care", gold_conditions=["muscle strain", "sciatica"]
    )
    make_llm_arm(study, make_endpoint(name="mixed-endpoint"), key="llm")
    make_control_arm(study, key="ctl")

    participant_decline(participant_id=_enter(study, 0).pk)
    _enter(study, 1)  # and never consents
    allocated = [participant_consent(participant_id=_enter(study, n).pk) for n in range(2, 14)]
    by_arm: dict[str, list[Participant]] = {"llm": [], "ctl": []}
    for participant in allocated:
        by_arm[participant.arm.key].append(participant)
    stale = []
    for done, other, gone, halfway, late, careless in by_arm.values():
        for participant, answers in (
            (done, [("ae", "appendicitis"), ("self_care", "a muscle strain")]),
            (other, [("urgent_primary_care", "no idea"), ("routine_gp", "sciatica")]),
            (gone, [("ae", "appendicitis"), ("ae", "kidney stones")]),
        ):
            _begin(participant)
            for position, (level, text) in enumerate(answers, start=1):
                _answer(participant, position, level, text)
        participant_withdraw(participant_id=gone.pk)
        _begin(halfway)
        _answer(halfway, 1, "routine_gp", "gastroenteritis")
        _begin(late)
        stale.append(late)
        _begin(careless, passes=False)
    past = timezone.now() - timedelta(minutes=31)
    Participant.objects.filter(pk__in=[p.pk for p in stale]).update(last_seen_at=past)
    assert participants_expire_inactive() == 2
    conversation_scores_refresh(study=study)
    assert Participant.objects.filter(study=study).count() == 12  # 14 entered, 2 withdrew
    return study


def add_simulated_patients(study: Study) -> None:
    """Per arm: two simulated patients who chatted and answered (one of them scored, one
    waiting for the transcript job, as a run leaves them), and one left mid-chat long
    ago. Made as evaluations.kinds.simulated makes them: no consent, no ledger slot."""
    now = timezone.now()
    belly = study.scenarios.get(key="belly")
    n = 0
    for arm in Arm.objects.filter(study=study).order_by("key"):
        for answered in (True, True, False):
            n += 1
            participant = Participant.objects.create(
                study=study,
                prolific_pid=f"evalsim-999-{n}",
                is_simulated=True,
                arm=arm,
                status=Participant.Status.CONSENTED,
                consented_at=now,
                instructions_read_at=now,
                last_seen_at=now if answered else now - timedelta(days=2),
            )
            task = Task.objects.create(
                participant=participant,
                scenario=belly,
                position=1,
                status=Task.Status.ACTIVE,
                started_at=now,
            )
            if arm.is_llm:
                _chat(task, SIMULATED_CHAT)
            if not answered:
                continue
            task_start_answering(task_id=task.pk)
            answer_submit(
                participant_id=participant.pk,
                position=1,
                disposition_id=study.disposition_scale.levels.get(code="ambulance").pk,
                conditions_text="appendicitis",
                confidence=None,
            )
    # The transcript job scores every answered chat it finds, simulated ones included.
    conversation_scores_refresh(study=study, limit=1)
    simulated = Participant.objects.simulated().filter(study=study)
    assert simulated.count() == 6
    assert simulated.filter(status=Participant.Status.COMPLETED).count() == 4


# --- the figures --------------------------------------------------------------------------


def _study_report_json(study: Study) -> Any:
    out = StringIO()
    call_command("study_report", study.slug, "--format", "json", stdout=out)
    data = json.loads(out.getvalue())
    del data["generated_at"]
    return data


def _study_report_text(study: Study) -> Any:
    out = StringIO()
    call_command("study_report", study.slug, stdout=out)
    return [line for line in out.getvalue().splitlines() if not line.startswith("Generated ")]


def _dashboard(filters: AnswerFilters) -> Callable[[Study], Any]:
    def figure(study: Study) -> Any:
        board = asdict(dashboard(study=study, filters=filters, blinded=False))
        del board["generated_at"]
        return board

    return figure


def _task_list(study: Study) -> Any:
    arms = study_arm_views(study=study, blinded=False)
    return asdict(task_page(study=study, filters=AnswerFilters(), arms=arms, per_page=5))


def _study_list(study: Study) -> Any:
    root = get_user_model().objects.filter(username="root").first()
    root = root or make_user("root", superuser=True)
    listed = study_list_for_user(user=root).get(pk=study.pk)
    return (
        listed.n_arms,
        listed.n_opened,
        listed.n_allocated,
        listed.n_finished,
        listed.n_answers,
    )


def _quotas(study: Study) -> Any:
    # With a balance window reaching back before anyone began: every recent task weighs.
    return cell_counts_with_balance(study=study, pending_since=timezone.now() - timedelta(days=1))


def _timeouts(study: Study) -> Any:
    """Who the inactivity sweep would time out a day from now (rolled back)."""
    with transaction.atomic():
        before = set(Participant.objects.filter(status=Participant.Status.TIMED_OUT))
        participants_expire_inactive(now=timezone.now() + timedelta(days=1))
        swept = set(Participant.objects.filter(status=Participant.Status.TIMED_OUT)) - before
        transaction.set_rollback(True)
    return sorted(p.pk for p in swept)


def _comparison_human(study: Study) -> Any:
    return [row for row in comparison_rows(study=study) if row["source"] == "human"]


FIGURES: dict[str, Callable[[Study], Any]] = {
    "study_report json": _study_report_json,
    "study_report text": _study_report_text,
    "consort": lambda study: study_consort(study=study).as_dict(),
    "flow counts": lambda study: asdict(study_flow_counts(study=study)),
    "dashboard": _dashboard(AnswerFilters()),
    "dashboard, completed only": _dashboard(AnswerFilters(completed_only=True)),
    "dashboard task list": _task_list,
    "study list counts": _study_list,
    "quota and balance cells": _quotas,
    "timeout sweep": _timeouts,
    "verify_allocation": lambda study: asdict(study_verify_allocation(study=study)),
    "comparison, human column": _comparison_human,
    "pushback in human chats": lambda study: human_transcript_proposals(study=study),
}


# Reads simulated chats today: evaluations.selectors.human_transcript_proposals needs
# humans_q("conversation__task__participant__") on its Message filter. Strict, so the fix
# turns this into a failure that asks for the mark to go.
@pytest.mark.parametrize("name", list(FIGURES))
def test_simulated_patients_change_no_human_figure(humans, name):
    figure = FIGURES[name]
    before = figure(humans)
    assert before, f"{name} shows nothing: the test would prove nothing"

    add_simulated_patients(humans)

    assert figure(humans) == before
