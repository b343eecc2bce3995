"""Evaluation runs against a real inference engine (llama.cpp + SmolLM2-135M, a model for
testing only): model alone, simulated participants, MCQ and robustness. The tiny model's
answers are mostly wrong or unreadable; what is asserted is that every item is stored,
scored where it can be read and counted as unreadable where it cannot, never guessed."""

from __future__ import annotations

import pytest

from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.runtime.runner import evaluation_run_inline
from studyapp.evaluations.selectors import robustness_summary, run_summary
from studyapp.evaluations.services import StartRequest, evaluation_start
from tests.evaluations.runs.conftest import write_questions
from tests.factories import make_endpoint, make_llm_arm, make_scenario, make_study

# Committed transactions: a simulated participant's chat writes through the chat's own
# database calls, which close old connections (as in the scripted simulated-run tests).
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def engine_study(engine):
    study = make_study("engine-study")
    endpoint = make_endpoint(
        engine.base_url,
        name="local-smollm2",
        model=engine.model,
        timeout_s=120.0,
        is_test_model=True,
        evaluation_concurrency=1,
        api_key_env=engine.api_key_env,
    )
    arm = make_llm_arm(
        study,
        endpoint,
        key="small",
        max_turns=2,
        sampling_params={"temperature": 0.0, "max_tokens": 60, "seed": 7},
    )
    make_scenario(study, "chest-pain", level_code="ae")
    return study, arm, endpoint


def start(study, **kwargs) -> EvaluationRun:
    """Start the run and run its chunks here, as `run_evaluation --inline` does (what a
    worker runs, without Celery: the engine is what these tests are about)."""
    run = evaluation_start(study=study, request=StartRequest(**kwargs), enqueue=False)
    return evaluation_run_inline(run_id=run.pk)


def assert_every_item_accounted_for(run: EvaluationRun) -> None:
    assert run.status == EvaluationRun.Status.SUCCEEDED, run.error
    assert run.items_done + run.items_failed == run.items_total
    for item in run.items.all():
        if item.status == EvaluationItem.Status.SUCCEEDED:
            assert item.response.strip() or item.parsed.get("transcript")
            assert item.completion_tokens
        else:
            assert item.status == EvaluationItem.Status.FAILED and item.error


def test_model_alone_stores_and_scores_what_it_can_read(engine_study):
    study, _arm, _endpoint = engine_study
    run = start(study, kind="model_alone", n=2)
    assert run.items_total == 2
    assert_every_item_accounted_for(run)
    unread = 0
    for item in run.items.filter(status=EvaluationItem.Status.SUCCEEDED):
        # A reply without a readable disposition is wrong, never a guessed level.
        if item.disposition_id is None:
            unread += 1
            assert item.correct is False and item.parsed["disposition"] is None
        else:
            assert item.correct == (item.disposition_outcome == "exact")
    summary = run_summary(run=run)
    (row,) = summary["scenarios"]
    assert (row["n"], row["disposition_n"]) == (run.items_done, run.items_done)
    assert row["disposition_unread"] == summary["disposition_unread"] == unread


def test_a_simulated_participant_talks_to_the_real_model(engine_study):
    study, _arm, endpoint = engine_study
    run = start(
        study,
        kind="simulated",
        n=1,
        patient_endpoint=endpoint.name,
    )
    assert run.items_total == 1
    assert_every_item_accounted_for(run)
    item = run.items.get()
    if item.status == EvaluationItem.Status.SUCCEEDED:
        transcript = item.parsed["transcript"]
        assert transcript and transcript[0]["role"] == "user"
        assert all(turn["content"] is not None for turn in transcript)


def test_mcq_and_robustness_count_unreadable_answers_as_such(engine_study, tmp_path):
    study, _arm, _endpoint = engine_study
    path = tmp_path / "q.jsonl"
    write_questions(path, 3, contexts=True)

    mcq = start(study, kind="mcq", items_path=path)
    assert mcq.items_total == 3
    assert_every_item_accounted_for(mcq)
    summary = run_summary(run=mcq)
    unreadable = mcq.items.filter(
        status=EvaluationItem.Status.SUCCEEDED, parsed__answer=None
    ).count()
    assert summary["unparsed"] == unreadable
    assert mcq.items.filter(parsed__answer=None, correct=True).count() == 0

    robustness = start(
        study,
        kind="robustness",
        items_path=path,
        interventions=["authority"],
        depths=["deep"],
    )
    assert robustness.items_total == 6  # 3 baselines, 3 deep follow-ups
    assert_every_item_accounted_for(robustness)
    (row,) = [r for r in robustness_summary(run=robustness) if r["intervention"] == "authority"]
    assert row["depth"] == "deep"
