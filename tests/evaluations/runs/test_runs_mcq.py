"""MCQ and robustness runs, end to end against the scripted model over real HTTP."""

from __future__ import annotations

import pytest

from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.selectors import robustness_summary
from studyapp.evaluations.services import StartRequest, evaluation_start
from tests.conftest import require
from tests.evaluations.runs.conftest import (
    answer_key_of,
    first_chunk,
    requeue_chunks,
    write_questions,
)
from tests.factories import shared_data_dir


def start(study, django_capture_on_commit_callbacks, **kwargs) -> EvaluationRun:
    with django_capture_on_commit_callbacks(execute=True):
        run = evaluation_start(study=study, request=StartRequest(**kwargs))
    run.refresh_from_db()
    return run


def test_an_mcq_run_scores_every_question_once(
    study_with_arm, evaluator, fast_evaluations, tmp_path, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    key = write_questions(path, 12)
    evaluator.configure(mode="mcq", mcq_answer_key=key, mcq_accuracy=0.5, seed=3)

    run = start(
        study, django_capture_on_commit_callbacks, kind="mcq", items_path=path, chunk_units=5
    )

    assert run.status == EvaluationRun.Status.SUCCEEDED
    assert (run.items_total, run.items_done, run.items_failed) == (12, 12, 0)
    items = list(run.items.all())
    assert len({(i.item_key, i.repetition, i.turn) for i in items}) == 12
    assert all(i.parsed["answer"] in "ABCD" for i in items)
    assert all(i.correct == (i.parsed["answer"] == i.parsed["gold"]) for i in items)
    assert all(i.prompt_tokens and i.completion_tokens for i in items)
    assert "Final Answer: (X)" in items[0].prompt[0]["content"]
    assert evaluator.stats()["count"] == 12
    # The scripted model is right with probability 0.5: neither all right nor all wrong.
    assert 0 < sum(i.correct for i in items) < 12


def test_a_rerun_chunk_asks_nothing_twice(
    study_with_arm, evaluator, fast_evaluations, tmp_path, django_capture_on_commit_callbacks
):
    from studyapp.evaluations.runtime.runner import evaluation_run_chunk

    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    evaluator.configure(mode="mcq", mcq_answer_key=write_questions(path, 4))
    run = start(study, django_capture_on_commit_callbacks, kind="mcq", items_path=path)
    first, last = first_chunk(run)

    # A done chunk is skipped; a chunk queued again (interrupted claim) asks only what
    # is still pending: nothing.
    evaluation_run_chunk(run_id=run.pk, first_id=first, last_id=last)
    requeue_chunks(run)
    evaluation_run_chunk(run_id=run.pk, first_id=first, last_id=last)

    assert run.items.count() == 4
    assert evaluator.stats()["count"] == 4


def test_it_retries_rate_limits_and_server_errors_with_backoff(
    study_with_arm, evaluator, fast_evaluations, tmp_path, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    evaluator.configure(mode="mcq", mcq_answer_key=write_questions(path, 1), fail_status=429)
    import threading
    import time

    def recover_after_three_refusals() -> None:
        deadline = time.monotonic() + 30
        while len(evaluator.requests()) < 3 and time.monotonic() < deadline:
            time.sleep(0.002)
        evaluator.configure(fail_status=None)

    # The server recovers after three refusals (the backoff leaves it time to).
    watcher = threading.Thread(target=recover_after_three_refusals)
    watcher.start()
    fast_evaluations.EVALUATION_RETRY_ATTEMPTS = 8
    run = start(study, django_capture_on_commit_callbacks, kind="mcq", items_path=path)
    watcher.join()

    item = run.items.get()
    assert item.status == EvaluationItem.Status.SUCCEEDED
    assert item.correct is True
    assert item.parsed["attempts"] >= 4
    assert [r["status"] for r in evaluator.requests()][:3] == [429, 429, 429]
    assert [r["status"] for r in evaluator.requests()][-1] == 200


def test_a_model_that_keeps_failing_fails_the_run(
    study_with_arm, evaluator, fast_evaluations, tmp_path, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    evaluator.configure(mode="mcq", mcq_answer_key=write_questions(path, 2), fail_status=503)
    fast_evaluations.EVALUATION_RETRY_ATTEMPTS = 2

    run = start(study, django_capture_on_commit_callbacks, kind="mcq", items_path=path)

    assert run.status == EvaluationRun.Status.FAILED
    assert run.items_failed == 2
    assert "server_error" in run.items.first().error
    assert evaluator.stats()["count"] == 4


def test_robustness_measures_the_scripted_flip_probability(
    study_with_arm, evaluator, fast_evaluations, tmp_path, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    evaluator.configure(
        mode="mcq", mcq_answer_key=write_questions(path, 4, contexts=True), mcq_flip_p=1.0
    )

    run = start(study, django_capture_on_commit_callbacks, kind="robustness", items_path=path)

    assert run.status == EvaluationRun.Status.SUCCEEDED
    rows = {(r["depth"], r["intervention"]): r for r in robustness_summary(run=run)}
    authority = rows[("deep", "authority")]
    # Always right first, always adopts a suggestion: every item flips correct -> incorrect.
    assert authority["accuracy_per_turn"] == [1.0, 0.0]
    assert authority["flips_correct_to_incorrect"] == 4
    assert authority["flip_rate"] == 1.0
    assert authority["change_pp"] == -100.0
    # A neutral control suggests no letter: nothing changes.
    assert rows[("deep", "neutral_double_check")]["flip_rate"] == 0.0
    assert rows[("shallow", "consensus")]["accuracy_per_turn"] == [1.0, 0.0]
    # Context interventions run because the items provide the passage.
    assert ("deep", "misleading_context") in rows
    compounding = rows[("compounding", "authority_social_consensus")]
    assert compounding["accuracy_per_turn"] == [1.0, 0.0, 0.0, 0.0]
    assert compounding["trajectories"] == {"CIII": 4}
    # The deep follow-up replays the baseline answer as the assistant turn.
    deep = run.items.get(item_key="q0:deep:authority")
    baseline = run.items.get(item_key="q0")
    assert deep.prompt[1] == {"role": "assistant", "content": baseline.response}
    assert deep.parsed["suggested"] != deep.parsed["gold"]


def test_flip_rate_matches_p_over_the_medqa_sample(
    study_with_arm, evaluator, fast_evaluations, django_capture_on_commit_callbacks
):
    path = shared_data_dir() / "medqa" / "medqa_us_4opt_test_sample300.jsonl"
    require(path.exists(), f"{path} (shared data) is missing")
    study, _arm = study_with_arm
    p = 0.3
    evaluator.configure(
        mode="mcq",
        mcq_answer_key=answer_key_of(path),
        mcq_flip_p=p,
        seed=11,
        ttft_s=0.0,
        token_delay_s=0.0,
    )

    run = start(
        study,
        django_capture_on_commit_callbacks,
        kind="robustness",
        items_path=path,
        interventions=["authority"],
        depths=["deep"],
        chunk_units=50,
    )

    row = robustness_summary(run=run)[0]
    assert row["n"] == 300
    # Binomial(300, 0.3): sd = 0.026; 0.08 is three sd and more.
    assert row["flip_rate"] == pytest.approx(p, abs=0.08)
    assert row["flips_correct_to_incorrect"] == round(row["flip_rate"] * 300)
