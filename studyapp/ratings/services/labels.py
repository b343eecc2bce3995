"""Labels (a rater's decision on an item) and adjudications (the final one where raters
disagreed). Both are append-only: a revision is a new row. Each also brings the item's
answer's reference label (services.references) in step, in the same transaction."""

from __future__ import annotations

from django.db import transaction

from studyapp.accounts.permissions import user_may_adjudicate
from studyapp.ratings import selectors
from studyapp.ratings.decisions import Decision, DecisionError, decision_from_row
from studyapp.ratings.models import Adjudication, Label, RatingAssignment, RatingItem
from studyapp.ratings.services.raters import adjudicator_role_get_or_create
from studyapp.ratings.services.references import reference_label_refresh

REASON_MIN_CHARS = 3


def _checked(item: RatingItem, decision: Decision) -> Decision:
    """The decision rebuilt against the item's scenario (views build it the same way; a
    caller that did not is stopped here)."""
    return selectors.decision_for_item(
        item=item,
        conditions_named=decision.conditions_named,
        red_flags_named=decision.red_flags_named,
        other_conditions=decision.other_conditions,
        verdicts={key: met for key, (met, _turns) in decision.rubric.items()},
        turns={key: turns for key, (_met, turns) in decision.rubric.items()},
    )


def _fields(decision: Decision) -> dict:
    return {
        "conditions_named": list(decision.conditions_named),
        "red_flags_named": list(decision.red_flags_named),
        "other_conditions": decision.other_conditions,
        "rubric": decision.rubric_json(),
    }


@transaction.atomic
def label_save(*, assignment: RatingAssignment, decision: Decision, reason: str = "") -> Label:
    """The rater's label of their assigned item; a later one supersedes it (both kept).
    Saving the same label and reason again adds nothing."""
    assignment = (
        # Only the assignment's row: the joined item, scenario and rater rows are read, not
        # locked (locking them made every label of a scenario wait for the others).
        RatingAssignment.objects.select_for_update(of=("self",))
        .select_related("item__scenario", "rater")
        .get(pk=assignment.pk)
    )
    if not (assignment.rater.is_active and assignment.rater.can_rate):
        raise DecisionError("this rater no longer rates")
    decision = _checked(assignment.item, decision)
    reason = reason.strip()
    current = (
        Label.objects.filter(item=assignment.item, rater=assignment.rater).order_by("-pk").first()
    )
    if current is not None and decision_from_row(current) == decision and current.reason == reason:
        return current
    label = Label(item=assignment.item, rater=assignment.rater, reason=reason, **_fields(decision))
    label.full_clean()
    label.save()
    reference_label_refresh(item=assignment.item)
    return label


@transaction.atomic
def adjudication_save(
    *,
    item: RatingItem,
    user,
    decision: Decision | None,
    reason: str,
    chosen_label: Label | None = None,
) -> Adjudication:
    """The final label of an item with two current labels or more (in the queue: they
    disagree), by someone who may adjudicate and did not label it: `decision`, or a
    current label taken as it is (`chosen_label`; `decision` is then ignored)."""
    item = (
        RatingItem.objects.select_for_update(of=("self",))
        .select_related("scenario", "round__study")
        .get(pk=item.pk)
    )
    study = item.round.study
    if not user_may_adjudicate(user, study):
        raise DecisionError("you may not adjudicate this study's ratings")
    if Label.objects.filter(item=item, rater__user=user).exists():
        raise DecisionError("you labelled this item: another adjudicator must resolve it")
    reason = reason.strip()
    if len(reason) < REASON_MIN_CHARS:
        raise DecisionError("say why (the reason is kept with the final label)")
    current = list(Label.objects.filter(item=item).current())
    if len(current) < 2:
        raise DecisionError("only an item with two labels or more is adjudicated")
    if chosen_label is not None:
        if chosen_label.pk not in {label.pk for label in current}:
            raise DecisionError("the chosen label is not a current label of this item")
        decision = decision_from_row(chosen_label)
    if decision is None:
        raise DecisionError("give the final label, or choose a rater's")
    decision = _checked(item, decision)
    adjudication = Adjudication(
        item=item,
        adjudicator=adjudicator_role_get_or_create(study=study, user=user),
        chosen_label=chosen_label,
        reason=reason,
        **_fields(decision),
    )
    adjudication.full_clean()
    adjudication.save()
    reference_label_refresh(item=item)
    return adjudication
