"""Writes of the study builder's blinding page (studies.views_blinding): what the
blinding guard (chat.blinding) does when a reply says one of its arm's blinding terms.
The terms themselves are the arms' (the arm form edits them).

The guard protects participants' blinding to the model. What may change when:

- a draft nobody entered: anything;
- once the design is fixed (studies.builder_recruitment.design_fixed: out of draft, or a
  real participant entered): the guard may be tightened (flag only → replace) and the
  replacement's words corrected, but not loosened (replace → flag only): later
  participants would read the model's name where earlier ones did not, and the arms'
  blinding would differ by date of entry. Each conversation keeps the action and words it
  opened with (chat.services.conversation_get_or_create), so a change reaches only chats
  opened after it; every change is on the study's history and audit trail.

The arms' blinding terms follow the same rule (`arm_terms_check`, which the arm page's
and the API's writes, studies.builder.arm_save, and the admin's arm form apply): once
the design is fixed, terms may be added, or their case and spacing corrected (the guard
finds them in any case, across any whitespace, so it hides the same words), but none
removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from studyapp.chat.blinding import clean_terms, occurrences
from studyapp.studies.builder_recruitment import design_fixed, fixed_reason
from studyapp.studies.history import config_save
from studyapp.studies.models import Study

BLINDING_FIELDS = ("blinding_action", "blinding_replacement")


def study_blinding_update(*, study_id: int, values: dict[str, Any], by=None) -> Study:
    """Change the blinding action and the replacement words, under the study's row lock.
    ValidationError naming the field at fault: loosening the guard once the design is
    fixed, or a replacement that says one of the arms' terms (it would give the model
    away instead of hiding it)."""
    unknown = set(values) - set(BLINDING_FIELDS)
    if unknown:
        raise ValueError(f"not a field of this page: {sorted(unknown)}")
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study_id)
        errors: dict[str, str] = {}
        action = values.get("blinding_action", study.blinding_action)
        if loosened := study_blinding_loosened(study=study, action=action):
            errors["blinding_action"] = loosened
        replacement = " ".join(str(values.get("blinding_replacement", "")).split())
        if "blinding_replacement" in values:
            values = {**values, "blinding_replacement": replacement}
        terms = [t for arm in study.arms.all() for t in arm.blinding_terms]
        found = occurrences(replacement, terms)
        if found:
            errors["blinding_replacement"] = (
                f"These words say “{found[0].term}”, a blinding term of the study's arms: "
                "choose neutral words (e.g. the assistant)."
            )
        for name, value in values.items():
            setattr(study, name, value)
        try:
            study.full_clean()
        except ValidationError as exc:
            errors = {
                **{k: v for k, v in exc.message_dict.items() if k in BLINDING_FIELDS},
                **errors,
            }
        if errors:
            raise ValidationError(errors)
        config_save(study, fields=list(values), by=by)
    return study


def terms_removed(*, old: Sequence[str], new: Sequence[str]) -> list[str]:
    """The terms of `old` that `new` no longer lists (pure). A term written again in
    another case or spacing is kept: the guard matches it all the same."""
    kept = {term.casefold() for term in clean_terms(new)}
    return [term for term in clean_terms(old) if term.casefold() not in kept]


def arm_terms_check(*, study: Study, old: Sequence[str], new: Sequence[str]) -> None:
    """ValidationError beside `blinding_terms` when a change of an arm's terms from
    `old` to `new` (a new arm: none) removes one once the design is fixed (the model's
    name would reach later participants where earlier ones had it hidden), or adds one
    that the study's replacement words say (the guard would give the model away instead
    of hiding it: the blinding page's rule, seen from the arm's side)."""
    removed = terms_removed(old=old, new=new)
    if removed and design_fixed(study):
        listed = ", ".join(f"“{term}”" for term in removed)
        raise ValidationError(
            {
                "blinding_terms": (
                    f"The study is {fixed_reason(study)}: the guard has looked for {listed} "
                    "in every reply participants read so far, so it must for later ones too. "
                    "Once participants entered, terms may be added or their spelling "
                    "corrected, never removed: keep these lines and add any others."
                )
            }
        )
    found = occurrences(study.blinding_replacement, clean_terms(new))
    if found:
        raise ValidationError(
            {
                "blinding_terms": (
                    f"“{found[0].term}” is in the study's replacement words "
                    f"(“{study.blinding_replacement}”, on its Blinding page): the guard "
                    "would put a blinding term back where it hid one. Choose another term, "
                    "or change the replacement words first."
                )
            }
        )


def study_blinding_loosened(*, study: Study, action: str) -> str | None:
    """Why changing the stored `study`'s action to `action` loosens the guard once the
    design is fixed (replace -> flag only), or None."""
    if (
        study.blinding_action == Study.BlindingAction.REPLACE
        and action == Study.BlindingAction.FLAG
        and design_fixed(study)
    ):
        return (
            f"The study is {fixed_reason(study)}: participants so far had the model's "
            "name replaced, so later ones must too. The guard may be tightened once "
            "participants entered, never loosened."
        )
    return None
