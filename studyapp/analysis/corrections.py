"""People's corrections of answers' automatic scores (ScoreCorrection): the only writer.

A correction sets the answer's own field (Answer.conditions_correct), so every figure,
report and export that reads the field reads the corrected value with no change of its
own; the ScoreCorrection rows keep what the answer held before, the scorer's value and
the reason, and re-scoring (participation.services.answers_rescore) puts the latest
correction back over the recomputed score (corrections_reapply).

Investigators correct from the transcript page (views_corrections); an item's only rater
from their rating page (ratings.corrections, which calls score_correct as a "rater").
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.db import transaction

from studyapp.analysis.models import REASON_MIN_CHARS, ScoreCorrection
from studyapp.audit import services as audit
from studyapp.participation.models import Answer

logger = logging.getLogger(__name__)

CORRECTABLE = frozenset(ScoreCorrection.Field.values)


class ScoreCorrectionRefused(Exception):
    """The correction was not made; the message says why, for the form."""


def score_correct(
    *,
    answer: Answer,
    field: str,
    value: bool,
    reason: str,
    user,
    role: str = ScoreCorrection.Role.INVESTIGATOR,
) -> ScoreCorrection:
    """Correct one score of an answer, with the reason: in one transaction, under the
    answer's row lock, a ScoreCorrection row (what it held, the scorer's value, who and
    in what `role`) is added, the answer's field set, and the study's audit chain told
    who, what and why. The caller has checked that `user` may, as `role` (investigators:
    studies.roles.CORRECT_SCORES; raters: ratings.corrections)."""
    if field not in CORRECTABLE:
        raise ScoreCorrectionRefused(f"{field} is not a score that can be corrected.")
    reason = (reason or "").strip()
    if len(reason) < REASON_MIN_CHARS:
        raise ScoreCorrectionRefused(
            f"Say why the score is wrong ({REASON_MIN_CHARS} characters or more)."
        )
    value = bool(value)
    with transaction.atomic():
        locked = (
            Answer.objects.select_for_update(of=("self",))
            .select_related("task__participant")
            .get(pk=answer.pk)
        )
        held = getattr(locked, field)
        if held is None:
            raise ScoreCorrectionRefused("The answer is not scored yet: nothing to correct.")
        if held == value:
            raise ScoreCorrectionRefused(
                f"The score is already {'yes' if value else 'no'}: nothing to correct."
            )
        previous = (
            ScoreCorrection.objects.filter(answer=locked, field=field)
            .order_by("-created_at", "-pk")
            .first()
        )
        correction = ScoreCorrection(
            answer=locked,
            field=field,
            original_value=held,
            corrected_value=value,
            automatic_value=previous.automatic_value if previous else held,
            automatic_scorer_version=(
                previous.automatic_scorer_version if previous else locked.scorer_version
            ),
            reason=reason,
            corrected_by=user,
            corrector_role=role,
        )
        correction.full_clean()
        correction.save()
        setattr(locked, field, value)
        locked.save(update_fields=[field, "updated_at"])
        audit.record(
            study=locked.task.participant.study_id,
            actor=user,
            action="correct_score",
            object_type="participation.answer",
            object_id=locked.pk,
            object_repr=f"answer to task {locked.task_id}",
            before={field: held},
            after={field: value},
            detail={
                "reason": reason,
                "correction_id": correction.pk,
                "task_id": locked.task_id,
                "automatic_value": correction.automatic_value,
                "role": role,
            },
        )
    setattr(answer, field, value)
    logger.info("score %s of answer %s corrected by user %s (%s)", field, answer.pk, user.pk, role)
    return correction


def latest_corrections(answer_ids: Iterable[int]) -> dict[tuple[int, str], ScoreCorrection]:
    """{(answer id, field): its latest correction} for those answers that have one."""
    latest: dict[tuple[int, str], ScoreCorrection] = {}
    rows = ScoreCorrection.objects.filter(answer_id__in=list(answer_ids)).order_by(
        "created_at", "pk"
    )
    for row in rows:
        latest[(row.answer_id, row.field)] = row
    return latest


def corrections_reapply(answers: list[Answer]) -> int:
    """After the answers were scored again (not saved yet): put each one's latest
    correction back over the recomputed field. Returns how many were put back."""
    latest = latest_corrections(a.pk for a in answers)
    n = 0
    for answer in answers:
        for field in CORRECTABLE:
            correction = latest.get((answer.pk, field))
            if correction is not None:
                setattr(answer, field, correction.corrected_value)
                n += 1
    return n


def answer_corrections(*, answer: Answer) -> list[ScoreCorrection]:
    """The answer's corrections, oldest first, with who made them (the transcript page)."""
    return list(
        ScoreCorrection.objects.filter(answer=answer)
        .select_related("corrected_by")
        .order_by("created_at", "pk")
    )
