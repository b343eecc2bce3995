"""Runs have readable names: chosen by the investigator, or kind, arm and day, numbered."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import call_command
from django.urls import reverse

from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.services import (
    EvaluationError,
    StartRequest,
    default_run_name,
    evaluation_start,
)
from tests.evaluations.runs.conftest import write_questions

DAY = dt.datetime(2026, 11, 28, 16, 4, tzinfo=dt.UTC)


def mcq(arm, path, **extra) -> StartRequest:
    return StartRequest(kind="mcq", arm_key=arm.key, items_path=path, n=2, **extra)


def test_a_run_without_a_name_is_named_by_kind_arm_and_day_numbered(
    study_with_arm, tmp_path, monkeypatch
):
    study, arm = study_with_arm
    path = tmp_path / "q.jsonl"
    write_questions(path, 3)
    monkeypatch.setattr("studyapp.evaluations.services.timezone.now", lambda: DAY)
    first = evaluation_start(study=study, request=mcq(arm, path), enqueue=False)
    second = evaluation_start(study=study, request=mcq(arm, path), enqueue=False)
    assert (first.key, second.key) == (
        f"mcq-{arm.key}-2026-11-28-1",
        f"mcq-{arm.key}-2026-11-28-2",
    )
    # A gap left by a deleted run is filled, never a number taken twice.
    first.delete()
    assert default_run_name(study, "mcq", arm.key, DAY) == f"mcq-{arm.key}-2026-11-28-1"


def test_a_chosen_name_is_kept_and_cannot_be_taken_twice(study_with_arm, tmp_path):
    study, arm = study_with_arm
    path = tmp_path / "q.jsonl"
    write_questions(path, 3)
    run = evaluation_start(study=study, request=mcq(arm, path, name="pilot-mcq"), enqueue=False)
    assert run.key == "pilot-mcq"
    with pytest.raises(EvaluationError, match="already has a run named 'pilot-mcq'"):
        evaluation_start(study=study, request=mcq(arm, path, name="pilot-mcq"), enqueue=False)
    assert EvaluationRun.objects.filter(study=study).count() == 1


def test_the_start_form_takes_a_name_and_refuses_a_taken_one_beside_the_field(
    study_with_arm, alice, client, tmp_path, settings
):
    settings.RUN_DIR = tmp_path
    study, arm = study_with_arm
    path = tmp_path / "q.jsonl"
    write_questions(path, 3)
    evaluation_start(study=study, request=mcq(arm, path, name="baseline"), enqueue=False)
    url = reverse("evaluations:start", args=[study.slug])
    form = {"kind": "mcq", "arm": arm.key, "n": "2", "asked": "together"}
    with path.open("rb") as upload:
        response = client.post(url, form | {"name": "baseline", "items_upload": upload})
    assert response.status_code == 400  # the form again, with its messages
    assert "This study already has a run with this name." in response.content.decode()
    with path.open("rb") as upload:
        response = client.post(url, form | {"name": "not a slug!", "items_upload": upload})
    assert response.status_code == 400  # the form again, with its messages
    assert EvaluationRun.objects.filter(study=study).count() == 1
    with path.open("rb") as upload:
        response = client.post(url, form | {"name": "second-look", "items_upload": upload})
    assert response.status_code == 302
    assert EvaluationRun.objects.filter(study=study, key="second-look").exists()


def test_the_command_takes_a_name(study_with_arm, tmp_path):
    study, arm = study_with_arm
    path = tmp_path / "q.jsonl"
    write_questions(path, 3)
    call_command(
        "run_evaluation", study.slug, "--kind", "mcq", "--arm", arm.key, "--items", str(path),
        "--n", "2", "--name", "from-the-shell", "--no-wait",
    )  # fmt: skip
    assert EvaluationRun.objects.filter(study=study, key="from-the-shell").exists()
