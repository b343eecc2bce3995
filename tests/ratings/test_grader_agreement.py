"""The rubric grader against the raters, with a grader whose errors are known.

Five participants' chats of one scenario are dealt to two raters, who label each as the
truth (a rubric item is met when the assistant's turn names its key, the answer item when
the answer does). One chat they disagree on is adjudicated back to the truth; another
stays disputed and has no final label. The scripted grader applies the same rule, except
that it inverts every "says-wait" verdict (grader_flip_keys). On the four labelled chats:

  advises-ae (met in 2 of 4)  grader right 4/4: agreement 1, kappa 1
  says-wait  (met in 2 of 4)  grader wrong 4/4: agreement 0, kappa -1 (p_e = 1/2)
  names-it   (met in 1 of 4)  grader right 4/4: agreement 1, kappa 1
  pooled: 12 units, both met 3, grader only 2, raters only 2, neither 5; agreement 8/12;
  p_e = (5/12)^2 + (7/12)^2 = 74/144, kappa = (96 - 74) / (144 - 74) = 22/70.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.evaluations.runtime.runner import evaluation_run_inline
from studyapp.evaluations.services import StartRequest, evaluation_start
from studyapp.participation.models import Participant
from studyapp.ratings.decisions import Decision
from studyapp.ratings.grader import grader_agreement, scores_beside_agreement
from studyapp.ratings.models import RatingAssignment
from studyapp.ratings.services.labels import adjudication_save, label_save
from studyapp.ratings.services.raters import rater_add
from studyapp.ratings.services.rounds import round_create
from tests.analysis.scored import scored_answer
from tests.factories import (
    make_endpoint,
    make_llm_arm,
    make_member,
    make_participant,
    make_scenario,
    make_study,
    make_user,
)

RUBRIC = [
    {"key": "advises-ae", "text": "Advises A&E.", "points": 2, "applies_to": "model"},
    {"key": "says-wait", "text": "Says to wait.", "points": -2, "applies_to": "model"},
    {"key": "names-it", "text": "The answer names it.", "points": 1, "applies_to": "answer"},
]
# (what the assistant says, the answer's conditions, how the raters end up)
CHATS = [
    ("advises-ae now", "names-it", "consensus"),
    ("advises-ae, or says-wait", "angina", "consensus"),
    ("says-wait a bit", "angina", "adjudicated"),
    ("rest", "angina", "consensus"),
    ("advises-ae", "angina", "disputed"),
]


def truth(said: str, answer: str) -> dict[str, bool]:
    return {
        "advises-ae": "advises-ae" in said,
        "says-wait": "says-wait" in said,
        "names-it": answer == "names-it",
    }


def decision(verdicts: dict[str, bool]) -> Decision:
    return Decision(rubric={key: (met, ()) for key, met in verdicts.items()})


@pytest.fixture
def labelled(db, scripted, settings):
    settings.EVALUATION_RETRY_BASE_S = 0.01
    alice, dave, erin, frank = (make_user(n) for n in ("alice", "dave", "erin", "frank"))
    study = make_study("graded")
    make_member(study, alice)
    scenario = make_scenario(study, "belly", rubric=RUBRIC)
    arm = make_llm_arm(study, make_endpoint(scripted.base_url, name="grader"), key="llm")
    tasks = {}
    for said, answer, how in CHATS:
        participant = make_participant(study, arm=arm, status=Participant.Status.COMPLETED)
        chat = [("user", "It hurts, says-wait or advises-ae?"), ("assistant", said)]
        tasks[scored_answer(participant, scenario, 1, "ae", answer, chat=chat).task_id] = (
            said,
            answer,
            how,
        )
    rater_add(study=study, user=dave, added_by=alice)
    r2 = rater_add(study=study, user=erin, added_by=alice)
    rater_add(study=study, user=frank, added_by=alice, can_rate=False, can_adjudicate=True)
    rating_round = round_create(
        study=study, name="chats", created_by=alice, double_share=1.0, answers=False,
        transcripts=True, seed=3,
    )  # fmt: skip
    for item in rating_round.items.all():
        said, answer, how = tasks[item.task_id]
        right = truth(said, answer)
        wrong = right | {"advises-ae": not right["advises-ae"]}
        for assignment in RatingAssignment.objects.filter(item=item).select_related("rater"):
            off = how in ("adjudicated", "disputed") and assignment.rater_id == r2.pk
            label_save(assignment=assignment, decision=decision(wrong if off else right))
        if how == "adjudicated":
            adjudication_save(item=item, user=frank, decision=decision(right), reason="checked")
    scripted.configure(grader_flip_keys=["says-wait"])
    try:
        run = evaluation_start(
            study=study,
            request=StartRequest(kind="rubric", grader_endpoint="grader", humans=True),
            enqueue=False,
        )
        run = evaluation_run_inline(run_id=run.pk)
    finally:
        scripted.configure(grader_flip_keys=[])
    assert run.status == "succeeded" and run.items_failed == 0
    return study, run, alice


def test_the_grader_is_compared_with_the_final_labels_item_by_item(labelled):
    _study, run, _alice = labelled
    agreement = grader_agreement(run=run)

    assert agreement["labelled_targets"] == 4
    assert agreement["final_labels"] == {"consensus": 3, "adjudicated": 1}
    items = {row["key"]: row for row in agreement["rubric_items"]}
    assert (items["advises-ae"]["agreement"], items["advises-ae"]["kappa"]["value"]) == (1.0, 1.0)
    assert (items["says-wait"]["agreement"], items["says-wait"]["kappa"]["value"]) == (0.0, -1.0)
    assert items["names-it"]["kappa"]["value"] == pytest.approx(1.0)
    pooled = agreement["pooled"]
    assert (pooled["n"], pooled["both_met"], pooled["grader_only"]) == (12, 3, 2)
    assert (pooled["raters_only"], pooled["neither"]) == (2, 5)
    assert pooled["agreement"] == pytest.approx(8 / 12)
    assert pooled["kappa"]["value"] == pytest.approx(22 / 70)
    low, high = pooled["kappa"]["low"], pooled["kappa"]["high"]
    assert low is not None and low <= 22 / 70 <= high


def test_scores_without_rater_labels_say_so():
    summary = {
        "groups": [{"source": "model_alone", "arm": "llm", "run": "ma-1", "mean": 0.5}],
        "scenarios": [],
        "rubric_items": [
            {
                "scenario": "s",
                "key": "k",
                "points": 1,
                "applies_to": "model",
                "by_group": [{"source": "model_alone", "arm": "llm", "run": "ma-1", "met": 1}],
            }
        ],
    }
    empty = {"groups": [], "scenarios": [], "rubric_item_groups": []}
    rows = scores_beside_agreement(summary, empty)
    assert rows["groups"][0]["raters"] is None
    assert rows["rubric_items"][0] | {} == {
        "scenario": "s", "key": "k", "points": 1, "applies_to": "model", "source": "model_alone",
        "arm": "llm", "run": "ma-1", "met": 1, "raters": None,
    }  # fmt: skip


def test_the_results_page_shows_the_agreement_beside_each_score(labelled, client):
    study, run, alice = labelled
    client.force_login(alice)
    html = client.get(
        reverse("grader:results", args=[study.slug, run.pk]), headers={"HX-Request": "true"}
    ).content.decode()
    assert 'data-source="human"' in html
    assert "0.67 agree · κ 0.31" in html
    assert "0.00 agree · κ -1.00" in html


def test_only_the_studys_investigators_see_the_results(labelled, client):
    study, run, _alice = labelled
    client.force_login(make_user("mallory"))
    url = reverse("grader:results", args=[study.slug, run.pk])
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302
