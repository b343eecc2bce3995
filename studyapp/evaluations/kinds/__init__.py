"""Run kinds. Each module offers the same four functions:

- ``plan(*, run, config) -> list[EvaluationItem]`` — the unsaved items, ordered by unit;
- ``unit_key(item) -> str`` — the unit an item belongs to (items of a unit run in order);
- ``run_unit(ctx, items, stop)`` — async generator of ItemResults for a unit's pending items;
- ``score(ctx, item, result) -> dict`` — the fields to store for a finished item.
"""

from __future__ import annotations

from types import ModuleType

from studyapp.evaluations.kinds import mcq, model_alone, robustness, simulated

KINDS: dict[str, ModuleType] = {
    "mcq": mcq,
    "robustness": robustness,
    "model_alone": model_alone,
    "simulated": simulated,
}


def kind_module(kind: str) -> ModuleType:
    try:
        return KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown run kind {kind!r}") from None
