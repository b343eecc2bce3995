"""The blinding guard per arm: how often models said what their arm forbids (their name,
their maker), in participants' chats. Reads only; simulated participants left out.

The terms themselves name the models, so a blinded view counts them without showing them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count, Q

from studyapp.analysis.blinding import ArmView
from studyapp.analysis.selectors import study_arm_views
from studyapp.chat.models import Message
from studyapp.participation.models import humans_q
from studyapp.studies.models import Study


@dataclass
class GuardRow:
    arm: ArmView
    replies: int = 0
    replies_with_terms: int = 0
    occurrences: int = 0
    # term -> occurrences (empty in a blinded view: the terms name the model).
    terms: dict[str, int] = field(default_factory=dict)

    @property
    def share(self) -> float | None:
        return self.replies_with_terms / self.replies if self.replies else None


@dataclass(frozen=True)
class GuardTable:
    action: str
    replaces: bool
    replacement: str
    rows: list[GuardRow]
    blinded: bool

    @property
    def any_terms(self) -> bool:
        return any(row.occurrences for row in self.rows)


def blinding_guard_table(*, study: Study, blinded: bool) -> GuardTable:
    """Per LLM arm: participants' replies, those that said a blinding term, and how often."""
    arms = [a for a in study_arm_views(study=study, blinded=blinded) if not a.is_control]
    rows = {arm.id: GuardRow(arm=arm) for arm in arms}
    replies = Message.objects.filter(
        humans_q("conversation__task__participant__"),
        conversation__task__participant__study=study,
        role=Message.Role.ASSISTANT,
    )
    for arm_id, n in replies.values_list("conversation__arm_id").annotate(n=Count("pk")):
        if arm_id in rows:
            rows[arm_id].replies = n
    flagged = replies.filter(~Q(blinding_hits=[])).values_list(
        "conversation__arm_id", "blinding_hits"
    )
    terms: dict[int, Counter] = {}
    for arm_id, hits in flagged:
        if arm_id not in rows or not hits:
            continue
        row = rows[arm_id]
        row.replies_with_terms += 1
        row.occurrences += len(hits)
        terms.setdefault(arm_id, Counter()).update(hit["term"] for hit in hits)
    if not blinded:
        for arm_id, counter in terms.items():
            rows[arm_id].terms = dict(counter.most_common())
    return GuardTable(
        action=study.get_blinding_action_display(),
        replaces=study.blinding_action == Study.BlindingAction.REPLACE,
        replacement=study.blinding_replacement,
        rows=list(rows.values()),
        blinded=blinded,
    )
