"""Rubric runs on the evaluations pages: started from the form, their scores loaded beside
the raters' labels, every model's word escaped."""

from __future__ import annotations

import json

from django.urls import reverse

from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.services import StartRequest, evaluation_start
from studyapp.studies.models import Scenario

RUBRIC = [{"key": "advises-ae", "text": "Advises A&E.", "points": 2, "applies_to": "model"}]
MARKUP = "<script>alert('x')</script>"


def _model_alone(study, evaluator, capture) -> EvaluationRun:
    Scenario.objects.filter(study=study).update(rubric=RUBRIC)
    evaluator.configure(keyed_replies=[["(chest-pain)", f"1) A&E 2) advises-ae {MARKUP}"]])
    with capture(execute=True):
        run = evaluation_start(study=study, request=StartRequest(kind="model_alone", n=1))
    evaluator.configure(keyed_replies=[])
    return run


def test_an_investigator_starts_a_rubric_run_from_the_form(
    study_with_arm, alice, client, evaluator, fast_evaluations, django_capture_on_commit_callbacks
):
    study, arm = study_with_arm
    model_alone = _model_alone(study, evaluator, django_capture_on_commit_callbacks)
    form = client.get(reverse("evaluations:page", args=[study.slug])).content.decode()
    assert 'value="rubric"' in form and f'value="{model_alone.key}"' in form

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("evaluations:start", args=[study.slug]),
            {
                "kind": "rubric",
                "grader_endpoint": arm.endpoint.name,
                "source_runs": [model_alone.key],
                "asked": "together",
            },
        )

    assert response.status_code == 302
    run = EvaluationRun.objects.get(study=study, kind="rubric")
    assert run.status == "succeeded" and run.arm is None
    page = client.get(reverse("evaluations:page", args=[study.slug])).content.decode()
    # The scores load from the ratings app's fragment, beside the raters' labels.
    fragment = reverse("grader:results", args=[study.slug, run.pk])
    assert f'hx-get="{fragment}"' in page
    html = client.get(fragment, headers={"HX-Request": "true"}).content.decode()
    assert 'data-source="model_alone"' in html and "no rater labels yet" in html
    assert "1.000" in html  # chest-pain advised A&E; sore-knee has no rubric


def test_a_rubric_run_without_a_grader_is_refused_with_the_reason(study_with_arm, alice, client):
    study, _arm = study_with_arm
    response = client.post(
        reverse("evaluations:start", args=[study.slug]),
        {"kind": "rubric", "grade_humans": "on", "asked": "together"},
    )
    assert response.status_code == 400
    assert "a rubric run needs a grader endpoint" in response.content.decode()
    assert not EvaluationRun.objects.filter(kind="rubric").exists()


def test_other_kinds_still_need_an_arm(study_with_arm, alice, client):
    study, _arm = study_with_arm
    response = client.post(
        reverse("evaluations:start", args=[study.slug]),
        {"kind": "model_alone", "asked": "together"},
    )
    assert response.status_code == 400
    assert "Choose the arm whose model to evaluate." in response.content.decode()


def test_the_run_page_escapes_the_graders_explanation(
    study_with_arm, alice, client, evaluator, fast_evaluations, django_capture_on_commit_callbacks
):
    study, arm = study_with_arm
    model_alone = _model_alone(study, evaluator, django_capture_on_commit_callbacks)
    reply = json.dumps({"met": True, "explanation": f"It says {MARKUP}"})
    evaluator.configure(keyed_replies=[["advises-ae", reply]])
    with django_capture_on_commit_callbacks(execute=True):
        run = evaluation_start(
            study=study,
            request=StartRequest(
                kind="rubric", grader_endpoint=arm.endpoint.name, source_runs=[model_alone.key]
            ),
        )

    html = client.get(reverse("evaluations:run_detail", args=[study.slug, run.pk])).content
    assert MARKUP.encode() not in html
    assert b"It says &lt;script&gt;" in html
    assert reverse("grader:results", args=[study.slug, run.pk]).encode() in html
