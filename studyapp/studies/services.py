"""Writes for studies: the default scale, creating configuration consistently, the
analysis choices (each change recorded) and the analysis plan (locked at the first
allocation, versioned after)."""

from __future__ import annotations

import copy as copy_module
import hashlib
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from studyapp.studies import analysis_plan
from studyapp.studies.history import config_save
from studyapp.studies.models import (
    AnalysisChoiceChange,
    AnalysisPlan,
    DispositionLevel,
    DispositionScale,
    Scenario,
    Study,
)

# The 5-level NHS-style scale of Bean et al. (SCIENCE.md), most acute first; value = acuity.
NHS_5_LEVELS: list[tuple[int, str, str, str]] = [
    (
        4,
        "ambulance",
        "Ambulance",
        "Call an ambulance: immediate life-threatening danger; treatment needed on the way.",
    ),
    (3, "ae", "A&E", "Go to A&E (emergency department): emergency hospital treatment."),
    (
        2,
        "urgent_primary_care",
        "Urgent Primary Care",
        "Be seen today by a GP, urgent care centre or similar.",
    ),
    (1, "routine_gp", "Routine GP", "See a GP at some point; it can wait."),
    (
        0,
        "self_care",
        "Self-care",
        "Look after yourself at home or with over-the-counter medicine.",
    ),
]


@transaction.atomic
def disposition_scale_get_or_create_default() -> DispositionScale:
    scale, _ = DispositionScale.objects.get_or_create(
        slug="nhs-5",
        defaults={
            "name": "NHS-style 5-level disposition",
            "description": "Bean et al. (HELPMed): Ambulance, A&E, Urgent Primary Care, "
            "Routine GP, Self-care.",
        },
    )
    for value, code, label, description in NHS_5_LEVELS:
        DispositionLevel.objects.get_or_create(
            scale=scale,
            code=code,
            defaults={"value": value, "label": label, "description": description},
        )
    return scale


@transaction.atomic
def scenario_create_new_version(*, scenario_id: int) -> Scenario:
    """Copy a scenario as the next version of its key; that copy becomes the active one.

    A scenario that tasks refer to is never edited in place (the data must keep saying
    what participants read), so a change starts here and is made on the copy.
    """
    source = Scenario.objects.select_for_update().get(pk=scenario_id)
    versions = Scenario.objects.select_for_update().filter(
        study_id=source.study_id, key=source.key
    )
    latest = max(versions.values_list("version", flat=True))
    # Deactivate first: at most one active version per key is a database constraint.
    # Each saved (rows locked above), so the history keeps it with who.
    for active in versions.filter(is_active=True):
        active.is_active = False
        config_save(active, fields=["is_active"])
    new_version = Scenario(
        study_id=source.study_id,
        key=source.key,
        version=latest + 1,
        is_active=True,
        title=source.title,
        sections=copy_module.deepcopy(source.sections),
        gold_disposition_id=source.gold_disposition_id,
        gold_conditions=list(source.gold_conditions),
        red_flags=list(source.red_flags),
        condition_synonyms=copy_module.deepcopy(source.condition_synonyms),
        rubric=copy_module.deepcopy(source.rubric),
        key_facts=copy_module.deepcopy(source.key_facts),
        provenance=source.provenance,
    )
    new_version.full_clean()
    new_version.save()
    # Its translations come along with the digest of what they translated: unchanged text
    # keeps them current; an edit of the copy's text shows them as out of date.
    for translation in source.translations.all():
        translation.pk = None
        translation.scenario = new_version
        translation.save()
    return new_version


@transaction.atomic
def study_condition_labels_set(
    *, study: Study, condition_labels: str, changed_by
) -> AnalysisChoiceChange | None:
    """Set which condition scores the study's analysis reads. The choice belongs to the
    analysis plan (its `condition_labels`): this writes the plan (a draft in place; after
    the lock a new version saying why) and plan_save mirrors it on the study, recording
    the change (who, when, from and to). The same value again records nothing (None)."""
    if condition_labels not in Study.ConditionLabels.values:
        raise ValueError(f"not a choice of condition labels: {condition_labels!r}")
    current = plan_current(study=study)
    old = current.content.get("condition_labels")
    _plan, change = _plan_store(
        study=study,
        content=dict(current.content, condition_labels=condition_labels),
        changed_by=changed_by,
        reason=f"condition labels: {old} -> {condition_labels}, set in the study's settings",
    )
    return change


