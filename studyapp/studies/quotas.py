"""Writes of a study's recruitment quotas from the investigator pages (the power
calculator, `analysis.views_power`). A study that is no longer a draft has its quotas
changed on its allocation and quotas page (studies.builder_recruitment), deliberately."""

from __future__ import annotations

import logging

from django.db import transaction

from studyapp.studies.history import config_save
from studyapp.studies.models import Study

logger = logging.getLogger(__name__)


class QuotaRefusedError(Exception):
    """The quota was not written; the message says why, in words for the investigator."""


@transaction.atomic
def study_quota_per_arm_set(*, study: Study, quota: int, set_by) -> int | None:
    """Set `Study.quota_per_arm` (responses per arm) of a draft study and log who did it;
    returns the quota it replaced.

    Only a draft: once participants are recruited, a quota decides who is turned away, so
    it is changed deliberately on the study's allocation and quotas page, not from a
    calculator's button. The status
    is read under a row lock, so a study set live meanwhile is refused rather than
    overwritten; the change is in the study's history, with who.
    """
    if isinstance(quota, bool) or not isinstance(quota, int) or quota < 1:
        raise QuotaRefusedError(f"A quota is a whole number of responses ≥ 1, not {quota!r}.")
    locked = Study.objects.select_for_update().get(pk=study.pk)
    old = locked.quota_per_arm
    if locked.status != Study.Status.DRAFT:
        label = locked.get_status_display()
        raise QuotaRefusedError(
            f"The study is {label.lower()}, not a draft: the quotas of a study that has "
            "begun are changed on its Allocation and quotas page, deliberately."
        )
    locked.quota_per_arm = quota
    config_save(locked, fields=["quota_per_arm"], by=set_by)
    study.quota_per_arm = quota
    logger.info(
        "quota_per_arm of study %s set from %s to %s by user %s (power calculator)",
        study.pk,
        old,
        quota,
        set_by.pk,
    )
    return old
