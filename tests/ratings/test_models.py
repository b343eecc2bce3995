"""Database rules of rating items."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from studyapp.ratings.models import RatingItem, RatingRound


@pytest.fixture
def rating_round(rated, alice):
    return RatingRound.objects.create(
        study=rated.study, name="R", seed=1, double_share=0, created_by=alice
    )


@pytest.mark.parametrize(
    "sources",
    [
        {},
        {"answer": "A1", "task": "A1"},
    ],
)
def test_an_item_has_exactly_one_source(rated, rating_round, sources):
    fields = {
        "answer": rated.answers["A1"] if "answer" in sources else None,
        "task": rated.answers["A1"].task if "task" in sources else None,
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        RatingItem.objects.create(
            round=rating_round, kind="answer", scenario=rated.scenario, **fields
        )


def test_an_answer_is_never_a_transcript_nor_a_task_an_answer(rated, rating_round):
    with pytest.raises(IntegrityError), transaction.atomic():
        RatingItem.objects.create(
            round=rating_round,
            kind="transcript",
            scenario=rated.scenario,
            answer=rated.answers["A1"],
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        RatingItem.objects.create(
            round=rating_round,
            kind="answer",
            scenario=rated.scenario,
            task=rated.answers["A1"].task,
        )


def test_an_answer_is_in_a_round_once(rated, rating_round):
    RatingItem.objects.create(
        round=rating_round, kind="answer", scenario=rated.scenario, answer=rated.answers["A1"]
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        RatingItem.objects.create(
            round=rating_round, kind="answer", scenario=rated.scenario, answer=rated.answers["A1"]
        )
