"""Fixtures and helpers of the evaluation-run tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studyapp.celery import app as celery_app
from studyapp.devtools.scripted_server import (
    ScriptedConfig,
    ScriptedServerThread,
    options_fingerprint,
)
from tests.factories import (
    make_endpoint,
    make_llm_arm,
    make_member,
    make_scenario,
    make_study,
    make_user,
)

LETTERS = "ABCD"


def write_questions(path: Path, n: int, *, contexts: bool = False) -> dict[str, str]:
    """n 4-option questions (gold letters cycling A..D); returns the scripted answer key."""
    key = {}
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            options = {letter: f"option {letter} of question {i}" for letter in LETTERS}
            gold = LETTERS[i % 4]
            row = {"id": f"q{i}", "question": f"Question {i}: which one?", "options": options}
            row["answer_idx"] = gold
            if contexts:
                row["misleading_context"] = f"A passage that supports another option ({i})."
            f.write(json.dumps(row) + "\n")
            key[options_fingerprint(options)] = gold
    return key


def answer_key_of(path: Path) -> dict[str, str]:
    key = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        key[options_fingerprint(row["options"])] = row["answer_idx"]
    return key


@pytest.fixture
def fast_evaluations(settings):
    """Short backoff and polling; Celery tasks run eagerly (the queue is mocked)."""
    settings.EVALUATION_RETRY_BASE_S = 0.01
    settings.EVALUATION_POLL_S = 0.05
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield settings
    celery_app.conf.task_always_eager = before


@pytest.fixture
def evaluator(scripted):
    """The scripted server, reset after the test so its ground truth leaks nowhere."""
    yield scripted
    scripted.configure(
        mcq_answer_key={}, mcq_accuracy=1.0, mcq_flip_p=0.0, keyed_replies=[], grader_flip_keys=[]
    )


@pytest.fixture(scope="module")
def patient_server():
    """A scripted patient on a server of its own (the arm's model is `evaluator`); tests
    reset and configure it."""
    server = ScriptedServerThread(
        ScriptedConfig(mode="patient", record_messages=True, ttft_s=0.0, token_delay_s=0.0)
    ).start()
    yield server
    server.stop()


@pytest.fixture
def alice(study_with_arm, client):
    """An investigator of the study, logged in."""
    study, _arm = study_with_arm
    user = make_user("alice")
    make_member(study, user)
    client.force_login(user)
    return user


@pytest.fixture
def study_with_arm(db, evaluator):
    study = make_study("eval-study")
    endpoint = make_endpoint(evaluator.base_url, max_concurrent_streams=8)
    arm = make_llm_arm(study, endpoint, key="gpt", max_turns=3)
    make_scenario(study, "chest-pain", level_code="ae")
    make_scenario(study, "sore-knee", level_code="routine_gp", gold_conditions=["sprain"])
    return study, arm


def first_chunk(run) -> tuple[int, int]:
    chunk = run.chunks.order_by("first_item_id").first()
    return chunk.first_item_id, chunk.last_item_id


def requeue_chunks(run) -> None:
    """What a redelivery after an interrupted claim finds: every chunk queued again."""
    from studyapp.evaluations.models import EvaluationChunk

    run.chunks.update(status=EvaluationChunk.Status.QUEUED, claim="")
