"""Writes for studies: the default scale, and creating configuration consistently."""

from __future__ import annotations

from django.db import transaction

from studyapp.studies.models import DispositionLevel, DispositionScale

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
