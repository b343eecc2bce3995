"""A study with answers and chats to rate, whose agreement figures are known in advance.

Three participants' answers to one scenario (gold: appendicitis, ovarian torsion; red
flag: fever), with chats, plus a simulated participant's answer. The matcher reads:
  A1 "appendicitis, and no fever"   -> appendicitis, fever   (raters: appendicitis only)
  A2 "ovarian torsion with a fever" -> ovarian torsion, fever
  A3 "my appendix might be inflamed" -> nothing               (raters: appendicitis)
Arm keys, labels and model names are distinctive strings (ARM_SECRETS) that no rater's
page may show.
"""

from __future__ import annotations

from dataclasses import dataclass

from studyapp.participation.models import Answer, Participant
from studyapp.ratings.decisions import Decision
from studyapp.ratings.models import StudyRater
from studyapp.ratings.services.raters import rater_add
from studyapp.studies.models import Scenario, Study
from tests.analysis.scored import scored_answer
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
)

ARM_SECRETS = ("armsecretzq", "ctlsecretzq", "Secret Label Zq", "model-secret-zq", "endpoint-zq")
TEXTS = {
    "A1": "appendicitis, and no fever",
    "A2": "ovarian torsion with a fever",
    "A3": "my appendix might be inflamed",
}
# What the raters mark (gold conditions, red flags) and the final labels.
R1 = {
    "A1": ({"appendicitis"}, set()),
    "A2": ({"ovarian torsion"}, {"fever"}),
    "A3": ({"appendicitis"}, set()),
}
R2 = {
    "A1": ({"appendicitis"}, set()),
    "A2": ({"ovarian torsion"}, set()),
    "A3": ({"appendicitis"}, set()),
}
RUBRIC = [
    {
        "key": "names-appendicitis",
        "text": "Names appendicitis.",
        "points": 2,
        "applies_to": "model",
    },
    {"key": "says-wait", "text": "Says to wait and see.", "points": -2, "applies_to": "model"},
    {"key": "answer-ae", "text": "The answer chooses A&E.", "points": 1, "applies_to": "answer"},
]
CHAT = [
    ("user", "My tummy hurts on the right"),
    ("assistant", "That could be appendicitis. Go to A&E."),
    ("user", "thanks"),
    ("assistant", "<b>Take care</b>"),
]


@dataclass
class RatedStudy:
    study: Study
    scenario: Scenario
    answers: dict[str, Answer]
    simulated_answer: Answer
    r1: StudyRater
    r2: StudyRater
    adjudicator: StudyRater


def decision(conditions: set[str], flags: set[str]) -> Decision:
    return Decision(
        conditions_named=tuple(sorted(conditions)), red_flags_named=tuple(sorted(flags))
    )


def make_rated_study(
    *, investigator, rater1, rater2, adjudicator, slug: str = "rated"
) -> RatedStudy:
    study = make_study(slug, title="Rated study", public_title="Health scenarios")
    make_member(study, investigator)
    scenario = make_scenario(
        study,
        "belly",
        level_code="ae",
        gold_conditions=["appendicitis", "ovarian torsion"],
        red_flags=["fever"],
        rubric=RUBRIC,
    )
    endpoint = make_endpoint(name="endpoint-zq", model="model-secret-zq")
    llm = make_llm_arm(study, endpoint, key="armsecretzq", participant_label="Secret Label Zq")
    make_control_arm(study, key="ctlsecretzq", participant_label="Own sources")
    answers = {}
    for name, text in TEXTS.items():
        participant = make_participant(study, arm=llm, status=Participant.Status.COMPLETED)
        answers[name] = scored_answer(participant, scenario, 1, "ae", text, chat=CHAT)
    simulated = make_participant(
        study, arm=llm, status=Participant.Status.COMPLETED, is_simulated=True
    )
    simulated_answer = scored_answer(simulated, scenario, 1, "ae", "appendicitis", chat=CHAT)
    return RatedStudy(
        study=study,
        scenario=scenario,
        answers=answers,
        simulated_answer=simulated_answer,
        r1=rater_add(study=study, user=rater1, added_by=investigator),
        r2=rater_add(study=study, user=rater2, added_by=investigator),
        adjudicator=rater_add(
            study=study,
            user=adjudicator,
            added_by=investigator,
            can_rate=False,
            can_adjudicate=True,
        ),
    )
