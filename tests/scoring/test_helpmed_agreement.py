"""Our matcher against HELPMed's own labels on their 1,800 model-alone answers.

direct_trials_condition.csv holds, per answer, the raw model text, the conditions part
HELPMed extracted from it, and HELPMed's counts of matched differential terms and red
flags. Every count and every correct flag must agree, and so must the extraction.

HELPMed counts list entries: its scenario-489603 lists hold "appendicitis" twice, and an
answer naming it counts 2. `matched_conditions` returns each gold term once, so the count
compared here is the number of gold-list entries among the matched terms.
"""

from __future__ import annotations

import ast
import csv
from collections import defaultdict

import pytest

from studyapp.scoring.conditions import conditions_part, matched_conditions
from tests.conftest import require
from tests.factories import shared_data_dir


@pytest.fixture(scope="module")
def helpmed_rows() -> list[dict]:
    path = shared_data_dir() / "helpmed" / "direct_trials_condition.csv"
    require(path.exists(), f"HELPMed data not found at {path}")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1800
    for row in rows:
        for column in ("full_differential", "red_flags"):
            terms = ast.literal_eval(row[column])
            # Scored from the raw answer: the two-part rule must find HELPMed's text.
            matched = set(matched_conditions(row["model_text"], terms, two_part=True))
            row[f"ours_{column}"] = sum(term in matched for term in terms)
    return rows


def _disagreements(rows: list[dict], column: str, count: str, flag: str) -> list[tuple]:
    return [
        (row[""], row[f"ours_{column}"], row[count], row[flag])
        for row in rows
        if (row[f"ours_{column}"], row[f"ours_{column}"] > 0)
        != (int(row[count]), row[flag] == "True")
    ]


def test_it_agrees_with_helpmed_on_every_differential_label(helpmed_rows):
    assert (
        _disagreements(
            helpmed_rows, "full_differential", "differential_correct_count", "differential_correct"
        )
        == []
    )


def test_it_agrees_with_helpmed_on_every_red_flag_label(helpmed_rows):
    assert (
        _disagreements(helpmed_rows, "red_flags", "red_flag_correct_count", "red_flag_correct")
        == []
    )


def test_the_two_part_rule_extracts_helpmeds_conditions_text(helpmed_rows):
    differing = [
        row[""] for row in helpmed_rows if conditions_part(row["model_text"]) != row["conditions"]
    ]
    assert differing == []


def test_scoring_raw_answers_reproduces_the_published_model_alone_accuracy(helpmed_rows):
    correct: dict[str, list[bool]] = defaultdict(list)
    for row in helpmed_rows:
        correct[row["model"]].append(row["ours_full_differential"] > 0)
    accuracy = {model: round(sum(v) / len(v), 4) for model, v in correct.items()}
    # Bean et al.: GPT-4o 94.7%, Llama 3 70B 99.2%, Command R+ 90.8% (model alone).
    assert accuracy == {"GPT 4o": 0.9467, "Llama 3 70B": 0.9917, "Command R+": 0.9083}
