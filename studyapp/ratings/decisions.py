"""What a label says, checked and compared. Pure.

An answer label names a subset of the scenario's gold conditions and red flags (exactly
as the scenario spells them) and, in free text, any other relevant condition. A transcript
label says, for every rubric item, met or not met, and for items about the model which of
its turns (1 = its first reply) met it. Two labels agree when they name the same gold
terms (answers) or give every rubric item the same verdict (transcripts); the free text
and the turns are kept but not compared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field


class DecisionError(ValueError):
    """A label that does not fit its item."""


@dataclass(frozen=True)
class Decision:
    conditions_named: tuple[str, ...] = ()
    red_flags_named: tuple[str, ...] = ()
    other_conditions: str = ""
    # rubric key -> (met, model turns that met it)
    rubric: Mapping[str, tuple[bool, tuple[int, ...]]] = field(default_factory=dict)

    def verdict(self, kind: str) -> tuple:
        """What agreement is judged on (hashable)."""
        if kind == "answer":
            return (frozenset(self.conditions_named), frozenset(self.red_flags_named))
        return tuple(sorted((key, met) for key, (met, _turns) in self.rubric.items()))

    def rubric_json(self) -> dict:
        return {
            key: {"met": met, "turns": list(turns)} for key, (met, turns) in self.rubric.items()
        }


def decision_from_row(row) -> Decision:
    """A Label or Adjudication (or anything with the same attributes) as a Decision."""
    return Decision(
        conditions_named=tuple(row.conditions_named),
        red_flags_named=tuple(row.red_flags_named),
        other_conditions=row.other_conditions,
        rubric={
            key: (bool(value["met"]), tuple(value.get("turns", ())))
            for key, value in (row.rubric or {}).items()
        },
    )


def _in_gold_order(named: Iterable[str], gold: Sequence[str], what: str) -> tuple[str, ...]:
    chosen = set(named)
    unknown = chosen - set(gold)
    if unknown:
        raise DecisionError(f"not a {what} of this scenario: {', '.join(sorted(unknown))}")
    return tuple(term for term in dict.fromkeys(gold) if term in chosen)


def answer_decision(
    *,
    gold_conditions: Sequence[str],
    red_flags: Sequence[str],
    conditions_named: Iterable[str],
    red_flags_named: Iterable[str],
    other_conditions: str = "",
) -> Decision:
    return Decision(
        conditions_named=_in_gold_order(conditions_named, gold_conditions, "gold condition"),
        red_flags_named=_in_gold_order(red_flags_named, red_flags, "red flag"),
        other_conditions=other_conditions.strip(),
    )


def transcript_decision(
    *,
    rubric: Sequence[Mapping],
    verdicts: Mapping[str, bool],
    turns: Mapping[str, Iterable[int]] | None = None,
    model_turns: int,
) -> Decision:
    """Every rubric item needs a verdict; turns only for items about the model."""
    keys = [item["key"] for item in rubric]
    missing = [key for key in keys if key not in verdicts]
    if missing:
        raise DecisionError(f"no verdict for {', '.join(missing)}")
    unknown = set(verdicts) - set(keys)
    if unknown:
        raise DecisionError(f"not a rubric item of this scenario: {', '.join(sorted(unknown))}")
    applies = {item["key"]: item["applies_to"] for item in rubric}
    out: dict[str, tuple[bool, tuple[int, ...]]] = {}
    for key in keys:
        chosen = tuple(sorted(set((turns or {}).get(key, ()))))
        if chosen and (applies[key] != "model" or not verdicts[key]):
            raise DecisionError(f"{key}: turns are for a rubric item about the model that is met")
        if any(t < 1 or t > model_turns for t in chosen):
            raise DecisionError(f"{key}: the model's turns are 1 to {model_turns}")
        out[key] = (bool(verdicts[key]), chosen)
    return Decision(rubric=out)


def parse_turns(text: str) -> tuple[int, ...]:
    """ "1, 3 4" -> (1, 3, 4); anything else is an error."""
    parts = text.replace(",", " ").split()
    if not all(p.isdigit() for p in parts):
        raise DecisionError("turns are numbers, e.g. 1, 3")
    return tuple(sorted({int(p) for p in parts}))


def disagree(kind: str, decisions: Iterable[Decision]) -> bool:
    return len({d.verdict(kind) for d in decisions}) > 1
