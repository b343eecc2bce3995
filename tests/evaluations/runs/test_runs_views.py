"""The evaluations page: start each kind from the UI, watch progress, compare results."""

from __future__ import annotations

import io
import json

import pytest
from django.urls import reverse

from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.services import StartRequest, evaluation_start
from tests.evaluations.runs.conftest import write_questions
from tests.factories import make_member, make_user


def page(study) -> str:
    return reverse("evaluations:page", args=[study.slug])


def test_the_study_page_links_to_evaluations(study_with_arm, alice, client):
    study, _arm = study_with_arm
    response = client.get(reverse("analysis:study_detail", args=[study.slug]))
    assert page(study) in response.content.decode()


def test_it_hides_another_investigators_study(study_with_arm, client):
    study, _arm = study_with_arm
    client.force_login(make_user("charlie"))
    assert client.get(page(study)).status_code == 404
    assert client.post(reverse("evaluations:start", args=[study.slug])).status_code == 404


def test_an_investigator_starts_an_mcq_run_with_an_upload_and_sees_it_finish(
    study_with_arm,
    alice,
    client,
    evaluator,
    fast_evaluations,
    tmp_path,
    settings,
    django_capture_on_commit_callbacks,
):
    settings.RUN_DIR = tmp_path
    study, arm = study_with_arm
    path = tmp_path / "q.jsonl"
    evaluator.configure(mode="mcq", mcq_answer_key=write_questions(path, 7))
    upload = io.BytesIO(path.read_bytes())
    upload.name = "questions.jsonl"

    with django_capture_on_commit_callbacks(execute=True):
        # An empty number asks every question of the file.
        response = client.post(
            reverse("evaluations:start", args=[study.slug]),
            {"kind": "mcq", "arm": arm.key, "n": "", "asked": "together", "items_upload": upload},
        )

    assert response.status_code == 302
    run = EvaluationRun.objects.get(study=study, kind="mcq")
    assert run.status == "succeeded" and run.items_done == 7
    html = client.get(page(study)).content.decode()
    assert f'id="run-{run.pk}" data-status="succeeded"' in html
    assert "accuracy 1.000" in html


@pytest.mark.parametrize("kind", ["model_alone", "robustness"])
def test_every_kind_starts_from_the_form(
    study_with_arm,
    alice,
    client,
    evaluator,
    fast_evaluations,
    kind,
    django_capture_on_commit_callbacks,
    tmp_path,
    settings,
):
    study, arm = study_with_arm
    settings.RUN_DIR = tmp_path
    path = tmp_path / "q.jsonl"
    evaluator.configure(mode="mcq", mcq_answer_key=write_questions(path, 2), mcq_flip_p=1.0)
    upload = io.BytesIO(path.read_bytes())
    upload.name = "q.jsonl"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("evaluations:start", args=[study.slug]),
            {"kind": kind, "arm": arm.key, "n": 1, "asked": "together", "items_upload": upload},
        )
    assert response.status_code == 302
    run = EvaluationRun.objects.get(study=study, kind=kind)
    assert run.status == "succeeded"
    html = client.get(page(study)).content.decode()
    if kind == "robustness":
        assert 'class="robustness"' in html and "authority" in html
    else:
        assert 'id="comparison"' in html


def test_a_run_without_items_is_refused_with_the_reason(study_with_arm, alice, client):
    study, arm = study_with_arm
    response = client.post(
        reverse("evaluations:start", args=[study.slug]),
        {"kind": "mcq", "arm": arm.key, "n": 5, "asked": "together"},
    )
    assert response.status_code == 400
    assert "Choose or upload a JSONL file" in response.content.decode()
    assert not EvaluationRun.objects.exists()


def test_the_progress_fragment_polls_while_a_run_is_active_and_cancel_stops_it(
    study_with_arm, alice, client, tmp_path
):
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    write_questions(path, 3)
    run = evaluation_start(
        study=study, request=StartRequest(kind="mcq", items_path=path), enqueue=False
    )
    url = reverse("evaluations:runs", args=[study.slug])

    fragment = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 2s"' in fragment
    assert '<progress class="run-progress" max="3" value="0">' in fragment

    # A worker is storing the chunk's last request when the cancel comes: the table
    # keeps polling until its claim is given up, then stops.
    from studyapp.evaluations.runtime.chunks import chunk_claim, chunk_finish

    claim = chunk_claim(run_id=run.pk, first_id=run.chunks.get().first_item_id)
    client.post(reverse("evaluations:cancel", args=[study.slug, run.pk]))
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert 'hx-trigger="every 2s"' in client.get(url).content.decode()
    chunk_finish(claim)
    assert "hx-trigger" not in client.get(url).content.decode()


