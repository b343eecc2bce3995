"""Which relevant conditions were named inside a chat, turn by turn. Pure.

The paper's headline gap: models named a relevant condition in most chats, yet
participants often left it out of their final answer. Each message is scored with the
same rule as answers (studyapp.scoring.conditions), separately for the model's turns
and the participant's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from studyapp.scoring.conditions import matched_conditions

MODEL_ROLES = frozenset({"assistant", "model"})
PARTICIPANT_ROLES = frozenset({"user", "participant"})


@dataclass(frozen=True)
class TurnScore:
    index: int  # position in the transcript, from 0
    role: str  # "model" or "participant"
    matched: tuple[str, ...]  # gold terms named in this message, in gold order


@dataclass(frozen=True)
class TranscriptScore:
    turns: tuple[TurnScore, ...]
    # Union over the turns, in gold order.
    model_named: tuple[str, ...]
    participant_named: tuple[str, ...]
    # Index of the first model message naming a gold term (None: never).
    first_model_naming_turn: int | None

    @property
    def model_named_any(self) -> bool:
        return bool(self.model_named)

    @property
    def participant_named_any(self) -> bool:
        return bool(self.participant_named)


def _in_gold_order(gold_terms: Sequence[str], found: set[str]) -> tuple[str, ...]:
    return tuple(term for term in dict.fromkeys(gold_terms) if term in found)


def score_transcript(
    turns: Sequence[tuple[str, str]],
    gold_terms: Sequence[str],
    *,
    synonyms: Mapping[str, Sequence[str]] | None = None,
) -> TranscriptScore:
    """Score (role, text) messages in order; roles other than model/participant are skipped."""
    scored: list[TurnScore] = []
    by_model: set[str] = set()
    by_participant: set[str] = set()
    first_model: int | None = None
    for index, (role, text) in enumerate(turns):
        if role in MODEL_ROLES:
            who = "model"
        elif role in PARTICIPANT_ROLES:
            who = "participant"
        else:
            continue
        matched = tuple(matched_conditions(text or "", gold_terms, synonyms=synonyms))
        scored.append(TurnScore(index=index, role=who, matched=matched))
        if who == "model":
            by_model.update(matched)
            if matched and first_model is None:
                first_model = index
        else:
            by_participant.update(matched)
    return TranscriptScore(
        turns=tuple(scored),
        model_named=_in_gold_order(gold_terms, by_model),
        participant_named=_in_gold_order(gold_terms, by_participant),
        first_model_naming_turn=first_model,
    )


def model_named_but_answer_omitted(
    transcript_score: TranscriptScore, answer_matched: Sequence[str]
) -> bool:
    """The model named a relevant condition in the chat that the final answer left out."""
    kept = {" ".join(term.lower().split()) for term in answer_matched}
    return any(" ".join(term.lower().split()) not in kept for term in transcript_score.model_named)
