from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from tests.factories import make_scenario, make_study


@pytest.fixture
def run(db) -> EvaluationRun:
    study = make_study("evals")
    make_scenario(study, "belly")
    return EvaluationRun.objects.create(
        study=study, key="baseline", kind=EvaluationRun.Kind.MODEL_ALONE, model_label="m"
    )


def test_an_item_is_unique_per_run_key_repetition_and_turn(run):
    EvaluationItem.objects.create(run=run, item_key="belly", repetition=0, turn=0)
    EvaluationItem.objects.create(run=run, item_key="belly", repetition=0, turn=1)
    EvaluationItem.objects.create(run=run, item_key="belly", repetition=1, turn=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        EvaluationItem.objects.create(run=run, item_key="belly", repetition=0, turn=0)


def test_a_retried_chunk_updates_its_items_instead_of_adding_them(run):
    def chunk(response: str) -> None:
        EvaluationItem.objects.bulk_create(
            [
                EvaluationItem(run=run, item_key="belly", repetition=r, response=response)
                for r in range(3)
            ],
            update_conflicts=True,
            unique_fields=["run", "item_key", "repetition", "turn"],
            update_fields=["response"],
        )

    chunk("first try")
    chunk("second try")
    assert list(run.items.values_list("response", flat=True)) == ["second try"] * 3


def test_a_run_key_is_unique_within_a_study(run):
    with pytest.raises(IntegrityError), transaction.atomic():
        EvaluationRun.objects.create(study=run.study, key="baseline", kind="mcq")


def test_finished_runs_are_told_apart_from_running_ones(run):
    assert not run.is_finished
    run.status = EvaluationRun.Status.CANCELLED
    assert run.is_finished