def test_the_run_page_lists_items(study_with_arm, alice, client, tmp_path):
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    write_questions(path, 2)
    run = evaluation_start(
        study=study, request=StartRequest(kind="mcq", items_path=path), enqueue=False
    )
    html = client.get(reverse("evaluations:run_detail", args=[study.slug, run.pk])).content
    assert b"q1" in html and b"pending" in html


def test_the_results_reload_themselves_once_nothing_runs(study_with_arm, alice, client, tmp_path):
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    write_questions(path, 2)
    run = evaluation_start(
        study=study, request=StartRequest(kind="mcq", items_path=path), enqueue=False
    )
    url = reverse("evaluations:runs", args=[study.slug])
    htmx = {"HX-Request": "true"}
    assert "HX-Trigger" not in client.get(url, headers=htmx).headers

    client.post(reverse("evaluations:cancel", args=[study.slug, run.pk]))
    trigger = json.loads(client.get(url, headers=htmx).headers["HX-Trigger"])
    assert list(trigger) == ["evaluations-finished"]
    html = client.get(page(study)).content.decode()
    assert 'id="evaluation-results"' in html
    assert 'hx-trigger="evaluations-finished from:body"' in html
    assert 'hx-select="#evaluation-results"' in html


@pytest.mark.django_db(transaction=True)
def test_a_simulated_run_starts_from_the_form_with_its_patient_model(
    study_with_arm,
    alice,
    client,
    evaluator,
    patient_server,
    fast_evaluations,
    django_capture_on_commit_callbacks,
):
    from studyapp.participation.models import Participant
    from tests.factories import make_endpoint, make_llm_arm, make_study

    study, arm = study_with_arm
    patient_server.reset()
    patient = make_endpoint(patient_server.base_url, name="patient-model")
    # An endpoint alice may use: an arm of another of her studies runs on it.
    other = make_study("alice-pilot")
    make_member(other, alice)
    make_llm_arm(other, patient, key="pilot")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("evaluations:start", args=[study.slug]),
            {
                "kind": "simulated",
                "arm": arm.key,
                "n": "",
                "asked": "together",
                "patient_endpoint": "patient-model",
            },
        )

    assert response.status_code == 302
    run = EvaluationRun.objects.get(study=study, kind="simulated")
    assert run.status == "succeeded" and run.items_done == 2
    assert run.config["patient_endpoint"] == "patient-model"
    assert Participant.objects.filter(study=study, is_simulated=True).count() == 2
    html = client.get(page(study)).content.decode()
    assert f'id="run-{run.pk}" data-status="succeeded"' in html


def test_the_patient_model_choices_are_only_endpoints_the_investigator_may_use(
    study_with_arm, alice, client
):
    from tests.factories import make_endpoint

    study, arm = study_with_arm
    make_endpoint("http://127.0.0.1:9/v1", name="another-teams-model")
    html = client.get(page(study)).content.decode()
    assert f'value="{arm.endpoint.name}"' in html
    assert "another-teams-model" not in html
    response = client.post(
        reverse("evaluations:start", args=[study.slug]),
        {"kind": "simulated", "arm": arm.key, "asked": "together",
         "patient_endpoint": "another-teams-model"},
    )  # fmt: skip
    assert response.status_code != 302
    assert not EvaluationRun.objects.filter(study=study).exists()


def test_the_start_form_says_which_kinds_each_field_serves():
    from studyapp.evaluations.forms import StartRunForm
    from studyapp.evaluations.kinds import STARTABLE_KINDS

    kinds = set(STARTABLE_KINDS)
    for name, served in StartRunForm.FIELD_KINDS.items():
        assert name in StartRunForm.base_fields, name
        assert set(served) <= kinds, (name, served)
