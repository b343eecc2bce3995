"""Rubric runs at their edges: unreadable verdicts, repetitions, what a run keeps, the
starts it refuses, and a withdrawal taking the graded chat's items with it."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from studyapp.chat.models import Conversation, Message
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.selectors import run_summary
from studyapp.evaluations.services import EvaluationError, StartRequest, evaluation_start
from studyapp.participation.enrolment import participant_withdraw
from studyapp.participation.models import Answer, Participant, Task
from studyapp.studies.models import Scenario
from tests.factories import make_endpoint, make_participant

RUBRIC = [
    {"key": "advises-ae", "text": "Advises A&E.", "points": 2, "applies_to": "model"},
    {"key": "says-wait", "text": "Says to wait.", "points": -2, "applies_to": "model"},
    {"key": "names-it", "text": "The answer names it.", "points": 1, "applies_to": "answer"},
]
OUTPUTS = [
    ["(chest-pain)", "1) A&E 2) advises-ae names-it"],  # 3 of 3
    ["(sore-knee)", "1) Self-care 2) GARBLE says-wait"],  # the grader cannot be read
]


@pytest.fixture
def graded_study(study_with_arm, evaluator, fast_evaluations, django_capture_on_commit_callbacks):
    study, arm = study_with_arm
    Scenario.objects.filter(study=study).update(rubric=RUBRIC)
    evaluator.configure(keyed_replies=OUTPUTS)
    with django_capture_on_commit_callbacks(execute=True):
        model_alone = evaluation_start(study=study, request=StartRequest(kind="model_alone", n=1))
    # The grader's prompt quotes the output: GARBLE there gets a reply with no verdict.
    evaluator.configure(keyed_replies=[["GARBLE", "I would say it is met, mostly."]])
    return study, arm, model_alone


def grade(study, capture, **kwargs) -> EvaluationRun:
    request = StartRequest(kind="rubric", grader_endpoint=kwargs.pop("grader", "grader"), **kwargs)
    with capture(execute=True):
        run = evaluation_start(study=study, request=request)
    run.refresh_from_db()
    return run


@pytest.fixture
def grader(evaluator, db):
    return make_endpoint(evaluator.base_url, name="grader", price_prompt_per_million=1.5)


def test_an_unreadable_verdict_fails_its_item_and_leaves_the_target_unscored(
    graded_study, grader, django_capture_on_commit_callbacks
):
    study, _arm, model_alone = graded_study
    run = grade(study, django_capture_on_commit_callbacks, source_runs=[model_alone.key])

    assert run.status == EvaluationRun.Status.SUCCEEDED
    failed = run.items.filter(status=EvaluationItem.Status.FAILED)
    assert failed.count() == 3 and run.items_failed == 3
    assert {i.item_key.split(":")[0] for i in failed} == {
        f"model_alone-item-{model_alone.items.get(item_key='sore-knee').pk}"
    }
    item = failed.first()
    assert item.error.startswith("unreadable verdict: the grader's reply holds no JSON")
    assert item.response == "I would say it is met, mostly." and "met" not in item.parsed
    [group] = run_summary(run=run)["rubric"]["groups"]
    assert (group["targets"], group["n"], group["incomplete"], group["mean"]) == (2, 1, 1, 1.0)


def test_each_target_is_graded_n_times_and_scored_by_the_mean(
    graded_study, grader, evaluator, django_capture_on_commit_callbacks
):
    study, _arm, model_alone = graded_study
    evaluator.configure(keyed_replies=[])
    run = grade(study, django_capture_on_commit_callbacks, source_runs=[model_alone.key], n=2)

    assert run.items_total == 2 * 2 * 3 and run.config["repetitions"] == 2
    scores = {r["scenario"]: r["mean"] for r in run_summary(run=run)["rubric"]["scenarios"]}
    assert scores == {"chest-pain": 1.0, "sore-knee": 0.0}  # -2 of 3, clipped


def test_the_run_keeps_its_grader_prompt_and_asks_the_grader_not_an_arm(
    graded_study, grader, evaluator, tmp_path, django_capture_on_commit_callbacks
):
    study, _arm, model_alone = graded_study
    evaluator.configure(keyed_replies=[])
    evaluator.reset()
    template = tmp_path / "grader.json"
    template.write_text(
        json.dumps(
            {
                "version": "ours-3",
                "text": 'Item <criterion key="{key}">{criterion}</criterion>\n'
                "<graded>\n{graded}\n</graded>\nJSON please.",
            }
        )
    )
    run = grade(
        study,
        django_capture_on_commit_callbacks,
        source_runs=[model_alone.key],
        templates_path=template,
    )

    assert run.arm is None and run.endpoint == grader and run.model_label == grader.model
    assert run.key.startswith("rubric-grader-")
    assert run.config["grader_template"]["version"] == "ours-3"
    assert run.config["sampling_params"] == {"temperature": 0.0, "max_tokens": 400}
    assert run.config["price_per_million"] == {"prompt": 1.5}
    assert run.config["sources"]["runs"] == [
        {"key": model_alone.key, "id": model_alone.pk, "kind": "model_alone"}
    ]
    asked = evaluator.requests()
    assert {r["purpose"] for r in asked} == {"grader"}
    assert all(r["messages"][0]["content"].startswith("Item <criterion") for r in asked)
    item = run.items.get(item_key__endswith=":names-it", scenario__key="chest-pain")
    assert item.parsed["target"]["source"] == "model_alone"
    assert item.parsed["rubric"] == RUBRIC[2]
    assert item.parsed["shown"] == {
        "graded": "answer",
        "context": "none",
        "nothing_to_grade": False,
    }
    assert item.parsed["met"] is True


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"grader": ""}, "needs a grader endpoint"),
        ({"grader": "nobody"}, "no model endpoint named 'nobody'"),
        ({}, "choose what to grade"),
        ({"source_runs": ["no-such-run"]}, "has no evaluation run no-such-run"),
        ({"humans": True}, "nothing to grade"),
        ({"humans": True, "human_arm": "nope"}, "has no arm 'nope'"),
    ],
)
def test_starts_that_cannot_work_are_refused(graded_study, grader, changes, message):
    study, _arm, _model_alone = graded_study
    request = StartRequest(
        kind="rubric", grader_endpoint=changes.pop("grader", "grader"), **changes
    )
    with pytest.raises(EvaluationError, match=message):
        evaluation_start(study=study, request=request, enqueue=False)


def test_only_finished_model_alone_or_simulated_runs_asked_together_are_graded(
    graded_study, grader
):
    study, arm, _model_alone = graded_study

    def refused(run, message):
        request = StartRequest(kind="rubric", grader_endpoint="grader", source_runs=[run.key])
        with pytest.raises(EvaluationError, match=message):
            evaluation_start(study=study, request=request, enqueue=False)

    running = EvaluationRun.objects.create(
        study=study, key="still-going", kind="model_alone", status="running", arm=arm
    )
    refused(running, "is still running")
    mcq = EvaluationRun.objects.create(study=study, key="an-mcq", kind="mcq", status="succeeded")
    refused(mcq, "only model-alone and simulated runs")
    separate = EvaluationRun.objects.create(
        study=study,
        key="apart",
        kind="model_alone",
        status="succeeded",
        config={"asked": "separate"},
    )
    refused(separate, "asked the questions separately")


def _answered_chat(study, arm) -> Participant:
    participant = make_participant(study, arm=arm, status=Participant.Status.CONSENTED)
    scenario = Scenario.objects.get(study=study, key="chest-pain")
    task = Task.objects.create(
        participant=participant, scenario=scenario, position=1, status=Task.Status.DONE
    )
    conversation = Conversation.objects.create(
        task=task, arm=arm, endpoint=arm.endpoint, base_url=arm.endpoint.base_url,
        model=arm.endpoint.model, min_turns=1, max_turns=10, timeout_s=10,
    )  # fmt: skip
    for sequence, (role, text) in enumerate(
        [("user", "My chest hurts, says-wait?"), ("assistant", "advises-ae: go now.")], start=1
    ):
        Message.objects.create(
            conversation=conversation, sequence=sequence, role=role, text=text,
            status=Message.Status.COMPLETE,
        )  # fmt: skip
    Answer.objects.create(
        task=task,
        disposition=study.disposition_scale.levels.get(code="ae"),
        conditions_text="angina",
        conditions=["angina"],
        confidence=60,
    )
    return participant


def test_a_withdrawal_takes_the_items_that_hold_the_participants_chat(
    graded_study, grader, evaluator, django_capture_on_commit_callbacks
):
    study, arm, model_alone = graded_study
    evaluator.configure(keyed_replies=[])
    participant = _answered_chat(study, arm)
    run = grade(
        study, django_capture_on_commit_callbacks, humans=True, source_runs=[model_alone.key]
    )
    human = run.items.filter(parsed__target__source="human")
    assert human.count() == 3
    # The person's "says-wait" is context: only the assistant's turn is graded.
    met = {i.parsed["rubric"]["key"]: i.parsed["met"] for i in human}
    assert met == {"advises-ae": True, "says-wait": False, "names-it": False}
    assert "My chest hurts" in human.get(item_key__endswith=":advises-ae").prompt[0]["content"]

    participant_withdraw(participant_id=participant.pk)

    assert not run.items.filter(parsed__target__source="human").exists()
    assert run.items.filter(parsed__target__source="model_alone").count() == 6


def test_the_command_runs_a_rubric_run_and_prints_its_scores(
    graded_study, grader, evaluator, capsys
):
    study, _arm, model_alone = graded_study
    evaluator.configure(keyed_replies=[])
    call_command(
        "run_evaluation", study.slug, "--kind", "rubric", "--grader-endpoint", "grader",
        "--source-runs", model_alone.key, "--inline",
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "rubric (grader scripted-demo, template rubric-grader-v1)" in out
    assert f"model_alone gpt          {model_alone.key}" in out
    assert "score 0.500 [0.000, 1.000] (n=2, 0 incomplete)" in out
