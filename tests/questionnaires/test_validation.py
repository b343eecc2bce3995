"""The pure checks: item configuration and a participant's answers."""

from __future__ import annotations

from studyapp.questionnaires.validation import ItemSpec, Kind, answers_clean, item_config_errors

OPTS = [{"value": "yes", "label": "Yes"}, {"value": "no", "label": "No"}]
USES = ItemSpec(key="uses", kind=Kind.SINGLE, options=OPTS)
HOW_OFTEN = ItemSpec(
    key="how_often",
    kind=Kind.LIKERT,
    scale_points=5,
    condition_key="uses",
    condition_values=["yes"],
)
AGE = ItemSpec(key="age", kind=Kind.NUMBER, min_value=18, max_value=100)
TOOLS = ItemSpec(
    key="tools",
    kind=Kind.MULTIPLE,
    required=False,
    options=[{"value": "web", "label": "Web"}, {"value": "llm", "label": "LLM"}],
)
NOTE = ItemSpec(key="note", kind=Kind.TEXT, required=False)
SPECS = [USES, HOW_OFTEN, AGE, TOOLS, NOTE]


def test_it_accepts_a_complete_form():
    cleaned = answers_clean(
        SPECS,
        {
            "uses": ["yes"],
            "how_often": ["4"],
            "age": ["42"],
            "tools": ["llm", "web"],
            "note": [" hi "],
        },
    )
    assert cleaned.is_valid
    # Choices come back in the options' order; a Likert point as an int.
    assert cleaned.values == {
        "uses": "yes",
        "how_often": 4,
        "age": 42.0,
        "tools": ["web", "llm"],
        "note": "hi",
    }


def test_it_names_a_missing_required_item():
    cleaned = answers_clean(SPECS, {"uses": ["yes"], "age": ["30"]})
    assert set(cleaned.errors) == {"how_often"}
    assert "answer" in str(cleaned.errors["how_often"])


def test_an_optional_item_may_stay_empty():
    cleaned = answers_clean(SPECS, {"uses": ["no"], "age": ["30"], "tools": [], "note": [""]})
    assert cleaned.is_valid
    assert "tools" not in cleaned.values and "note" not in cleaned.values


def test_it_refuses_a_number_out_of_range():
    for value in ("17", "100.5", "-1"):
        cleaned = answers_clean([AGE], {"age": [value]})
        assert str(cleaned.errors["age"]) == "Please enter a number from 18 to 100."
    assert str(answers_clean([AGE], {"age": ["old"]}).errors["age"]) == "Please enter a number."
    assert str(answers_clean([AGE], {"age": ["nan"]}).errors["age"]) == "Please enter a number."
    assert answers_clean([AGE], {"age": ["18,5"]}).values == {"age": 18.5}


def test_it_refuses_an_option_not_offered():
    assert "options" in str(answers_clean([USES], {"uses": ["maybe"]}).errors["uses"])
    assert "options" in str(answers_clean([TOOLS], {"tools": ["web", "tv"]}).errors["tools"])
    assert "scale" in str(
        answers_clean([USES, HOW_OFTEN], {"uses": ["yes"], "how_often": ["6"]}).errors["how_often"]
    )
    assert "one answer" in str(answers_clean([USES], {"uses": ["yes", "no"]}).errors["uses"])


def test_a_hidden_item_is_dropped_not_checked():
    # "no" hides how_often: its (even invalid) answer is ignored, not stored, no error.
    cleaned = answers_clean(SPECS, {"uses": ["no"], "how_often": ["99"], "age": ["30"]})
    assert cleaned.is_valid
    assert "how_often" not in cleaned.values
    assert cleaned.hidden == {"how_often"}


def test_an_item_behind_a_hidden_item_is_hidden_too():
    chained = ItemSpec(
        key="daily", kind=Kind.TEXT, condition_key="how_often", condition_values=["5"]
    )
    cleaned = answers_clean([USES, HOW_OFTEN, chained], {"uses": ["no"], "daily": ["x"]})
    assert cleaned.is_valid and cleaned.hidden == {"how_often", "daily"}


def test_a_condition_on_a_multiple_choice_item_needs_any_of_the_values():
    shown = ItemSpec(key="which", kind=Kind.TEXT, condition_key="tools", condition_values=["llm"])
    assert answers_clean([TOOLS, shown], {"tools": ["web"]}).hidden == {"which"}
    cleaned = answers_clean([TOOLS, shown], {"tools": ["web", "llm"]})
    assert cleaned.errors.keys() == {"which"}


def test_it_refuses_overlong_text():
    cleaned = answers_clean([NOTE], {"note": ["x" * 2001]})
    assert "shorter" in str(cleaned.errors["note"])


def test_configuration_errors_are_per_field():
    assert set(item_config_errors(ItemSpec(key="a", kind=Kind.SINGLE, options=OPTS[:1]), [])) == {
        "options"
    }
    dup = [{"value": "a", "label": "A"}, {"value": "a", "label": "B"}]
    assert "differ" in str(
        item_config_errors(ItemSpec(key="a", kind=Kind.SINGLE, options=dup), [])["options"]
    )
    assert set(item_config_errors(ItemSpec(key="a", kind=Kind.LIKERT, scale_points=12), [])) == {
        "scale_points"
    }
    assert set(
        item_config_errors(ItemSpec(key="a", kind=Kind.NUMBER, min_value=5, max_value=1), [])
    ) == {"max_value"}
    assert set(item_config_errors(ItemSpec(key="a", kind=Kind.TEXT, min_value=1), [])) == {
        "min_value"
    }


def test_a_condition_looks_back_at_a_choice_or_likert_item_and_its_answers():
    assert item_config_errors(HOW_OFTEN, [USES]) == {}
    assert set(item_config_errors(HOW_OFTEN, [])) == {"condition_key"}
    assert set(item_config_errors(HOW_OFTEN, [ItemSpec(key="uses", kind=Kind.TEXT)])) == {
        "condition_key"
    }
    wrong = ItemSpec(key="x", kind=Kind.TEXT, condition_key="uses", condition_values=["maybe"])
    assert "maybe" in str(item_config_errors(wrong, [USES])["condition_values"])
    on_likert = ItemSpec(
        key="x", kind=Kind.TEXT, condition_key="how_often", condition_values=["5"]
    )
    assert item_config_errors(on_likert, [HOW_OFTEN]) == {}
