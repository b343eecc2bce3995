from __future__ import annotations

import pytest

from studyapp.participation.conditions import parse_conditions
from studyapp.participation.prolific import (
    BadEntryParameterError,
    ProlificParams,
    completion_url_with_code,
    parse_prolific_params,
)


def test_it_reads_prolific_parameters():
    params = parse_prolific_params(
        {"PROLIFIC_PID": "5f1a2b3c4d5e6f7a8b9c0d1e", "STUDY_ID": "s-1", "SESSION_ID": "x_2"}
    )
    assert params == ProlificParams("5f1a2b3c4d5e6f7a8b9c0d1e", "s-1", "x_2")


def test_it_treats_missing_and_empty_parameters_as_absent():
    assert parse_prolific_params({"PROLIFIC_PID": ""}) == ProlificParams()


@pytest.mark.parametrize("value", ["{{%PROLIFIC_PID%}}", "a b", "<script>", "x" * 65, "é", "a;b"])
def test_it_rejects_malformed_parameters_by_name(value):
    with pytest.raises(BadEntryParameterError) as info:
        parse_prolific_params({"STUDY_ID": "ok", "PROLIFIC_PID": value})
    assert info.value.name == "PROLIFIC_PID"


def test_it_splits_conditions_on_lines_commas_and_semicolons():
    text = "Appendicitis, ovarian torsion\n- ectopic pregnancy; \n\n2) UTI"
    assert parse_conditions(text) == [
        "Appendicitis",
        "ovarian torsion",
        "ectopic pregnancy",
        "UTI",
    ]


def test_it_finds_no_conditions_in_punctuation_only():
    assert parse_conditions(" ,; \n - ") == []


def test_it_adds_the_completion_code_to_a_bare_completion_url():
    url = completion_url_with_code("https://app.prolific.com/submissions/complete", "AB12")
    assert url == "https://app.prolific.com/submissions/complete?cc=AB12"


def test_the_outcome_code_replaces_a_code_already_in_the_completion_url():
    url = "https://app.prolific.com/submissions/complete?cc=XYZ"
    assert completion_url_with_code(url, "AB12") == (
        "https://app.prolific.com/submissions/complete?cc=AB12"
    )
    assert completion_url_with_code(url, "") == url
