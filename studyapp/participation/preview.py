"""An investigator's preview of the participant's path (issue 14 item 3).

`preview_start` makes a participant marked `is_preview` on the arm and scenario the
investigator chose, consented, with that one task active: made directly, not through
consent and allocation, so it takes no slot of the ledger and counts in no quota (as the
simulated patients of evaluation runs). The view binds it to the investigator's browser
the way a participant's link does and sends them to the ordinary participant pages
(instructions, check, questionnaires, scenario, chat with the arm's real endpoint,
answer), which show a banner saying it is a preview. `humans_q` (participation.models)
leaves previews out of every figure, count, CONSORT and state table, and the exports
leave them out too (`not_preview_q`). Works for a study in any status: the entry link of
a Draft study stays closed to everyone else.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from studyapp.participation.models import Participant, Task
from studyapp.studies.models import Arm, Scenario, Study

logger = logging.getLogger(__name__)


def preview_arms(*, study: Study) -> QuerySet[Arm]:
    """The arms a preview may use."""
    return Arm.objects.filter(study=study).order_by("key")


def preview_scenarios(*, study: Study) -> QuerySet[Scenario]:
    """The scenarios a preview may show: the active version of each."""
    return Scenario.objects.filter(study=study).active().order_by("key")


@transaction.atomic
def preview_start(
    *, study: Study, arm_id: int, scenario_id: int, language: str = ""
) -> Participant:
    """A preview participant on the arm and scenario chosen, ready for the instructions.

    Raises ValidationError for an arm or scenario that is not the study's (or not active),
    or a language the study does not offer.
    """
    arm = preview_arms(study=study).filter(pk=arm_id).first()
    if arm is None:
        raise ValidationError({"arm": "Choose one of the study's arms."})
    scenario = preview_scenarios(study=study).filter(pk=scenario_id).first()
    if scenario is None:
        raise ValidationError({"scenario": "Choose one of the study's active scenarios."})
    languages = list(study.languages or ["en"])
    if language and language not in languages:
        raise ValidationError({"language": "Choose one of the study's languages."})
    now = timezone.now()
    participant = Participant.objects.create(
        study=study,
        arm=arm,
        is_preview=True,
        status=Participant.Status.CONSENTED,
        consented_at=now,
        last_seen_at=now,
        language=language or languages[0],
    )
    Task.objects.create(
        participant=participant,
        scenario=scenario,
        position=1,
        status=Task.Status.ACTIVE,
        started_at=now,
    )
    logger.info(
        "study %s: preview participant %s on arm %s, scenario %s",
        study.pk,
        participant.pk,
        arm.key,
        scenario.key,
    )
    return participant
