"""Writes for studies: the default scale, and creating configuration consistently."""

from __future__ import annotations

import copy as copy_module

from django.db import transaction

from studyapp.studies.models import DispositionLevel, DispositionScale, Scenario

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
    versions.filter(is_active=True).update(is_active=False)
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
    return new_version
