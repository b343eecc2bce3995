"""What a translation is a translation of: the source texts, and their digest.

A study is written in its first language (Study.languages[0]); each other language has a
StudyTranslation and, per scenario version, a ScenarioTranslation. Each translation keeps
the digest of the source it was made from, so an edit of the source afterwards shows the
translation as out of date (studies.translations.translation_status). Pure functions of
loaded objects; no model imports (studies.models uses them).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def digest(source: Any) -> str:
    """sha256 of a JSON-able value, keys sorted: the same texts always give the same digest."""
    encoded = json.dumps(source, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def page_digest(*, source: Any, order: Any) -> str:
    """The digest of what a translation page was made from: the source texts and the
    order of the pieces its fields follow by position (options, levels, items). A save
    from a page whose digest is no longer the current one is refused: a field may now
    sit beside another option than the one it translates. The source's own digest is
    blind to that order (options are keyed by value)."""
    return digest({"source": source, "order": order})


def study_source(study) -> dict[str, Any]:
    """Every participant-facing text of a study in its first language (levels, arms too)."""
    return {
        "public_title": study.public_title,
        "consent_text": study.consent_text,
        "instructions_text": study.instructions_text,
        "disposition_question": study.disposition_question,
        "conditions_question": study.conditions_question,
        "screening_question": study.screening_question,
        "screening_labels": {str(o.get("value")): o.get("label") for o in study.screening_options},
        "check_question": study.check_question,
        "check_options": list(study.check_options),
        "levels": {
            level.code: {"label": level.label, "description": level.description}
            for level in study.disposition_scale.levels.all()
        },
        "arms": {
            arm.key: {
                "participant_label": arm.participant_label,
                "control_instructions": arm.control_instructions if not arm.is_llm else "",
            }
            for arm in study.arms.all()
        },
    }


def scenario_source(scenario) -> dict[str, Any]:
    """What participants read of a scenario version: its title and sections."""
    return {"title": scenario.title, "sections": list(scenario.sections)}
