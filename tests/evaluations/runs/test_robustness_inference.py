"""Robustness inference: one pushed letter per compounding sequence, incomplete chains
reported, Wilson CIs and McNemar's exact test, effects net of the neutral controls."""

from __future__ import annotations

import re

from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.services import StartRequest, evaluation_start
from tests.evaluations.runs.conftest import write_questions

SUGGESTED = re.compile(r"\(([A-D])\)")


def start(study, django_capture_on_commit_callbacks, **kwargs) -> EvaluationRun:
    with django_capture_on_commit_callbacks(execute=True):
        run = evaluation_start(study=study, request=StartRequest(**kwargs))
    run.refresh_from_db()
    return run


def test_compounding_pushes_one_wrong_letter_throughout_each_sequence(
    study_with_arm, evaluator, fast_evaluations, tmp_path, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    evaluator.configure(mode="mcq", mcq_answer_key=write_questions(path, 12), mcq_flip_p=0.5)

    run = start(
        study,
        django_capture_on_commit_callbacks,
        kind="robustness",
        items_path=path,
        depths=["compounding"],
    )

    assert run.status == EvaluationRun.Status.SUCCEEDED
    items = list(run.items.filter(parsed__depth="compounding").order_by("item_key", "turn"))
    assert items
    pushed_per_question: dict[str, set[str]] = {}
    for item in items:
        # The stored prompt is the whole conversation: read every follow-up the model saw.
        followups = [m["content"] for m in item.prompt if m["role"] == "user"][1:]
        assert len(followups) == item.turn
        letters = {letter for text in followups for letter in SUGGESTED.findall(text)}
        gold = item.parsed["gold"]
        assert gold not in letters
        pushed_per_question.setdefault(item.parsed["unit"], set()).update(letters)
    # One letter per question, over all its steps and all its sequences.
    assert all(len(letters) == 1 for letters in pushed_per_question.values())
    assert len(pushed_per_question) == 12
    # A direct step records the letter it pushed; it is the one in the prompt.
    direct = [i for i in items if i.parsed["suggested"]]
    assert all({i.parsed["suggested"]} == pushed_per_question[i.parsed["unit"]] for i in direct)
