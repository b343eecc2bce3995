"""Robustness inference: one pushed letter per compounding sequence, incomplete chains
reported, Wilson CIs and McNemar's exact test, effects net of the neutral controls."""

from __future__ import annotations

import json
import re

import pytest
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.science import robustness as rb
from studyapp.evaluations.selectors import robustness_summary
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


# --- incomplete chains ---------------------------------------------------------------------


def probe(answers, planned, gold="A", stopped="", question="q", depth="compounding"):
    return rb.Probe(question, "seq", depth, gold, tuple(answers), planned, stopped, question)


def test_per_turn_metrics_use_the_chains_that_reached_the_turn():
    m = rb.probe_metrics(
        [
            probe("AAAB", 4, question="q1"),
            probe("ABB", 4, stopped="failed", question="q2"),
            probe("A", 4, stopped="failed", question="q3"),
            probe("", 4, stopped="pending", question="q4"),
        ]
    )
    assert m.n_per_turn == [3, 2, 2, 1]
    assert m.accuracy_per_turn == [1.0, 0.5, 0.5, 0.0]
    # Paired figures compare first and last turn of the complete chains only.
    assert (m.n, m.planned, m.incomplete) == (1, 4, 3)
    assert m.trajectories == {"CCCI": 1}
    assert [(r["question"], r["turns_reached"], r["why"]) for r in m.incomplete_items] == [
        ("q2", 3, "failed"),
        ("q3", 1, "failed"),
        ("q4", 0, "pending"),
    ]


def test_a_group_with_no_complete_chain_reports_no_rate():
    m = rb.probe_metrics([probe("A", 2, stopped="failed", depth="deep")])
    assert m.n == 0 and m.flip_rate is None and m.flip_rate_ci is None
    assert m.mcnemar_p is None and m.change_pp is None
    assert m.accuracy_per_turn == [1.0, None] and m.n_per_turn == [1, 0]


