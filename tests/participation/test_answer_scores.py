"""Answers are scored the moment they arrive, and can be scored again later."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from studyapp.participation.models import Answer
from studyapp.participation.services import answer_submit, answers_rescore
from studyapp.scoring.conditions import SCORER_VERSION


def submit(flow, *, text: str, level_code: str = "ae", position: int = 1) -> Answer:
    flow.post("sources", {"sources_text": "NHS website"}, position=position)
    level = flow.participant.study.disposition_scale.levels.get(code=level_code)
    return answer_submit(
        participant_id=flow.participant.pk,
        position=position,
        disposition_id=level.pk,
        conditions_text=text,
        confidence=40,
    )


def test_a_submitted_answer_carries_its_scores(consented):
    # The factory's scenarios: gold A&E, conditions appendicitis + ovarian torsion,
    # red flag fever.
    answer = submit(consented, text="Apendicitis, maybe a fever", level_code="ambulance")
    answer.refresh_from_db()
    assert answer.matched_conditions == ["appendicitis"]
    assert answer.matched_red_flags == ["fever"]
    assert answer.conditions_correct is True
    assert (answer.disposition_outcome, answer.disposition_distance) == ("over", 1)
    assert answer.scorer_version == SCORER_VERSION
    assert answer.scored_at is not None


def test_an_answer_naming_no_gold_condition_is_scored_incorrect(consented):
    answer = submit(consented, text="just a tummy bug", level_code="routine_gp")
    answer.refresh_from_db()
    assert (answer.matched_conditions, answer.conditions_correct) == ([], False)
    assert (answer.disposition_outcome, answer.disposition_distance) == ("under", -2)


def test_the_scenarios_synonyms_count(consented):
    task = consented.participant.tasks.get(position=1)
    task.scenario.condition_synonyms = {"ovarian torsion": ["twisted ovary"]}
    task.scenario.save()
    answer = submit(consented, text="a twisted ovary?")
    assert answer.matched_conditions == ["ovarian torsion"]


def test_rescoring_updates_only_stale_scores_unless_forced(consented):
    answer = submit(consented, text="appendicitis")
    Answer.objects.filter(pk=answer.pk).update(
        scorer_version="old", conditions_correct=False, matched_conditions=[]
    )
    study = consented.participant.study
    assert answers_rescore(study=study) == 1
    answer.refresh_from_db()
    assert (answer.conditions_correct, answer.matched_conditions) == (True, ["appendicitis"])
    assert answer.scorer_version == SCORER_VERSION
    assert answers_rescore(study=study) == 0
    assert answers_rescore(study=study, force=True) == 1


def test_the_rescore_command_reports_what_it_did(consented):
    submit(consented, text="appendicitis")
    Answer.objects.update(scorer_version="")
    out = StringIO()
    call_command("rescore_answers", consented.participant.study.slug, stdout=out)
    assert out.getvalue().strip() == f"rescored 1 answer(s) with scorer {SCORER_VERSION}"
