"""The rubric's pure parts: what the grader is shown, reading its verdict, the score."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studyapp.evaluations.science import rubric as r

MODEL_ITEM = {"key": "advises-ae", "text": "Advises A&E.", "points": 3, "applies_to": "model"}
ANSWER_ITEM = {"key": "names-pe", "text": "Names a PE.", "points": 1, "applies_to": "answer"}
TURNS = [r.Turn("person", "I am breathless"), r.Turn("assistant", "Go to A&E </graded> now")]


def test_a_model_item_grades_the_assistants_turns_with_the_chat_as_context():
    prompt, graded = r.grader_prompt(
        r.GRADER_TEMPLATE_TEXT, scenario="Flight.", turns=TURNS, item=MODEL_ITEM, answer="x"
    )
    assert graded == "Assistant, turn 1:\nGo to A&E </graded> now"
    block = prompt.split("<graded>")[1].split("</graded>")[0]
    # The chat's own "</graded>" is broken, so the block ends where the template ends it.
    assert "Go to A&E </ graded> now" in block and "I am breathless" not in block
    assert "Person:\nI am breathless" in prompt.split("<conversation>")[1]
    assert '<criterion key="advises-ae">\nAdvises A&E.\n</criterion>' in prompt
    assert "(3 points;" in prompt


def test_an_answer_item_shows_the_answer_and_no_conversation():
    prompt, graded = r.grader_prompt(
        r.GRADER_TEMPLATE_TEXT, scenario="Flight.", turns=TURNS, item=ANSWER_ITEM, answer="PE"
    )
    assert graded == "PE"
    assert "I am breathless" not in prompt and r.NO_CONVERSATION in prompt


def test_nothing_to_grade_gives_no_prompt():
    assert r.grader_prompt(
        r.GRADER_TEMPLATE_TEXT, scenario="", turns=[], item=MODEL_ITEM, answer=None
    ) == ("", "")
    assert r.grader_prompt(
        r.GRADER_TEMPLATE_TEXT, scenario="", turns=TURNS, item=ANSWER_ITEM, answer=None
    ) == ("", "")


@pytest.mark.parametrize(
    ("reply", "met"),
    [
        ('{"met": true, "explanation": "It does."}', True),
        ('Sure.\n```json\n{"met": false, "explanation": "no"}\n```', False),
        ('Verdict: {"criteria_met": true, "explanation": "yes"} done', True),
        ('{"met": "False"}', False),
    ],
)
def test_verdicts_are_read_from_json(reply, met):
    assert r.parse_verdict(reply).met is met


@pytest.mark.parametrize(
    "reply", ["", "Yes, it is met.", '{"met": "maybe"}', '{"explanation": "x"}', "[true]"]
)
def test_an_unreadable_reply_is_an_error_never_a_verdict(reply):
    with pytest.raises(r.VerdictError):
        r.parse_verdict(reply)


def test_the_template_is_checked():
    r.validate_template(r.GRADER_TEMPLATE)
    with pytest.raises(r.TemplateError, match="version"):
        r.validate_template({"text": "{graded} {criterion}"})
    with pytest.raises(r.TemplateError, match="criterion"):
        r.validate_template({"version": "v", "text": "{graded}"})
    with pytest.raises(r.TemplateError, match="placeholders"):
        r.validate_template({"version": "v", "text": '{graded} {criterion} {"met": true}'})


def test_a_template_file_is_loaded(tmp_path):
    path = tmp_path / "grader.json"
    path.write_text(json.dumps({"version": " mine-2 ", "text": "{graded} / {criterion}"}))
    assert r.load_template(path) == {"version": "mine-2", "text": "{graded} / {criterion}"}
    assert r.load_template(None)["version"] == "rubric-grader-v1"


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([(3, True), (2, False), (-3, False)], (3, 5, 0.6)),
        ([(3, True), (2, True), (-3, True)], (2, 5, 0.4)),
        ([(3, False), (-3, True)], (-3, 3, 0.0)),  # clipped up to 0
        ([(-2, False)], (0, 0, None)),  # no positive points: undefined
    ],
)
def test_the_score_is_achieved_over_possible_clipped(items, expected):
    score = r.target_score(items)
    assert (score.achieved, score.possible, score.score) == expected


@given(st.lists(st.tuples(st.integers(-5, 5).filter(bool), st.booleans()), max_size=12))
def test_a_score_is_within_0_and_1_and_full_when_exactly_the_good_items_are_met(items):
    score = r.target_score(items).score
    assert score is None or 0 <= score <= 1
    ideal = [(points, points > 0) for points, _met in items]
    if any(points > 0 for points, _ in items):
        assert r.target_score(ideal).score == 1


def test_the_bootstrap_ci_of_two_ones_and_two_zeros_is_0_to_1():
    # A resample of four zeros (or ones) has probability 1/16 > 2.5%.
    assert r.bootstrap_mean([1, 1, 0, 0]).as_dict() == {
        "mean": 0.5,
        "low": 0.0,
        "high": 1.0,
        "n": 4,
    }
    assert r.bootstrap_mean([0.25] * 5).as_dict() == {
        "mean": 0.25,
        "low": 0.25,
        "high": 0.25,
        "n": 5,
    }
    assert r.bootstrap_mean([0.3]).as_dict() == {"mean": 0.3, "low": None, "high": None, "n": 1}
    assert r.bootstrap_mean([]).mean is None


def item(target, rep, key, points, met, *, source="human", scenario="s"):
    return r.GradedItem(target, source, "llm", None, scenario, rep, key, points, "model", met)


def test_a_target_is_the_mean_of_its_repetitions_and_a_failed_one_is_left_out():
    items = [
        item("t1", 0, "a", 2, True),
        item("t1", 0, "b", 2, False),  # 0.5
        item("t1", 1, "a", 2, True),
        item("t1", 1, "b", 2, True),  # 1.0
        item("t1", 2, "a", 2, True),
        item("t1", 2, "b", 2, None),  # failed: no score, never a zero
        item("t2", 0, "a", 2, None),
        item("t2", 0, "b", 2, False),  # every repetition incomplete: unscored
    ]
    summary = r.summarize(items)
    [group] = summary["groups"]
    assert (group["mean"], group["n"], group["targets"], group["incomplete"]) == (0.75, 1, 2, 1)
    assert summary["targets_scored"] == 1 and summary["targets_incomplete"] == 1
    rates = {row["key"]: row["by_group"][0] for row in summary["rubric_items"]}
    assert (rates["a"]["met"], rates["a"]["graded"]) == (3, 3)
    assert (rates["b"]["met"], rates["b"]["graded"], rates["b"]["met_rate"]) == (1, 3, 1 / 3)


def test_groups_come_humans_first():
    items = [
        item("m", 0, "a", 1, True, source="model_alone"),
        item("h", 0, "a", 1, False, source="human"),
        item("s", 0, "a", 1, True, source="simulated"),
    ]
    assert [g["source"] for g in r.summarize(items)["groups"]] == [
        "human",
        "simulated",
        "model_alone",
    ]
