"""A small hand-built study whose figures are known in advance."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from studyapp.participation.models import Answer, Participant, Task
from studyapp.studies.models import Arm, Scenario, Study
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
    make_user,
)


def answer(participant: Participant, scenario: Scenario, position: int, level: str, text: str):
    task = Task.objects.create(
        participant=participant, scenario=scenario, position=position, status=Task.Status.DONE
    )
    return Answer.objects.create(
        task=task,
        disposition=scenario.study.disposition_scale.levels.get(code=level),
        conditions_text=text,
        confidence=50,
    )


@dataclass
class Dataset:
    study: Study
    llm: Arm
    control: Arm
    belly: Scenario
    back: Scenario


def add_answering_participants(dataset: Dataset, count: int) -> None:
    """More completed participants, for checking that query counts do not grow."""
    for i in range(count):
        arm = dataset.llm if i % 2 else dataset.control
        p = make_participant(dataset.study, arm=arm, status=Participant.Status.COMPLETED)
        answer(p, dataset.belly, 1, "ae", "appendicitis")
        answer(p, dataset.back, 2, "self_care", "no idea")


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")


@pytest.fixture
def dataset(alice) -> Dataset:
    """llm: 3 answers, 1 exact disposition (1 over, 1 under), 2 naming a gold condition.
    control: 2 answers, both exact, 1 naming a gold condition.
    Participants: llm completed 1 + consented 1; control completed 1 + started 1;
    1 not allocated; 5 in all.
    """
    study = make_study("alpha", title="Alpha study")
    make_member(study, alice)
    belly = make_scenario(
        study, "belly", level_code="ae", gold_conditions=["appendicitis", "ovarian torsion"]
    )
    back = make_scenario(
        study, "back", level_code="self_care", gold_conditions=["muscle strain", "sciatica"]
    )
    llm = make_llm_arm(study, make_endpoint(name="alpha-endpoint", model="alpha-model"))
    control = make_control_arm(study, participant_label="Your own sources")

    p1 = make_participant(study, arm=llm, status=Participant.Status.COMPLETED)
    answer(p1, belly, 1, "ae", "I think Appendicitis.")  # exact, named
    answer(p1, back, 2, "routine_gp", "no idea")  # over, not named
    p2 = make_participant(study, arm=llm, status=Participant.Status.CONSENTED)
    answer(p2, belly, 1, "urgent_primary_care", "ovarian-torsion?")  # under, named
    p3 = make_participant(study, arm=control, status=Participant.Status.COMPLETED)
    answer(p3, belly, 1, "ae", "gastroenteritis")  # exact, not named
    answer(p3, back, 2, "self_care", "a muscle strain")  # exact, named
    make_participant(study, arm=control, status=Participant.Status.STARTED)
    make_participant(study, status=Participant.Status.STARTED)  # not allocated
    return Dataset(study=study, llm=llm, control=control, belly=belly, back=back)


# The scored study with chats (dashboard, transcripts and export tests), and with key
# facts on its scenarios (information transfer).
from tests.analysis.informed import informed  # noqa: E402, F401
from tests.analysis.scored import prolific, scored  # noqa: E402, F401
