"""Which condition scores the figures read (Study.condition_labels): the matcher's, or an
answer's rater reference label where it has one.

The scored study (tests/analysis/scored.py) rated by two raters, with an adjudicator.
Matcher -> raters, per answer:
  gptarmzq (LLM)  L1 "I think Appendicitis."  T -> both appendicitis       agreed, T
                  L2 "no idea" (back)          F -> both muscle strain      agreed, T
                  L3 "ovarian-torsion?"        T -> one names it, one not   disputed: none
  ctlarmzq        C1 "gastroenteritis"         F -> disagree, adjudicated   adjudicated, F
                  C2 "a muscle strain"         T -> both name nothing       agreed, F
A simulated participant of the LLM arm answered "no idea" (matcher F) and its raters name
muscle strain (reference T): it must stay out of every figure.

So, by hand: with the reference labels the LLM arm names a gold condition in 3/3 (the
matcher: 2/3) and the control arm in 0/2 (the matcher: 1/2); 4 answers are scored by a
reference label and 1 (L3) by the matcher.
"""

from __future__ import annotations

import json
from dataclasses import replace
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from studyapp.analysis import exports, services
from studyapp.analysis.selectors import (
    AnswerFilters,
    dashboard,
    study_arm_views,
    study_report,
    study_report_data,
    task_page,
)
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.participation.models import Answer, Participant
from studyapp.ratings.models import RatingAssignment, RatingItem
from studyapp.ratings.services.labels import adjudication_save, label_save
from studyapp.ratings.services.raters import rater_add
from studyapp.ratings.services.rounds import round_create
from studyapp.studies.models import AnalysisChoiceChange, Study
from studyapp.studies.services import study_condition_labels_set
from tests.analysis.scored import add_scored_participants, scored_answer
from tests.factories import make_participant, make_user
from tests.ratings.dataset import decision

REFERENCE = Study.ConditionLabels.REFERENCE
MATCHER = Study.ConditionLabels.MATCHER
ALL = AnswerFilters()


@pytest.fixture
def rated(scored, alice):
    """The scored study with a simulated participant, two raters, an adjudicator and one
    round dealing out every answer to both raters; nothing labelled yet."""
    study = scored.study
    simulated = make_participant(
        study, arm=scored.llm, status=Participant.Status.COMPLETED, is_simulated=True
    )
    scored_answer(simulated, scored.back, 1, "self_care", "no idea")
    run = EvaluationRun.objects.create(study=study, key="sim", kind="simulated")
    EvaluationItem.objects.create(
        run=run,
        scenario=scored.back,
        item_key="back",
        status="succeeded",
        task=simulated.tasks.get(),
    )
    r1 = rater_add(study=study, user=make_user("dave"), added_by=alice)
    r2 = rater_add(study=study, user=make_user("erin"), added_by=alice)
    frank = make_user("frank")
    rater_add(study=study, user=frank, added_by=alice, can_rate=False, can_adjudicate=True)
    round_create(
        study=study,
        name="R",
        created_by=alice,
        double_share=1,
        evaluation_run_ids=[run.pk],
        seed=5,
    )
    texts = {
        "L1": "I think Appendicitis.",
        "L2": "no idea",
        "L3": "ovarian-torsion?",
        "C1": "gastroenteritis",
        "C2": "a muscle strain",
    }
    humans = Answer.objects.of_humans().filter(task__participant__study=study)
    scored.answers = {name: humans.get(conditions_text=text) for name, text in texts.items()}
    scored.answers["SIM"] = Answer.objects.get(task__participant=simulated)
    scored.raters = (r1, r2)
    scored.adjudicator = frank
    return scored


def item(rated, name) -> RatingItem:
    answer = rated.answers[name]
    return RatingItem.objects.get(
        kind="answer",
        **({"evaluation_item__task": answer.task} if name == "SIM" else {"answer": answer}),
    )


def label(rated, rater, name, conditions, reason=""):
    assignment = RatingAssignment.objects.get(rater=rater, item=item(rated, name))
    label_save(assignment=assignment, decision=decision(set(conditions), set()), reason=reason)


def label_everything(rated):
    r1, r2 = rated.raters
    marks = {
        "L1": ({"appendicitis"}, {"appendicitis"}),
        "L2": ({"muscle strain"}, {"muscle strain"}),
        "L3": ({"ovarian torsion"}, set()),
        "C1": ({"appendicitis"}, set()),
        "C2": (set(), set()),
        "SIM": ({"muscle strain"}, {"muscle strain"}),
    }
    for name, (first, second) in marks.items():
        label(rated, r1, name, first)
        label(rated, r2, name, second)
    adjudication_save(
        item=item(rated, "C1"),
        user=rated.adjudicator,
        decision=decision(set(), set()),
        reason="gastroenteritis is not a gold condition",
    )


