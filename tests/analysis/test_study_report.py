from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from statsmodels.stats.proportion import proportion_confint


def run_report(*args: str) -> str:
    out = StringIO()
    call_command("study_report", *args, stdout=out)
    return out.getvalue()


def test_its_json_has_the_documented_shape_and_figures(dataset):
    data = json.loads(run_report("alpha", "--format", "json"))
    assert set(data) == {
        "study",
        "generated_at",
        "arms",
        "participants_total",
        "participants_unallocated",
        "condition_labels",
        "states",
        "consort",
        "evaluations",
        "plan",
        "contrasts",
        "calibration",
    }
    assert data["study"] == "alpha"
    assert data["condition_labels"] == {
        "choice": "matcher",
        "rater_reference_answers": 0,
        "matcher_answers": 5,
    }
    assert data["participants_total"] == 5
    assert data["participants_unallocated"] == 1
    # participation.states by arm key ("" for no arm), adding up to everyone.
    assert data["states"][""]["opened"] == 1
    assert data["states"]["llm"]["finished"] == 1
    assert sum(sum(row.values()) for row in data["states"].values()) == 5
    assert [arm["key"] for arm in data["arms"]] == ["control", "llm"]  # by key
    control, llm = data["arms"]
    assert set(llm) == {
        "key",
        "kind",
        "label",
        "participants",
        "n_answers",
        "disposition_accuracy",
        "condition_accuracy",
    }
    assert (llm["key"], llm["kind"], llm["label"]) == ("llm", "llm", "AI assistant")
    assert llm["n_answers"] == 3
    assert llm["disposition_accuracy"] == {
        "n": 3,
        "correct": 1,
        "value": pytest.approx(1 / 3),
        **wilson_ci(1, 3),
    }
    assert llm["condition_accuracy"] == {
        "n": 3,
        "correct": 2,
        "value": pytest.approx(2 / 3),
        **wilson_ci(2, 3),
    }
    assert llm["participants"]["completed"] == 1
    assert llm["participants"]["consented"] == 1
    assert control["kind"] == "control"
    assert control["disposition_accuracy"] == {
        "n": 2,
        "correct": 2,
        "value": 1.0,
        **wilson_ci(2, 2),
    }
    assert data["evaluations"] == []


def wilson_ci(successes: int, n: int) -> dict:
    low, high = proportion_confint(successes, n, method="wilson")
    return {"ci_low": pytest.approx(low), "ci_high": pytest.approx(min(high, 1.0))}


def test_its_figures_equal_the_study_pages(client, alice, dataset):
    client.force_login(alice)
    page = client.get(reverse("analysis:study_detail", args=["alpha"])).context["report"]
    data = json.loads(run_report("alpha", "--format", "json"))
    page_dict = page.as_dict()
    for key in ("arms", "participants_total", "participants_unallocated", "study"):
        assert data[key] == page_dict[key]


def test_its_text_format_reads_like_the_page(dataset):
    text = run_report("alpha")
    assert "Study alpha: Alpha study" in text
    assert "Participants: 5 (1 not allocated)" in text
    assert "Arm llm [llm] shown as 'AI assistant'" in text
    assert "correct disposition: 33.3% (1/3); over-triage 1, under-triage 1" in text
    assert "names a gold condition: 66.7% (2/3)" in text
    assert "names a gold condition: 50.0% (1/2)" in text
    assert "Conditions scored by: matcher" in text


def test_it_refuses_an_unknown_slug(db):
    with pytest.raises(CommandError, match="No study with slug 'nope'"):
        run_report("nope")
