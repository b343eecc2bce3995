"""Who rates a study: adding raters, changing their role."""

from __future__ import annotations

from django.db import transaction

from studyapp.ratings.models import StudyRater
from studyapp.studies.models import Study


class RaterError(ValueError):
    """A change of raters that cannot be made; the message says why."""


def _next_code(study: Study) -> str:
    # Codes are never reused: a deactivated rater keeps theirs, and exports name them by it.
    return f"R{StudyRater.objects.filter(study=study).count() + 1}"


@transaction.atomic
def rater_add(
    *, study: Study, user, added_by, can_rate: bool = True, can_adjudicate: bool = False
) -> StudyRater:
    """Make `user` a rater of `study` (again, if they had been deactivated)."""
    # One writer of a study's codes at a time.
    Study.objects.select_for_update().filter(pk=study.pk).first()
    rater = StudyRater.objects.filter(study=study, user=user).first()
    if rater is None:
        rater = StudyRater(study=study, user=user, code=_next_code(study), added_by=added_by)
    rater.can_rate = can_rate
    rater.can_adjudicate = can_adjudicate
    rater.is_active = True
    rater.full_clean()
    rater.save()
    return rater


@transaction.atomic
def rater_update(
    *, rater: StudyRater, can_rate: bool, can_adjudicate: bool, is_active: bool
) -> StudyRater:
    """Change a rater's role. A rater is deactivated, never deleted: labels keep them."""
    rater = StudyRater.objects.select_for_update().get(pk=rater.pk)
    rater.can_rate, rater.can_adjudicate, rater.is_active = can_rate, can_adjudicate, is_active
    rater.full_clean()
    rater.save(update_fields=["can_rate", "can_adjudicate", "is_active", "updated_at"])
    return rater


def adjudicator_role_get_or_create(*, study: Study, user) -> StudyRater:
    """The role under which `user` (who may adjudicate: an investigator, or a rater who
    may) records an adjudication. An investigator without one gets one that rates
    nothing, so exports name every adjudicator by a code too."""
    rater = StudyRater.objects.filter(study=study, user=user).first()
    if rater is not None:
        return rater
    return rater_add(study=study, user=user, added_by=user, can_rate=False, can_adjudicate=True)
