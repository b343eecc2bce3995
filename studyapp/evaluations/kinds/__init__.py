"""Kinds of evaluation runs, each one object behind the interface of ``kinds.base.Kind``."""

from __future__ import annotations

from studyapp.evaluations.kinds.base import ImportedKind, Kind
from studyapp.evaluations.kinds.mcq import McqKind
from studyapp.evaluations.kinds.model_alone import ModelAloneKind
from studyapp.evaluations.kinds.robustness import RobustnessKind
from studyapp.evaluations.kinds.rubric import RubricKind
from studyapp.evaluations.kinds.simulated import SimulatedKind

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        ModelAloneKind(),
        SimulatedKind(),
        McqKind(),
        RobustnessKind(),
        RubricKind(),
        ImportedKind(),
    )
}
# The kinds an investigator can start (imported runs come from files), in the form's order.
STARTABLE_KINDS: tuple[str, ...] = ("model_alone", "simulated", "mcq", "robustness", "rubric")


def get_kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown run kind {name!r}") from None
