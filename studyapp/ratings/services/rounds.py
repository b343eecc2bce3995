"""Rating rounds: a sample of the study's items dealt out to its raters."""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence

from django.db import transaction
from django.db.models import Max

from studyapp.ratings import selectors
from studyapp.ratings.assignment import plan_assignments
from studyapp.ratings.models import RatingAssignment, RatingItem, RatingRound, StudyRater
from studyapp.studies.models import Study


class RoundError(ValueError):
    """A round that cannot be made; the message says why."""


@transaction.atomic
def round_create(
    *,
    study: Study,
    name: str,
    created_by,
    double_share: float,
    answers: bool = True,
    transcripts: bool = False,
    humans: bool = True,
    evaluation_run_ids: Sequence[int] = (),
    rater_ids: Sequence[int] | None = None,
    raters_per_double: int = 2,
    seed: int | None = None,
) -> RatingRound:
    """Sample the items not yet in any round of the study (participants' answers and
    chats, and the chosen evaluation runs' outputs) and deal them out.

    Items are created in an order shuffled with the seed, so even their ids say nothing
    of where they came from; assignments follow `assignment.plan_assignments`.
    """
    raters = StudyRater.objects.select_for_update().filter(
        study=study, is_active=True, can_rate=True
    )
    if rater_ids is not None:
        raters = raters.filter(pk__in=rater_ids)
    raters = list(raters.order_by("pk"))
    if rater_ids is not None and len(raters) != len(set(rater_ids)):
        raise RoundError("every rater of a round must be an active rater of the study")
    if not raters:
        raise RoundError("the study has no active raters")
    seed = secrets.randbits(62) if seed is None else seed
    candidates = selectors.round_candidates(
        study=study,
        answers=answers,
        transcripts=transcripts,
        humans=humans,
        evaluation_run_ids=evaluation_run_ids,
    )
    if not candidates:
        raise RoundError("nothing to rate: no new answers or chats in what was chosen")
    random.Random(seed).shuffle(candidates)
    rating_round = RatingRound(
        study=study,
        name=name,
        seed=seed,
        double_share=double_share,
        raters_per_double=raters_per_double,
        sources={
            "humans": humans,
            "evaluation_runs": sorted(evaluation_run_ids),
            "answers": answers,
            "transcripts": transcripts,
        },
        created_by=created_by,
    )
    rating_round.full_clean()
    rating_round.save()
    items = RatingItem.objects.bulk_create(
        RatingItem(round=rating_round, **candidate) for candidate in candidates
    )
    try:
        plan = plan_assignments(
            item_ids=[item.pk for item in items],
            rater_ids=[r.pk for r in raters],
            double_share=double_share,
            seed=seed,
            raters_per_double=raters_per_double,
        )
    except ValueError as exc:
        raise RoundError(str(exc)) from exc
    RatingItem.objects.filter(pk__in=plan.double).update(is_double=True)
    last = dict(
        RatingAssignment.objects.filter(rater__in=raters)
        .values("rater")
        .annotate(last=Max("position"))
        .values_list("rater", "last")
    )
    RatingAssignment.objects.bulk_create(
        RatingAssignment(item_id=item_id, rater_id=rater_id, position=last.get(rater_id, 0) + n)
        for rater_id, queue in plan.queues.items()
        for n, item_id in enumerate(queue, 1)
    )
    return rating_round
