"""Reference labels: each rated answer's adjudicated (else agreed-on) label, kept as a
`ReferenceLabel` row so that the analysis reads it in SQL. These functions are the only
writers of those rows: `label_save` and `adjudication_save` call
`reference_label_refresh` in their own transaction, and `reference_labels_rebuild`
recomputes a whole study (the `rebuild_reference_labels` command)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from studyapp.participation.models import Answer
from studyapp.ratings import selectors
from studyapp.ratings.models import RatingItem, ReferenceLabel
from studyapp.studies.models import Study


@dataclass(frozen=True)
class RebuildResult:
    created: int
    updated: int
    deleted: int
    unchanged: int


def _fields(reference: selectors.AnswerReference) -> dict:
    return {
        "item_id": reference.item_id,
        "source": reference.source,
        "conditions_correct": reference.conditions_correct,
        "matched_conditions": list(reference.matched_conditions),
        "matched_red_flags": list(reference.matched_red_flags),
    }


def _same(row: ReferenceLabel, fields: dict) -> bool:
    return all(getattr(row, name) == value for name, value in fields.items())


def _apply(*, answer_ids: Collection[int], references: dict) -> RebuildResult:
    """Make the rows of `answer_ids` say `references` (absent: no row)."""
    rows = {
        row.answer_id: row
        for row in ReferenceLabel.objects.select_for_update().filter(answer_id__in=answer_ids)
    }
    created = updated = unchanged = 0
    for answer_id, reference in references.items():
        fields = _fields(reference)
        row = rows.get(answer_id)
        if row is None:
            ReferenceLabel.objects.create(answer_id=answer_id, **fields)
            created += 1
        elif _same(row, fields):
            unchanged += 1
        else:
            for name, value in fields.items():
                setattr(row, name, value)
            row.save()
            updated += 1
    stale = [answer_id for answer_id in rows if answer_id not in references]
    deleted, _ = ReferenceLabel.objects.filter(answer_id__in=stale).delete()
    return RebuildResult(created=created, updated=updated, deleted=deleted, unchanged=unchanged)


def _answer_of(item: RatingItem) -> int | None:
    if item.answer_id:
        return item.answer_id
    if item.evaluation_item_id:
        return (
            Answer.objects.filter(task__evaluation_items=item.evaluation_item_id)
            .values_list("pk", flat=True)
            .first()
        )
    return None


@transaction.atomic
def reference_label_refresh(*, item: RatingItem) -> None:
    """Bring the reference label of `item`'s answer in step with its current labels and
    adjudications (the caller has just added one). Transcript items have none."""
    if item.kind != RatingItem.Kind.ANSWER:
        return
    answer_id = _answer_of(item)
    if answer_id is None:  # a model-alone output: no Answer to label
        return
    # One refresh of an answer at a time: two raters' labels saved together would each
    # see only their own (uncommitted) label and leave an agreed item without its row.
    # Waiting here, the second reads the labels again once the first has committed.
    # (label_save's row lock also reaches the item today, through select_related; this
    # one holds whatever the callers lock, and for an answer rated in two rounds too.)
    Answer.objects.select_for_update().filter(pk=answer_id).values_list("pk").first()
    study = Study.objects.get(rating_rounds__items=item)
    references = selectors.answer_references(study=study, answer_ids=[answer_id])
    _apply(answer_ids=[answer_id], references=references)


@transaction.atomic
def reference_labels_rebuild(*, study: Study) -> RebuildResult:
    """Recompute every reference label of the study from its labels and adjudications:
    rows are created, corrected or deleted so that they say what the labels say."""
    references = selectors.answer_references(study=study)
    existing = ReferenceLabel.objects.filter(
        Q(answer__task__participant__study=study) | Q(item__round__study=study)
    ).values_list("answer_id", flat=True)
    answer_ids = set(existing) | set(references)
    return _apply(answer_ids=answer_ids, references=references)
