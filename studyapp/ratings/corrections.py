"""A rater's correction of the automatic score of an item's answer ("names a gold
condition"): made through analysis.corrections.score_correct, as a "rater", so it is the
same append-only ScoreCorrection row, the same audit entry and the same re-application on
a rescore as an investigator's, attributed to the rater's account.

When a rater may correct (`correction_open`), and why:
- The item is in their own queue (the views find it by its position there; another
  rater's item cannot be named).
- Its round is single-rated (`double_share` 0): the rater is the item's only rater, so
  their judgment is the only human one there is, and it applies at once, like an
  investigator's. In a round with a double-rated share the raters label independently and
  their agreed or adjudicated label becomes the answer's reference label
  (`ReferenceLabel`, which the analysis reads when the study chooses rater reference
  labels): that is the route there. One rater's correction would overrule the other
  rater's judgment before adjudication and show it to them.
- The round holds no model-alone output: those have no participant's Answer to correct,
  and a form on some items of a round and not others would tell the rater which items a
  model answered alone. Both rules are per round, so whether the section shows says
  nothing about one item (neither its source nor whether it is double-rated).
- The rater has saved a label of the item: the automatic score shows only then, so every
  label is made from the scenario and the text alone, never anchored on the matcher.

The rater never sees who else corrected the answer: only the score the analysis now reads
and their own corrections.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from studyapp.analysis import corrections
from studyapp.analysis.models import ScoreCorrection
from studyapp.evaluations.models import EvaluationRun
from studyapp.participation.models import Answer
from studyapp.ratings.models import Label, RatingAssignment, RatingItem, RatingRound

FIELD = ScoreCorrection.Field.CONDITIONS_CORRECT
NOT_HERE = "This item's score is not corrected from the rating pages."
LABEL_FIRST = "Save your label of this item first; then you can correct its score."


def round_takes_corrections(*, round: RatingRound) -> bool:
    """Single-rated, with no model-alone outputs (see the module's docstring)."""
    if round.double_share > 0:
        return False
    return not RatingItem.objects.filter(
        round=round, evaluation_item__run__kind=EvaluationRun.Kind.MODEL_ALONE
    ).exists()


def item_answer(*, item: RatingItem) -> Answer | None:
    """The Answer an item shows: the answer itself, or a chat's final answer (a
    participant's or a simulated participant's)."""
    if item.answer_id:
        return Answer.objects.filter(pk=item.answer_id).first()
    task_id = item.task_id or (item.evaluation_item.task_id if item.evaluation_item_id else None)
    if task_id is None:
        return None
    return Answer.objects.filter(task_id=task_id).first()


@dataclass(frozen=True)
class RaterScore:
    """What the rater's item page shows of the answer's score."""

    answer: Answer
    labelled: bool
    # The scorer's own value, and the value the figures read (the answer's field).
    automatic: bool | None
    current: bool | None
    # The rater's own corrections, oldest first (never anyone else's).
    own: list[ScoreCorrection] = field(default_factory=list)

    @property
    def corrected(self) -> bool:
        return self.current != self.automatic

    @property
    def can_correct(self) -> bool:
        return self.labelled and self.current is not None


def rater_score(*, assignment: RatingAssignment) -> RaterScore | None:
    """The score section of a rater's item, or None where raters do not correct it."""
    item = assignment.item
    if not round_takes_corrections(round=item.round):
        return None
    answer = item_answer(item=item)
    if answer is None:
        return None
    labelled = Label.objects.filter(item=item, rater=assignment.rater).exists()
    rows = corrections.answer_corrections(answer=answer) if labelled else []
    rows = [row for row in rows if row.field == FIELD]
    return RaterScore(
        answer=answer,
        labelled=labelled,
        automatic=rows[0].automatic_value if rows else answer.conditions_correct,
        current=answer.conditions_correct,
        own=[row for row in rows if row.corrected_by_id == assignment.rater.user_id],
    )


def rater_score_correct(
    *, assignment: RatingAssignment, value: bool, reason: str
) -> ScoreCorrection:
    """The rater's correction of the score of their item's answer, applied at once and
    attributed to them (corrector_role "rater"); corrections.ScoreCorrectionRefused
    where it may not be made, with the reason for the form."""
    assignment = RatingAssignment.objects.select_related("item__round", "rater__user").get(
        pk=assignment.pk
    )
    rater = assignment.rater
    if not (rater.is_active and rater.can_rate):
        raise corrections.ScoreCorrectionRefused("This rater no longer rates.")
    score = rater_score(assignment=assignment)
    if score is None:
        raise corrections.ScoreCorrectionRefused(NOT_HERE)
    if not score.labelled:
        raise corrections.ScoreCorrectionRefused(LABEL_FIRST)
    return corrections.score_correct(
        answer=score.answer,
        field=FIELD,
        value=value,
        reason=reason,
        user=rater.user,
        role=ScoreCorrection.Role.RATER,
    )
