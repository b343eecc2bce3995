"""Prices: a run keeps its endpoints' prices from its start; the cost column uses them."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.urls import reverse

from studyapp.chat.models import Message
from studyapp.evaluations.runtime.runner import evaluation_run_inline
from studyapp.evaluations.selectors import run_summary, run_tokens
from studyapp.evaluations.services import StartRequest, evaluation_start
from tests.factories import make_endpoint, make_member, make_user

FINAL = ["The conversation is over", "1) A&E 2) I think it is appendicitis."]


def set_prices(endpoint, prompt: str | None, completion: str | None) -> None:
    endpoint.price_prompt_per_million = None if prompt is None else Decimal(prompt)
    endpoint.price_completion_per_million = None if completion is None else Decimal(completion)
    endpoint.full_clean()
    endpoint.save()


def priced(tokens: dict, prompt: float, completion: float) -> float:
    return round(
        tokens["prompt_tokens"] * prompt / 1e6 + tokens["completion_tokens"] * completion / 1e6, 4
    )


def cost_cell(html: str, key: str) -> str:
    """The last cell of the run's row in the tokens table."""
    row = html.split(f'<th scope="row">{key}</th>', 1)[1].split("</tr>", 1)[0]
    return re.findall(r'<td class="num">([^<]*)</td>', row)[-1]


def start_and_run(study, request: StartRequest):
    run = evaluation_start(study=study, request=request, enqueue=False)
    return evaluation_run_inline(run_id=run.pk)


def test_a_run_keeps_the_prices_it_started_with(study_with_arm, fast_evaluations):
    study, arm = study_with_arm
    set_prices(arm.endpoint, "2500", "10000")

    run = start_and_run(study, StartRequest(kind="model_alone", n=2))
    assert run.config["price_per_million"] == {"prompt": 2500.0, "completion": 10000.0}
    tokens = run_tokens(run=run)
    expected = priced(tokens, 2500, 10000)
    assert tokens["completion_tokens"] > 0 and tokens["cost"] == expected > 0

    # A new price applies to new runs only: this run's cost is history.
    set_prices(arm.endpoint, "1", "1")
    run.refresh_from_db()
    assert run_tokens(run=run)["cost"] == expected


def test_a_given_price_overrides_the_endpoints_price_of_the_same_kind(study_with_arm):
    study, arm = study_with_arm
    set_prices(arm.endpoint, "2.5", "10")
    run = evaluation_start(
        study=study,
        request=StartRequest(kind="model_alone", price_per_million={"completion": 20.0}),
        enqueue=False,
    )
    assert run.config["price_per_million"] == {"prompt": 2.5, "completion": 20.0}


def test_an_endpoint_without_prices_gives_no_cost(study_with_arm, fast_evaluations):
    study, _arm = study_with_arm
    run = start_and_run(study, StartRequest(kind="model_alone"))
    assert run.config["price_per_million"] == {}
    tokens = run_tokens(run=run)
    assert tokens["prompt_tokens"] > 0 and tokens["cost"] is None


def arm_reply_tokens(run) -> dict[str, int]:
    """The arm's tokens, read from the stored chat messages (not from the items)."""
    totals = Message.objects.filter(
        conversation__task__participant__study=run.study,
        conversation__task__participant__is_simulated=True,
        role=Message.Role.ASSISTANT,
    ).aggregate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
    return {"prompt_tokens": totals["prompt"], "completion_tokens": totals["completion"]}


@pytest.mark.django_db(transaction=True)
def test_a_simulated_runs_patient_is_priced_at_its_own_endpoints_prices(
    study_with_arm, patient_server, fast_evaluations
):
    study, arm = study_with_arm
    patient_server.reset()
    patient_server.configure(keyed_replies=[FINAL])
    set_prices(arm.endpoint, "1000", "2000")
    set_prices(make_endpoint(patient_server.base_url, name="patient-model"), "10", None)

    run = start_and_run(study, StartRequest(kind="simulated", patient_endpoint="patient-model"))

    assert run.status == "succeeded"
    assert run.config["patient_price_per_million"] == {"prompt": 10.0}
    tokens = run_tokens(run=run)
    arm_tokens = arm_reply_tokens(run)
    patient = {
        "prompt_tokens": tokens["prompt_tokens"] - arm_tokens["prompt_tokens"],
        "completion_tokens": tokens["completion_tokens"] - arm_tokens["completion_tokens"],
    }
    assert patient["prompt_tokens"] > 0 and patient["completion_tokens"] > 0
    assert tokens["patient_prompt_tokens"] == patient["prompt_tokens"]
    assert tokens["patient_completion_tokens"] == patient["completion_tokens"]
    # The patient's completion tokens have no price: they cost nothing here.
    expected = priced(arm_tokens, 1000, 2000) + priced(patient, 10, 0)
    assert tokens["cost"] == pytest.approx(expected, abs=2e-4)


@pytest.mark.django_db(transaction=True)
def test_an_arm_that_plays_its_own_patient_prices_both_alike(study_with_arm, fast_evaluations):
    study, arm = study_with_arm
    set_prices(arm.endpoint, "1000", "2000")
    run = start_and_run(
        study, StartRequest(kind="simulated", price_per_million={"prompt": 3000.0})
    )
    prices = {"prompt": 3000.0, "completion": 2000.0}
    assert run.config["price_per_million"] == run.config["patient_price_per_million"] == prices
    tokens = run_tokens(run=run)
    assert tokens["patient_prompt_tokens"] > 0
    assert tokens["cost"] == pytest.approx(priced(tokens, 3000, 2000), abs=2e-4)


def test_the_json_report_and_the_page_show_the_cost(
    study_with_arm, fast_evaluations, client, capsys
):
    study, arm = study_with_arm
    set_prices(arm.endpoint, "1000", "2000")
    priced_run = start_and_run(study, StartRequest(kind="model_alone"))
    set_prices(arm.endpoint, "0", "0")
    free_run = start_and_run(study, StartRequest(kind="model_alone", n=2))
    set_prices(arm.endpoint, None, None)
    unpriced_run = start_and_run(study, StartRequest(kind="model_alone", n=3))
    cost = run_summary(run=priced_run)["tokens"]["cost"]

    call_command("study_report", study.slug, "--format", "json")
    report = json.loads(capsys.readouterr().out)
    results = {e["key"]: e["results"]["tokens"] for e in report["evaluations"]}
    assert results[priced_run.key]["cost"] == cost > 0
    assert results[priced_run.key]["price_per_million"] == {"prompt": 1000, "completion": 2000}
    assert results[free_run.key]["cost"] == 0
    assert results[unpriced_run.key]["cost"] is None

    alice = make_user("alice")
    make_member(study, alice)
    client.force_login(alice)
    html = client.get(reverse("evaluations:page", args=[study.slug])).content.decode()
    assert cost_cell(html, priced_run.key) == f"{cost:.4f}"
    assert cost_cell(html, free_run.key) == "0.0000"
    assert cost_cell(html, unpriced_run.key) == "—"
