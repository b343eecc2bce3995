"""Investigators' previews of the participant's path change no figure, export, count,
monitor or CONSORT.

The study of real participants of test_simulated_left_out (enrolled through the services),
then previews made by participation.preview.preview_start in every arm: one that chatted
(a complete reply and a failed one, just now) and answered, one left mid-chat long ago,
one that withdrew. Every human figure of test_simulated_left_out, the exports (every
table), the state counts, the active list and the reply monitor are read before and after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from studyapp.analysis.exports import TABLES, arm_names_for, rows
from studyapp.chat.models import Message
from studyapp.chat.monitor import study_reply_monitor
from studyapp.chat.services import conversation_get_or_create
from studyapp.participation.enrolment import participant_withdraw
from studyapp.participation.models import Participant, ParticipantEvent, Task
from studyapp.participation.preview import preview_start
from studyapp.participation.selectors import participants_active_recent, study_state_counts
from studyapp.participation.services import (
    answer_submit,
    participant_read_instructions,
    task_save_sources,
    task_start_answering,
)
from studyapp.studies.models import Arm, Study
from tests.analysis.test_simulated_left_out import FIGURES, humans  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db


def _preview_chat(task: Task, *, now) -> None:
    conversation = conversation_get_or_create(task=task)
    turns = [
        ("user", "Preview: my tummy hurts.", Message.Status.COMPLETE, ""),
        ("assistant", "Please go to A&E now.", Message.Status.COMPLETE, ""),
        ("user", "Are you sure?", Message.Status.COMPLETE, ""),
        ("assistant", "", Message.Status.ERROR, "timeout (HTTP 504): read timed out"),
    ]
    for sequence, (role, text, status, error) in enumerate(turns, start=1):
        Message.objects.create(
            conversation=conversation,
            sequence=sequence,
            role=role,
            text=text,
            status=status,
            error=error,
            completed_at=now,
        )


def add_previews(study: Study) -> None:
    now = timezone.now()
    level = study.disposition_scale.levels.get(code="urgent_primary_care")
    for arm in Arm.objects.filter(study=study).order_by("key"):
        for scenario in study.scenarios.active().order_by("key"):
            done = preview_start(study=study, arm_id=arm.pk, scenario_id=scenario.pk)
            participant_read_instructions(participant_id=done.pk)
            done.check_passed_at = now
            done.save(update_fields=["check_passed_at"])
            task = done.tasks.get()
            if arm.is_llm:
                _preview_chat(task, now=now)
                task_start_answering(task_id=task.pk)
            else:
                task_save_sources(participant_id=done.pk, position=1, sources_text="preview")
            answer_submit(
                participant_id=done.pk,
                position=1,
                disposition_id=level.pk,
                conditions_text="appendicitis",
                confidence=99,
            )
            assert Participant.objects.get(pk=done.pk).status == Participant.Status.COMPLETED

        belly = study.scenarios.get(key="belly")
        stale = preview_start(study=study, arm_id=arm.pk, scenario_id=belly.pk)
        participant_read_instructions(participant_id=stale.pk)
        Participant.objects.filter(pk=stale.pk).update(
            last_seen_at=now - timedelta(days=2), check_passed_at=now
        )
        gone = preview_start(study=study, arm_id=arm.pk, scenario_id=belly.pk)
        participant_read_instructions(participant_id=gone.pk)
        participant_withdraw(participant_id=gone.pk)
    assert Participant.objects.filter(study=study, is_preview=True).count() == 6


def _exports(study: Study) -> Any:
    arms = arm_names_for(study=study)
    return {
        name: list(rows(table, study=study, arms=arms, blinded=False))
        for name, table in TABLES.items()
    }


def _monitor(study: Study) -> Any:
    monitor = study_reply_monitor(study=study, now=timezone.now() + timedelta(minutes=1))
    return asdict(monitor)


PREVIEW_FIGURES: dict[str, Callable[[Study], Any]] = {
    **FIGURES,
    "exports, every table": _exports,
    "state counts": lambda study: asdict(study_state_counts(study=study)),
    "active participants": lambda study: [
        asdict(p) for p in participants_active_recent(study=study, limit=100)
    ],
    "reply monitor": _monitor,
    "events of humans": lambda study: sorted(
        ParticipantEvent.objects.of_humans().filter(study=study).values_list("kind", "arm_id")
    ),
}


@pytest.mark.parametrize("name", list(PREVIEW_FIGURES))
def test_previews_change_no_figure(humans, name):  # noqa: F811 (the fixture)
    figure = PREVIEW_FIGURES[name]
    before = figure(humans)
    assert before, f"{name} shows nothing: the test would prove nothing"

    add_previews(humans)

    assert figure(humans) == before


def test_the_exports_compared_hold_rows_of_the_kinds_a_preview_makes(humans):  # noqa: F811
    """So "exports, every table" compares tables a preview would add rows to (the exports
    keep simulated patients: only `not_preview_q` keeps previews out). The scenarios have
    no key facts, so information_transfer is empty here (test_information_export covers
    its chats)."""
    add_previews(humans)
    tables = _exports(humans)
    for name in ("participants", "tasks", "answers", "messages"):
        assert tables[name], name