def figures(study: Study) -> dict:
    """Every figure the study page, study_report, the dashboard and its task list show."""
    study.refresh_from_db()
    data = study_report_data(study=study)
    data.pop("generated_at")
    arms = study_arm_views(study=study, blinded=False)
    board = replace(dashboard(study=study, filters=ALL, blinded=False), generated_at="")
    return {
        "report": data,
        "dashboard": board,
        "tasks": task_page(study=study, filters=ALL, arms=arms).rows,
    }


def conditions(study: Study) -> dict[str, tuple[int, int]]:
    """(correct, n) of "names a gold condition" per arm key, on the study page."""
    study.refresh_from_db()
    return {
        arm.key: (arm.figures.conditions.correct, arm.figures.conditions.n)
        for arm in study_report(study=study).arms
    }


def dashboard_conditions(study: Study) -> dict[str, tuple[int, int]]:
    study.refresh_from_db()
    board = dashboard(study=study, filters=ALL, blinded=False)
    return {row.arm.key: (row.conditions.successes, row.conditions.n) for row in board.summaries}


def switch(rated, alice, choice):
    study_condition_labels_set(study=rated.study, condition_labels=choice, changed_by=alice)


def test_with_the_matcher_every_figure_is_todays(rated):
    services.conversation_scores_refresh(study=rated.study)
    today = figures(rated.study)
    label_everything(rated)
    assert figures(rated.study) == today
    assert today["report"]["condition_labels"] == {
        "choice": "matcher",
        "rater_reference_answers": 0,
        "matcher_answers": 5,
    }


def test_with_reference_labels_the_arms_move_by_what_the_raters_changed(rated, alice):
    label_everything(rated)
    assert conditions(rated.study) == {"ctlarmzq": (1, 2), "gptarmzq": (2, 3)}
    switch(rated, alice, REFERENCE)
    # LLM: L2 becomes correct (+1); control: C2 becomes wrong (-1); L3 (disputed) keeps
    # the matcher's; C1's adjudication agrees with the matcher. The simulated answer's
    # reference label (correct) counts nowhere.
    assert conditions(rated.study) == {"ctlarmzq": (0, 2), "gptarmzq": (3, 3)}
    assert dashboard_conditions(rated.study) == {"ctlarmzq": (0, 2), "gptarmzq": (3, 3)}
    data = study_report_data(study=rated.study)
    assert data["condition_labels"] == {
        "choice": "reference",
        "rater_reference_answers": 4,
        "matcher_answers": 1,
    }
    llm = next(arm for arm in data["arms"] if arm["key"] == "gptarmzq")
    assert (llm["condition_accuracy"]["correct"], llm["n_answers"]) == (3, 3)


def test_the_dashboards_other_condition_figures_follow_the_choice(rated, alice):
    services.conversation_scores_refresh(study=rated.study)
    label_everything(rated)
    switch(rated, alice, REFERENCE)
    rated.study.refresh_from_db()
    board = dashboard(study=rated.study, filters=ALL, blinded=False)
    by_scenario = board.conditions_by_scenario
    assert by_scenario.rows == ["ctlarmzq", "gptarmzq"]
    assert by_scenario.columns == ["back", "belly"]
    assert by_scenario.successes == [[0, 0], [1, 2]]  # the matcher: [[1, 0], [0, 2]]
    assert by_scenario.totals == [[1, 1], [1, 2]]
    (mentions,) = board.mentions
    # The chat named muscle strain and L2's answer did not (the matcher); its raters say
    # it did, so no chat's answer left out what the model named.
    assert (mentions.answer_named.successes, mentions.answer_named.n) == (3, 3)
    assert mentions.omitted_after_model.successes == 0
    assert (board.condition_labels.rater_labelled, board.condition_labels.matcher) == (4, 1)
    arms = study_arm_views(study=rated.study, blinded=False)
    rows = task_page(study=rated.study, filters=ALL, arms=arms).rows
    l2 = next(row for row in rows if row.task_id == rated.answers["L2"].task_id)
    assert l2.conditions_correct is True


