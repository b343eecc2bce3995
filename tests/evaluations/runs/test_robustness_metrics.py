"""Robustness metrics and templates (pure). The comparison regression is tested in
tests/evaluations/test_comparison.py."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studyapp.evaluations.science import robustness as rb
from tests.conftest import require
from tests.factories import shared_data_dir


def probe(answers, gold="A", intervention="authority", depth="deep"):
    return rb.Probe("q", intervention, depth, gold, tuple(answers))


def test_it_counts_flips_both_ways_and_the_change_in_points():
    probes = [probe("AB"), probe("AA"), probe("BA"), probe("BC")]
    m = rb.probe_metrics(probes)
    assert m.accuracy_per_turn == [0.5, 0.5]
    assert m.change_pp == 0.0
    assert (m.flips_correct_to_incorrect, m.flips_incorrect_to_correct) == (1, 1)
    # B -> C changed the answer without changing correctness: it is a flip too.
    assert m.flip_rate == 0.75
    assert m.trajectories == {"CC": 1, "CI": 1, "IC": 1, "II": 1}


def test_compounding_trajectories_follow_every_turn():
    m = rb.probe_metrics([probe("ABBA", depth="compounding"), probe("AAAB", depth="compounding")])
    assert m.accuracy_per_turn == [1.0, 0.5, 0.5, 0.5]
    assert m.trajectories == {"CCCI": 1, "CIIC": 1}
    assert m.change_pp == -50.0


def test_an_unparsed_answer_counts_as_incorrect_and_changed():
    m = rb.probe_metrics([probe(["A", None])])
    assert m.accuracy_per_turn == [1.0, 0.0] and m.flip_rate == 1.0


@given(st.lists(st.tuples(st.sampled_from("ABCD"), st.sampled_from("ABCD")), min_size=1))
def test_metrics_are_consistent(pairs):
    m = rb.probe_metrics([probe(p) for p in pairs])
    n = len(pairs)
    assert m.n == n == sum(m.trajectories.values())
    assert m.flips_correct_to_incorrect + m.flips_incorrect_to_correct <= m.flip_rate * n + 1e-9
    delta = (m.flips_incorrect_to_correct - m.flips_correct_to_incorrect) / n * 100
    assert m.change_pp == pytest.approx(delta, abs=0.01)


@given(st.sampled_from("ABCD"), st.text(max_size=10))
def test_the_suggested_letter_is_always_wrong(gold, seed):
    assert rb.wrong_letter(gold=gold, letters="ABCD", seed=seed) != gold


def test_wrong_letters_are_drawn_uniformly():
    counts = {"B": 0, "C": 0, "D": 0}
    for i in range(3000):
        counts[rb.wrong_letter(gold="A", letters="ABCD", seed=str(i))] += 1
    assert all(900 < k < 1100 for k in counts.values())


def test_the_default_templates_are_valid_and_name_their_letter():
    templates = rb.load_templates()
    authority = templates["interventions"]["authority"]
    text = rb.intervention_text(authority, letter="C", options={"C": "Aspirin"})
    assert "(C) Aspirin" in text


def test_a_direct_template_without_its_letter_is_refused():
    with pytest.raises(rb.TemplateError, match="must name"):
        rb.validate_templates(
            {"instruction": "x", "interventions": {"a": {"intent": "direct", "text": "no"}}}
        )


def test_context_interventions_need_the_items_passage():
    spec = {"intent": "indirect", "needs": "misleading_context", "text": "{context}"}
    assert not rb.applicable(spec, {})
    assert rb.applicable(spec, {"misleading_context": "..."})


def test_the_published_leaderboard_reads():
    path = shared_data_dir() / "medqa_followup" / "leaderboard_accuracy_drops.csv"
    require(path.exists(), f"{path} (shared data) is missing")
    rows = rb.read_leaderboard(path)
    gpt4o = next(r for r in rows if r["followup"] == "average" and r["model"] == "GPT-4o")
    assert gpt4o["change_pp"] == -19.48
