"""round_create: what is sampled, how it is dealt out, and that it is recorded."""

from __future__ import annotations

from collections import Counter

import pytest

from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.ratings.models import RatingAssignment, RatingItem
from studyapp.ratings.services.rounds import RoundError, round_create
from tests.analysis.scored import scored_answer
from tests.factories import make_participant


def test_a_round_takes_the_participants_answers_not_the_simulated_ones(rated, alice):
    rating_round = round_create(
        study=rated.study, name="R", created_by=alice, double_share=1, seed=3
    )
    items = list(rating_round.items.all())
    assert {item.answer_id for item in items} == {a.pk for a in rated.answers.values()}
    assert all(item.kind == "answer" and item.is_double for item in items)
    assert rating_round.sources == {
        "humans": True,
        "evaluation_runs": [],
        "answers": True,
        "transcripts": False,
    }
    assert rating_round.seed == 3 and rating_round.created_by == alice


def test_both_raters_get_every_double_item_in_their_own_order(rated, alice):
    rating_round = round_create(
        study=rated.study, name="R", created_by=alice, double_share=1, seed=3
    )
    queues = {
        rater: list(
            RatingAssignment.objects.filter(rater=rater)
            .order_by("position")
            .values_list("position", "item_id")
        )
        for rater in (rated.r1, rated.r2)
    }
    for queue in queues.values():
        assert [p for p, _ in queue] == [1, 2, 3]
        assert {i for _, i in queue} == set(rating_round.items.values_list("pk", flat=True))
    # The adjudicator (can_rate False) gets nothing.
    assert not RatingAssignment.objects.filter(rater=rated.adjudicator).exists()


def test_a_share_is_double_rated_and_the_rest_balanced(rated, alice):
    rating_round = round_create(
        study=rated.study, name="R", created_by=alice, double_share=0.34, seed=9
    )
    assert rating_round.items.filter(is_double=True).count() == 1
    loads = Counter(RatingAssignment.objects.values_list("rater", flat=True))
    assert sorted(loads.values()) == [2, 2]


def test_the_seed_decides_the_deal(rated, alice):
    def deal(seed):
        RatingItem.objects.all().delete()
        round_create(study=rated.study, name="R", created_by=alice, double_share=0.34, seed=seed)
        return sorted(RatingAssignment.objects.values_list("rater", "position", "item__answer_id"))

    assert deal(1) == deal(1)
    assert any(deal(1) != deal(seed) for seed in (2, 3, 4))


def test_a_later_round_takes_only_new_items_and_continues_each_queue(rated, alice):
    round_create(study=rated.study, name="R1", created_by=alice, double_share=1)
    with pytest.raises(RoundError, match="nothing to rate"):
        round_create(study=rated.study, name="R2", created_by=alice, double_share=1)
    participant = make_participant(rated.study, arm=rated.answers["A1"].task.participant.arm)
    new = scored_answer(participant, rated.scenario, 1, "ae", "appendicitis")
    second = round_create(study=rated.study, name="R2", created_by=alice, double_share=1)
    assert list(second.items.values_list("answer_id", flat=True)) == [new.pk]
    assert set(
        RatingAssignment.objects.filter(item__round=second).values_list("rater", "position")
    ) == {(rated.r1.pk, 4), (rated.r2.pk, 4)}


def test_chats_are_taken_for_scenarios_with_a_rubric(rated, alice):
    rating_round = round_create(
        study=rated.study,
        name="R",
        created_by=alice,
        double_share=0,
        answers=False,
        transcripts=True,
    )
    assert {i.task_id for i in rating_round.items.all()} == {
        a.task_id for a in rated.answers.values()
    }
    assert set(rating_round.items.values_list("kind", flat=True)) == {"transcript"}


def test_evaluation_runs_add_model_alone_and_simulated_outputs(rated, alice):
    alone = EvaluationRun.objects.create(study=rated.study, key="alone", kind="model_alone")
    scored = EvaluationItem.objects.create(
        run=alone,
        scenario=rated.scenario,
        item_key="belly",
        status="succeeded",
        response="1) A&E 2) appendicitis",
        parsed={"conditions_text": "appendicitis"},
        matched_conditions=["appendicitis"],
        conditions_correct=True,
    )
    EvaluationItem.objects.create(  # a disposition-only item: nothing to label
        run=alone, scenario=rated.scenario, item_key="belly", repetition=1, status="succeeded"
    )
    simulated = EvaluationRun.objects.create(study=rated.study, key="sim", kind="simulated")
    chat_item = EvaluationItem.objects.create(
        run=simulated,
        scenario=rated.scenario,
        item_key="belly",
        status="succeeded",
        task=rated.simulated_answer.task,
    )
    rating_round = round_create(
        study=rated.study,
        name="R",
        created_by=alice,
        double_share=0,
        humans=False,
        transcripts=True,
        evaluation_run_ids=[alone.pk, simulated.pk],
    )
    got = sorted(rating_round.items.values_list("evaluation_item_id", "kind"))
    assert got == sorted(
        [(scored.pk, "answer"), (chat_item.pk, "answer"), (chat_item.pk, "transcript")]
    )
    mcq = EvaluationRun.objects.create(study=rated.study, key="mcq", kind="mcq")
    with pytest.raises(ValueError, match="only model-alone and simulated runs"):
        round_create(
            study=rated.study,
            name="X",
            created_by=alice,
            double_share=0,
            evaluation_run_ids=[mcq.pk],
        )


def test_item_ids_say_nothing_of_the_source_order(rated, alice):
    # Items are created in a seeded shuffle: by id, they are not in answer order.
    orders = set()
    for seed in range(6):
        RatingItem.objects.all().delete()
        r = round_create(study=rated.study, name="R", created_by=alice, double_share=0, seed=seed)
        orders.add(tuple(r.items.order_by("pk").values_list("answer_id", flat=True)))
    assert len(orders) > 1


def test_a_round_needs_raters(rated, alice):
    for rater in (rated.r1, rated.r2):
        rater.is_active = False
        rater.save()
    with pytest.raises(RoundError, match="no active raters"):
        round_create(study=rated.study, name="R", created_by=alice, double_share=0)
