from __future__ import annotations

from studyapp.scoring.transcripts import (
    TurnScore,
    model_named_but_answer_omitted,
    score_transcript,
)

GOLD = ["pulmonary embolism", "deep vein thrombosis", "pneumonia"]

CHAT = [
    ("user", "My chest hurts and my leg is swollen"),
    ("assistant", "That could be a deep vein thrombosis; a clot may travel to the lungs."),
    ("user", "Is it pneumonia?"),
    ("assistant", "Possibly a pulmonary embolism or pneumonia. Call 999."),
]


def test_it_scores_each_turn_with_the_answer_rule():
    score = score_transcript(CHAT, GOLD)
    assert score.turns == (
        TurnScore(index=0, role="participant", matched=()),
        TurnScore(index=1, role="model", matched=("deep vein thrombosis",)),
        TurnScore(index=2, role="participant", matched=("pneumonia",)),
        TurnScore(index=3, role="model", matched=("pulmonary embolism", "pneumonia")),
    )


def test_it_gathers_what_each_side_named_in_gold_order():
    score = score_transcript(CHAT, GOLD)
    assert score.model_named == ("pulmonary embolism", "deep vein thrombosis", "pneumonia")
    assert score.participant_named == ("pneumonia",)
    assert score.first_model_naming_turn == 1
    assert score.model_named_any and score.participant_named_any


def test_other_roles_are_skipped_and_synonyms_count():
    turns = [("system", "pulmonary embolism"), ("assistant", "maybe a PE")]
    score = score_transcript(turns, GOLD, synonyms={"pulmonary embolism": ["PE"]})
    assert [t.index for t in score.turns] == [1]
    assert score.model_named == ("pulmonary embolism",)


def test_an_empty_chat_names_nothing():
    score = score_transcript([], GOLD)
    assert score.turns == () and not score.model_named_any
    assert score.first_model_naming_turn is None
    assert not model_named_but_answer_omitted(score, [])


def test_it_flags_a_condition_the_model_named_but_the_answer_left_out():
    score = score_transcript(CHAT, GOLD)
    assert model_named_but_answer_omitted(score, ["pneumonia"])
    assert not model_named_but_answer_omitted(
        score, ["Pulmonary Embolism", "deep vein thrombosis", "pneumonia"]
    )