def test_a_label_or_an_adjudication_after_the_switch_moves_the_figures(rated, alice):
    label_everything(rated)
    switch(rated, alice, REFERENCE)
    r1, _r2 = rated.raters
    adjudication_save(
        item=item(rated, "L3"),
        user=rated.adjudicator,
        decision=decision(set(), set()),
        reason="a question, not a condition",
    )
    assert conditions(rated.study)["gptarmzq"] == (2, 3)
    assert study_report_data(study=rated.study)["condition_labels"]["matcher_answers"] == 0
    # A revision that disputes L2 again sends it back to the matcher (wrong).
    label(rated, r1, "L2", set(), reason="misread")
    assert conditions(rated.study)["gptarmzq"] == (1, 3)
    assert dashboard_conditions(rated.study)["gptarmzq"] == (1, 3)
    # And back to the matcher everywhere.
    switch(rated, alice, MATCHER)
    assert conditions(rated.study) == {"ctlarmzq": (1, 2), "gptarmzq": (2, 3)}


def test_the_change_of_choice_is_recorded(rated, alice):
    switch(rated, alice, REFERENCE)
    switch(rated, alice, MATCHER)
    assert list(
        AnalysisChoiceChange.objects.filter(study=rated.study).values_list(
            "choice", "old_value", "new_value", "changed_by"
        )
    ) == [
        ("condition_labels", "matcher", "reference", alice.pk),
        ("condition_labels", "reference", "matcher", alice.pk),
    ]


def test_the_pages_and_the_text_report_say_which_labels_score_conditions(client, alice, rated):
    label_everything(rated)
    client.force_login(alice)
    page = reverse("analysis:study_detail", args=["beta"])
    board = reverse("analysis:dashboard", args=["beta"])
    assert "Conditions scored by: matcher." in client.get(page).content.decode()
    assert "Conditions scored by: matcher." in client.get(board).content.decode()
    switch(rated, alice, REFERENCE)
    said = "Conditions scored by: rater reference labels for 4 answers, matcher for 1"
    assert said in client.get(page).content.decode()
    assert said in client.get(board).content.decode()
    out = StringIO()
    call_command("study_report", "beta", stdout=out)
    assert said in out.getvalue()
    out = StringIO()
    call_command("study_report", "beta", "--format", "json", stdout=out)
    assert json.loads(out.getvalue())["condition_labels"]["rater_reference_answers"] == 4


def test_the_answers_export_has_the_reference_labels_beside_the_matchers(rated):
    label_everything(rated)
    table = exports.TABLES["answers"]
    names = [c.name for c in table.columns]
    i = names.index("conditions_correct")
    # The score, whether a person corrected it and what the scorer gave, then the raters'.
    assert names[i : i + 8] == [
        "conditions_correct",
        "conditions_correct_corrected",
        "conditions_correct_automatic",
        "conditions_correct_corrected_by",
        "conditions_correct_reference",
        "matched_conditions_reference",
        "matched_red_flags_reference",
        "reference_source",
    ]
    arms = exports.arm_names_for(study=rated.study)
    rows = {
        row[0]: dict(zip(names, row, strict=True))
        for row in exports.rows(table, study=rated.study, arms=arms, blinded=False)
    }
    a = rated.answers
    got = {
        name: (
            rows[a[name].pk]["conditions_correct"],
            rows[a[name].pk]["conditions_correct_reference"],
            rows[a[name].pk]["matched_conditions_reference"],
            rows[a[name].pk]["reference_source"],
        )
        for name in ("L1", "L2", "L3", "C1", "C2", "SIM")
    }
    assert got == {
        "L1": (True, True, ["appendicitis"], "agreed"),
        "L2": (False, True, ["muscle strain"], "agreed"),
        "L3": (True, None, None, None),
        "C1": (False, False, [], "adjudicated"),
        "C2": (True, False, [], "agreed"),
        "SIM": (False, True, ["muscle strain"], "agreed"),  # exports keep simulated rows
    }
    dictionary = exports.data_dictionary(study=rated.study, blinded=True, tables=["answers"])
    (answers,) = dictionary["tables"]
    described = {c["name"]: (c["type"], c["meaning"]) for c in answers["columns"]}
    assert described["conditions_correct_reference"][0] == "boolean"
    assert "adjudicated" in described["conditions_correct_reference"][1]
    assert described["reference_source"][0] == "string"


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries.captured_queries)


@pytest.mark.parametrize("name", ["analysis:study_detail", "analysis:dashboard"])
def test_reference_labels_cost_no_query_and_the_count_does_not_grow(client, alice, rated, name):
    label_everything(rated)
    url = reverse(name, args=["beta"])
    client.force_login(alice)
    client.get(url)  # the session refresh after a login out of the count
    with_matcher = _count(client, url)
    switch(rated, alice, REFERENCE)
    small = _count(client, url)
    add_scored_participants(rated, 20)
    large = _count(client, url)
    assert with_matcher == small == large