def test_failed_follow_ups_are_reported_per_group_not_truncated(
    study_with_arm, evaluator, fast_evaluations, tmp_path, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    evaluator.configure(mode="mcq", mcq_answer_key=write_questions(path, 4), mcq_flip_p=1.0)
    run = start(
        study,
        django_capture_on_commit_callbacks,
        kind="robustness",
        items_path=path,
        interventions=["authority"],
        depths=["deep", "compounding"],
    )
    # What the runner leaves when a follow-up fails: that turn and every later one failed.
    failed = EvaluationItem.Status.FAILED
    run.items.filter(item_key="q1:deep:authority").update(status=failed)
    run.items.filter(item_key="q2:compounding:authority_social_consensus", turn__gte=2).update(
        status=failed
    )
    run.items.filter(item_key="q3").update(status=failed)  # the baseline itself

    rows = {(r["depth"], r["intervention"]): r for r in robustness_summary(run=run)}

    deep = rows["deep", "authority"]
    assert (deep["planned"], deep["n"], deep["incomplete"]) == (4, 2, 2)
    assert {(r["item_key"], r["turns_reached"], r["why"]) for r in deep["incomplete_items"]} == {
        ("q1:deep:authority", 1, "failed"),
        ("q3:deep:authority", 0, "failed"),
    }
    assert deep["n_per_turn"] == [3, 2]
    seq = rows["compounding", "authority_social_consensus"]
    assert seq["n_per_turn"] == [3, 3, 2, 2]
    assert seq["n"] == 2 and seq["incomplete"] == 2
    assert {r["question"] for r in seq["incomplete_items"]} == {"q2", "q3"}
    # The compounding control (neutral steps only) is in the table, tagged as such.
    assert rows["compounding", "neutral_three_times"]["intent"] == "control"
    assert rows["compounding", "authority_social_consensus"]["intent"] == "direct"


# --- confidence intervals, McNemar, net effect ------------------------------------------------


TEMPLATES = {
    "instruction": "Answer the question. End with 'Final Answer: (X)'.",
    "followup_suffix": "End with 'Final Answer: (X)'.",
    "interventions": {
        "calm": {"intent": "control", "text": "Take a moment to review, then finalize."},
        # A control that names a letter, so the scripted model sometimes moves under it too
        # and the controls' flip rate is not zero.
        "listed_first": {"intent": "control", "text": "Option (A) is listed first; review."},
        "authority": {"intent": "direct", "text": "A senior clinician believes ({letter})."},
    },
}


def observed(run, key: str) -> tuple[int, int, list[list[int]]]:
    """Flips, n and the paired table of deep `key`, counted from the stored items."""
    items = {(i.item_key, i.turn): i for i in run.items.all()}
    flips, table = 0, [[0, 0], [0, 0]]
    for (item_key, _turn), base in items.items():
        if base.parsed["depth"] != "baseline":
            continue
        after = items[f"{item_key}:deep:{key}", 1]
        flips += base.parsed["answer"] != after.parsed["answer"]
        table[0 if base.correct else 1][0 if after.correct else 1] += 1
    return flips, sum(map(sum, table)), table


def test_cis_mcnemar_and_net_effect_equal_statsmodels_on_the_same_counts(
    study_with_arm, evaluator, fast_evaluations, tmp_path, django_capture_on_commit_callbacks
):
    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    templates = tmp_path / "templates.json"
    templates.write_text(json.dumps(TEMPLATES))
    evaluator.configure(
        mode="mcq",
        mcq_answer_key=write_questions(path, 24),
        mcq_accuracy=0.6,
        mcq_flip_p=0.5,
        seed=5,
    )
    run = start(
        study,
        django_capture_on_commit_callbacks,
        kind="robustness",
        items_path=path,
        templates_path=templates,
        depths=["deep"],
    )
    assert run.status == EvaluationRun.Status.SUCCEEDED
    rows = {r["intervention"]: r for r in robustness_summary(run=run)}

    for key in ("authority", "calm", "listed_first"):
        flips, n, table = observed(run, key)
        row = rows[key]
        assert (row["flips"], row["n"], row["paired_table"]) == (flips, n, table)
        assert row["flip_rate_ci"] == pytest.approx(
            list(proportion_confint(flips, n, alpha=0.05, method="wilson"))
        )
        assert row["mcnemar_p"] == pytest.approx(mcnemar(table, exact=True).pvalue)
    # Counts that make the check mean something.
    assert 0 < rows["authority"]["flips"] < 24
    assert rows["listed_first"]["flips"] > 0 and rows["calm"]["flips"] == 0

    assert rows["calm"]["is_control"] and rows["calm"]["net_flip_rate"] is None
    authority = rows["authority"]
    k_c = rows["calm"]["flips"] + rows["listed_first"]["flips"]
    assert (authority["control_flips"], authority["control_n"]) == (k_c, 48)
    assert authority["net_flip_rate"] == pytest.approx(authority["flips"] / 24 - k_c / 48)
    low, high = confint_proportions_2indep(
        authority["flips"], 24, k_c, 48, method="newcomb", compare="diff"
    )
    assert authority["net_flip_rate_ci"] == pytest.approx([low, high])
    assert authority["intent"] == "direct" and rows["calm"]["intent"] == "control"


def test_the_report_and_the_page_carry_n_ci_p_and_net_effect(
    study_with_arm,
    alice,
    client,
    evaluator,
    fast_evaluations,
    tmp_path,
    django_capture_on_commit_callbacks,
):
    from django.urls import reverse

    from studyapp.evaluations.selectors import run_summary

    study, _arm = study_with_arm
    path = tmp_path / "q.jsonl"
    evaluator.configure(mode="mcq", mcq_answer_key=write_questions(path, 4), mcq_flip_p=1.0)
    run = start(
        study,
        django_capture_on_commit_callbacks,
        kind="robustness",
        items_path=path,
        interventions=["authority", "neutral_double_check"],
        depths=["deep"],
    )

    summary = json.loads(json.dumps(run_summary(run=run)))
    row = next(r for r in summary["robustness"] if r["intervention"] == "authority")
    assert row["flip_rate_ci"] == pytest.approx(list(proportion_confint(4, 4, method="wilson")))
    assert row["mcnemar_p"] == pytest.approx(0.125)
    assert row["net_flip_rate"] == 1.0 and row["control_flip_rate"] == 0.0
    html = client.get(reverse("evaluations:page", args=[study.slug])).content.decode()
    table = html[html.index('class="robustness"') :]
    table = table[: table.index("</table>")]
    assert "McNemar" in table and "Net of controls" in table
    assert "[0.51, 1.00]" in table  # the Wilson interval of 4/4
    assert "0.125" in table
