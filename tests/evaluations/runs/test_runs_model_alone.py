"""Model-alone runs and the run_evaluation command, against the scripted model."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.selectors import run_summary
from studyapp.evaluations.services import StartRequest, evaluation_start
from tests.evaluations.runs.conftest import write_questions
from tests.factories import make_endpoint, make_llm_arm, make_study

KNOWN = [
    ["(chest-pain)", "1) A&E 2) This could be appendicitis or a kidney stone."],
    ["(sore-knee)", "1) Self-care 2) Probably a bruise."],
]


def test_model_alone_scores_each_repetition_with_the_study_scorer(
    study_with_arm, evaluator, fast_evaluations, django_capture_on_commit_callbacks
):
    study, arm = study_with_arm
    evaluator.configure(keyed_replies=KNOWN)
    with django_capture_on_commit_callbacks(execute=True):
        run = evaluation_start(study=study, request=StartRequest(kind="model_alone", n=3))
    run.refresh_from_db()

    assert run.status == EvaluationRun.Status.SUCCEEDED
    assert run.items_total == 6
    chest = run.items.filter(item_key="chest-pain")
    assert {i.repetition for i in chest} == {0, 1, 2}
    assert all(i.correct and i.conditions_correct for i in chest)
    assert all(i.disposition.code == "ae" and i.disposition_outcome == "exact" for i in chest)
    assert chest[0].matched_conditions == ["appendicitis"]
    knee = run.items.filter(item_key="sore-knee")
    assert all(i.disposition_outcome == "under" and not i.conditions_correct for i in knee)
    # The arm's system prompt and sampling parameters, the study's questions and options.
    prompt = chest[0].prompt
    assert prompt[0] == {"role": "system", "content": arm.system_prompt}
    assert study.disposition_question in prompt[1]["content"]
    assert "Ambulance; A&E; Urgent Primary Care; Routine GP; Self-care" in prompt[1]["content"]
    assert run.config["sampling_params"] == arm.sampling_params
    summary = run_summary(run=run)
    assert summary["disposition_accuracy"] == 0.5
    assert summary["conditions_accuracy"] == 0.5


def test_model_alone_can_ask_the_questions_separately(
    study_with_arm, evaluator, fast_evaluations, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    evaluator.configure(keyed_replies=[["(chest-pain)", "Ambulance, and it may be appendicitis"]])
    with django_capture_on_commit_callbacks(execute=True):
        run = evaluation_start(
            study=study, request=StartRequest(kind="model_alone", n=1, asked="separate")
        )

    disposition = run.items.get(item_key="chest-pain:disposition")
    conditions = run.items.get(item_key="chest-pain:conditions")
    assert disposition.disposition_outcome == "over" and disposition.conditions_correct is None
    assert conditions.conditions_correct is True and conditions.correct is None


def test_the_command_runs_an_mcq_evaluation_inline_with_a_progress_bar(
    study_with_arm, evaluator, fast_evaluations, tmp_path, capsys
):
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    evaluator.configure(mode="mcq", mcq_answer_key=write_questions(path, 6))
    call_command(
        "run_evaluation", study.slug, "--kind", "mcq", "--items", str(path), "--json", "--inline"
    )

    out, err = capsys.readouterr()
    assert "[##############################] 6/6 (0 failed) succeeded" in err
    assert json.loads(out)["accuracy"] == 1.0


def test_the_command_queues_the_run_and_follows_it(
    transactional_db, evaluator, fast_evaluations, tmp_path, capsys
):
    study = make_study("cli-study")
    make_llm_arm(study, make_endpoint(evaluator.base_url), key="gpt")
    path = tmp_path / "q.jsonl"
    evaluator.configure(mode="mcq", mcq_answer_key=write_questions(path, 3))
    # The queue is eager here: the chunks run when the run's transaction commits.
    call_command(
        "run_evaluation", study.slug, "--kind", "mcq", "--items", str(path), "--timeout", "20",
        "--price-prompt", "1000", "--price-completion", "2000",
    )  # fmt: skip

    out, err = capsys.readouterr()
    assert "3/3 (0 failed) succeeded" in err
    assert "accuracy 1.0 (3 answered)" in out
    run = EvaluationRun.objects.get(study=study)
    tokens = run_summary(run=run)["tokens"]
    expected = tokens["prompt_tokens"] * 1000 / 1e6 + tokens["completion_tokens"] * 2000 / 1e6
    assert tokens["cost"] == pytest.approx(expected, abs=1e-4) and tokens["cost"] > 0


def test_the_command_exits_non_zero_when_the_run_fails(
    study_with_arm, evaluator, fast_evaluations, tmp_path, capsys
):
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    evaluator.configure(mode="mcq", mcq_answer_key=write_questions(path, 2), fail_status=500)
    fast_evaluations.EVALUATION_RETRY_ATTEMPTS = 1

    with pytest.raises(CommandError, match="ended failed"):
        call_command(
            "run_evaluation", study.slug, "--kind", "mcq", "--items", str(path), "--inline"
        )


def test_the_command_refuses_a_missing_items_file(study_with_arm, tmp_path):
    study, _arm = study_with_arm
    with pytest.raises(CommandError, match="not found"):
        call_command(
            "run_evaluation", study.slug, "--kind", "mcq", "--items", str(tmp_path / "none.jsonl")
        )


def test_a_reply_without_a_readable_disposition_is_wrong_and_counted_apart(
    study_with_arm, evaluator, fast_evaluations, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    evaluator.configure(
        keyed_replies=[
            ["(chest-pain)", "I am not able to say which service; maybe appendicitis."],
            ["(sore-knee)", "1) Self-care 2) Probably a bruise."],
        ]
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = evaluation_start(study=study, request=StartRequest(kind="model_alone", n=1))
    chest = run.items.get(item_key="chest-pain")
    assert chest.disposition_id is None and chest.correct is False
    assert chest.conditions_correct is True  # the conditions part is still read
    summary = run_summary(run=run)
    rows = {row["scenario"]: row for row in summary["scenarios"]}
    assert rows["chest-pain"]["disposition_unread"] == 1
    assert rows["sore-knee"]["disposition_unread"] == 0
    assert summary["disposition_unread"] == 1
    assert summary["disposition_accuracy"] == 0.0
