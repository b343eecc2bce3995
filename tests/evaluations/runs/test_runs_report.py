"""study_report --format json carries each run's own figures."""

from __future__ import annotations

import json

from django.core.management import call_command

from studyapp.evaluations.services import StartRequest, evaluation_start
from tests.evaluations.runs.conftest import write_questions


def test_the_json_report_includes_the_runs_results(
    study_with_arm,
    evaluator,
    fast_evaluations,
    tmp_path,
    capsys,
    django_capture_on_commit_callbacks,
):
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    evaluator.configure(mode="mcq", mcq_answer_key=write_questions(path, 4), mcq_flip_p=1.0)
    with django_capture_on_commit_callbacks(execute=True):
        run = evaluation_start(
            study=study,
            request=StartRequest(
                kind="robustness", items_path=path, interventions=["authority"], depths=["deep"]
            ),
        )

    call_command("study_report", study.slug, "--format", "json")

    report = json.loads(capsys.readouterr().out)
    entry = next(e for e in report["evaluations"] if e["key"] == run.key)
    row = entry["results"]["robustness"][0]
    assert (row["depth"], row["intervention"], row["n"]) == ("deep", "authority", 4)
    assert row["flip_rate"] == 1.0 and row["change_pp"] == -100.0
    assert entry["results"]["tokens"]["completion_tokens"] > 0