def _condition_labels_mirror(
    *, study: Study, condition_labels: str, changed_by
) -> AnalysisChoiceChange | None:
    """Keep `Study.condition_labels` equal to the current plan's (the selectors read it
    with the study, at no query) and record a change. Only plan_save calls it."""
    locked = Study.objects.select_for_update().get(pk=study.pk)
    old = locked.condition_labels
    study.condition_labels = condition_labels
    if old == condition_labels:
        return None
    locked.condition_labels = condition_labels
    config_save(locked, fields=["condition_labels"], by=changed_by)
    change = AnalysisChoiceChange(
        study=study,
        choice="condition_labels",
        old_value=old,
        new_value=condition_labels,
        changed_by=changed_by,
    )
    change.full_clean()
    change.save()
    return change


# --- The analysis plan ------------------------------------------------------------------


def plan_current_content(*, study: Study) -> Any:
    """What plan_current's content would be, read without writing (a study without a
    plan gets the default it would store): for checks made on a page view."""
    content = (
        AnalysisPlan.objects.filter(study=study)
        .order_by("-version")
        .values_list("content", flat=True)
        .first()
    )
    if content is None:
        return analysis_plan.default_plan(condition_labels=study.condition_labels)
    return content


def plan_current(*, study: Study) -> AnalysisPlan:
    """The study's newest plan version; a study without one gets HELPMed's default
    (studies.analysis_plan.default_plan) as version 1, a draft."""
    plan = AnalysisPlan.objects.filter(study=study).order_by("-version").first()
    if plan is not None:
        return plan
    content = analysis_plan.default_plan(condition_labels=study.condition_labels)
    plan, _ = AnalysisPlan.objects.get_or_create(
        study=study,
        version=1,
        defaults={"content": content, "sha256": analysis_plan.plan_sha256(content)},
    )
    return plan


@transaction.atomic
def plan_save(*, study: Study, content: Any, changed_by, reason: str = "") -> AnalysisPlan:
    """Check and store a plan. Before the lock the draft is edited in place; after it a
    change is a new version, which needs a reason. The same plan again changes nothing.
    Raises analysis_plan.PlanError (every problem named) or ValueError (no reason)."""
    plan, _change = _plan_store(study=study, content=content, changed_by=changed_by, reason=reason)
    return plan


def _plan_store(
    *, study: Study, content: Any, changed_by, reason: str
) -> tuple[AnalysisPlan, AnalysisChoiceChange | None]:
    arm_keys = list(study.arms.values_list("key", flat=True))
    content = analysis_plan.validate(content, arm_keys=arm_keys)
    sha = analysis_plan.plan_sha256(content)
    # Serialise writers of the study's plan (and the lock) on the study row.
    Study.objects.select_for_update().filter(pk=study.pk).first()
    current = plan_current(study=study)
    if current.sha256 == sha:
        return current, None
    if (
        current.locked_at is None
        and not AnalysisPlan.objects.filter(study=study, locked_at__isnull=False).exists()
    ):
        current.content = content
        current.sha256 = sha
        current.created_by = changed_by
        current.created_at = timezone.now()
        current.reason = reason
        current.save()
        saved = current
    elif not reason.strip():
        raise ValueError(
            "The plan was locked at the first allocation: say why it changes (the reason "
            "is recorded with the new version)."
        )
    else:
        saved = AnalysisPlan.objects.create(
            study=study,
            version=current.version + 1,
            content=content,
            sha256=sha,
            created_by=changed_by,
            reason=reason.strip(),
        )
    change = _condition_labels_mirror(
        study=study, condition_labels=content["condition_labels"], changed_by=changed_by
    )
    return saved, change


def design_sha256(design: dict[str, Any]) -> str:
    return hashlib.sha256(analysis_plan.canonical_json(design).encode()).hexdigest()


def plan_lock_at_first_allocation(
    *, study: Study, design: dict[str, Any], now: datetime
) -> AnalysisPlan:
    """Lock the study's current plan with the allocation design. Called by the first
    allocation, inside its transaction (under the allocation state's row lock), so the
    plan an analysis calls confirmatory is the one in force when randomisation began."""
    plan = plan_current(study=study)
    if plan.locked_at is None:
        # The plan's row lock, and the lock written only if no one wrote it meanwhile (as
        # a conditional UPDATE would), saved so that the history keeps it.
        unlocked = (
            AnalysisPlan.objects.select_for_update()
            .filter(pk=plan.pk, locked_at__isnull=True)
            .first()
        )
        if unlocked is not None:
            unlocked.locked_at = now
            unlocked.design_sha256 = design_sha256(design)
            config_save(unlocked, fields=["locked_at", "design_sha256"])
        plan.refresh_from_db()
    return plan
