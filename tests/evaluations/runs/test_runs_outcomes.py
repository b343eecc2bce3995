"""A model-alone run gets the participants' outcomes, with scenario-cluster CIs, in its
summary (run_evaluation --json, study_report), on its page and on the evaluations page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.analysis.inference import cluster_bootstrap_ci
from studyapp.evaluations.selectors import run_summary, scenario_run_outcomes
from studyapp.evaluations.services import StartRequest, evaluation_start
from tests.evaluations.runs.test_runs_model_alone import KNOWN
from tests.factories import make_endpoint


def start(study, django_capture_on_commit_callbacks, **kwargs):
    with django_capture_on_commit_callbacks(execute=True):
        return evaluation_start(study=study, request=StartRequest(kind="model_alone", **kwargs))


def test_a_model_alone_run_reports_the_participants_outcomes(
    study_with_arm, evaluator, fast_evaluations, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    evaluator.configure(keyed_replies=KNOWN)
    run = start(study, django_capture_on_commit_callbacks, n=3, seed=5)

    outcomes = run_summary(run=run)["outcomes"]
    rates = outcomes["rates"]
    # chest-pain (gold A&E): A&E, appendicitis named, the red flag (fever) not named;
    # sore-knee (gold Routine GP): Self-care, a wrong condition.
    assert {key: (r["k"], r["n"]) for key, r in rates.items()} == {
        "disposition_exact": (3, 6),
        "over_triage": (0, 6),
        "under_triage": (3, 6),
        "conditions_correct": (3, 6),
        "red_flag": (0, 6),
    }
    exact = rates["disposition_exact"]
    values = [1.0] * 3 + [0.0] * 3
    scenarios = ["chest-pain"] * 3 + ["sore-knee"] * 3
    expected = cluster_bootstrap_ci(values, scenarios, n_boot=2000, seed=5)
    assert (exact["ci_low"], exact["ci_high"]) == expected
    assert outcomes["bootstrap"] | {"method": ""} == {
        "method": "",
        "cluster": "scenario",
        "n_boot": 2000,
        "seed": 5,
        "level": 0.95,
    }
    confusion = outcomes["confusion"]
    row = {r["level"]: r["counts"] for r in confusion["rows"]}
    column = confusion["columns"].index
    assert row["ae"][column("ae")] == 3
    assert row["routine_gp"][column("self_care")] == 3
    assert sum(map(sum, confusion["counts"])) == 6


def test_the_cached_outcomes_follow_a_rescored_item(
    study_with_arm, evaluator, fast_evaluations, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    evaluator.configure(keyed_replies=KNOWN)
    run = start(study, django_capture_on_commit_callbacks, n=2)
    before = scenario_run_outcomes(run=run)["rates"]["disposition_exact"]
    assert scenario_run_outcomes(run=run)["rates"]["disposition_exact"] == before

    knee = run.items.filter(item_key="sore-knee").first()
    knee.correct, knee.disposition_outcome = True, "exact"
    knee.save(update_fields=["correct", "disposition_outcome"])

    after = scenario_run_outcomes(run=run)["rates"]["disposition_exact"]
    assert (before["k"], after["k"]) == (2, 3)


def test_the_run_page_and_the_evaluations_page_show_the_outcomes(
    study_with_arm, alice, client, evaluator, fast_evaluations, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    evaluator.configure(keyed_replies=KNOWN)
    run = start(study, django_capture_on_commit_callbacks, n=3)

    detail = client.get(reverse("evaluations:run_detail", args=[study.slug, run.pk]))
    html = detail.content.decode()
    assert 'data-outcome="under_triage"' in html and "3 / 6" in html
    assert "2000 resamples, seed 0" in html
    assert 'class="confusion"' in html

    page = client.get(reverse("evaluations:page", args=[study.slug])).content.decode()
    assert f'class="run-outcomes" data-run="{run.key}"' in page
    assert "Red flag named" in page
    # Model-alone cells only: no simulated-vs-human fit, and the page says why.
    assert "no fit: needs at least 3 cells with humans and simulated participants" in page


@pytest.mark.django_db(transaction=True)
def test_a_simulated_run_reports_the_same_outcomes(
    study_with_arm, evaluator, patient_server, fast_evaluations, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    patient_server.reset()
    # Every patient answers A&E and appendicitis, whatever its scenario.
    patient_server.configure(
        keyed_replies=[["The conversation is over", "1) A&E 2) I think it is appendicitis."]]
    )
    make_endpoint(patient_server.base_url, name="patient-model")
    with django_capture_on_commit_callbacks(execute=True):
        run = evaluation_start(
            study=study,
            request=StartRequest(kind="simulated", n=2, patient_endpoint="patient-model"),
        )

    outcomes = run_summary(run=run)["outcomes"]
    assert {key: (r["k"], r["n"]) for key, r in outcomes["rates"].items()} == {
        "disposition_exact": (2, 4),
        "over_triage": (2, 4),
        "under_triage": (0, 4),
        "conditions_correct": (2, 4),
        "red_flag": (0, 4),
    }
    row = {r["level"]: r["counts"] for r in outcomes["confusion"]["rows"]}
    assert row["routine_gp"][outcomes["confusion"]["columns"].index("ae")] == 2
