"""How arms are named on analysis pages and in exports, blinded or not. Pure.

Blinded, every arm is a letter (A, B, C, ...) and nothing else: no key, no participant-
facing label, no kind, no model. The letters are dealt in an order drawn from the study's
allocation seed and the arm's id, so that "B" names the same arm on every page and in every
export of a study, while the order says nothing about the arms' keys or creation order.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ArmInfo:
    """What is known of an arm (a selector fills it)."""

    id: int
    key: str
    kind: str
    label: str
    endpoint: str | None
    model: str | None
    is_scripted: bool
    is_test_model: bool = False


@dataclass(frozen=True)
class ArmView:
    """An arm as a page or export may show it. Blinded, only `id`, `letter` and `name`
    carry anything, and `id` is never rendered."""

    id: int
    letter: str
    name: str
    blinded: bool
    key: str = ""
    kind: str = ""
    label: str = ""
    endpoint: str | None = None
    model: str | None = None
    is_scripted: bool = False
    is_test_model: bool = False
    # The study's one control arm: what the others are compared with. Kept when blinded
    # (the analysis plan's contrasts stay the same; only the names change), so a blinded
    # page says which letter is the reference and nothing more.
    is_reference: bool = False

    @property
    def is_control(self) -> bool:
        return self.kind == "control"


def letter_for(index: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: enough letters for any number of arms."""
    letters = string.ascii_uppercase
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = letters[rest] + name
    return name


def _blind_rank(salt: str, arm_id: int) -> str:
    return hashlib.sha256(f"{salt}:{arm_id}".encode()).hexdigest()


def arm_views(arms: Iterable[ArmInfo], *, blinded: bool, salt: str) -> list[ArmView]:
    """The arms in display order: by key, or by letter when blinded.

    Letters are the same whether blinded or not, so an investigator can tell a blinded
    colleague which letter is which arm.
    """
    arms = list(arms)
    dealt = sorted(arms, key=lambda arm: _blind_rank(salt, arm.id))
    letters = {arm.id: letter_for(i) for i, arm in enumerate(dealt)}
    controls = [arm.id for arm in arms if arm.kind == "control"]
    reference = controls[0] if len(controls) == 1 else None
    if blinded:
        return [
            ArmView(
                id=arm.id,
                letter=letters[arm.id],
                name=letters[arm.id],
                blinded=True,
                is_reference=arm.id == reference,
            )
            for arm in dealt
        ]
    return [
        ArmView(
            id=arm.id,
            letter=letters[arm.id],
            name=arm.key,
            blinded=False,
            key=arm.key,
            kind=arm.kind,
            label=arm.label,
            endpoint=arm.endpoint,
            model=arm.model,
            is_scripted=arm.is_scripted,
            is_test_model=arm.is_test_model,
            is_reference=arm.id == reference,
        )
        for arm in sorted(arms, key=lambda arm: arm.key)
    ]


def arm_names(views: Sequence[ArmView]) -> dict[int, str]:
    """{arm id: the name to show}."""
    return {view.id: view.name for view in views}
