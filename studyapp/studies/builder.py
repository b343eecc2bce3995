"""Writes of the study builder (studies.views_builder): a new study from scratch or as a
copy of another, its settings, and its scenarios.

Every write goes through the model's full_clean(), so the pages say what the admin would.
Study and Scenario are on the audit trail (audit.models registers them with
django-simple-history, whose middleware names the request's user as the author).

Scenarios are versioned (Scenario's docstring): one that tasks or evaluation items refer
to is never edited in place. Saving it creates the next version with the new values and
deactivates the old one, as the scenario importer does; deleting it is refused.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from studyapp.participation.models import not_preview_q
from studyapp.studies.design_files import ARM_FIELDS, design_export, design_import
from studyapp.studies.history import config_save
from studyapp.studies.members import membership_grant
from studyapp.studies.models import Arm, DispositionScale, ModelEndpoint, Scenario, Study
from studyapp.studies.roles import Role

# What the settings page edits; the first two are the design's frame and stay as they are
# once participants exist (the admin locks the scale then too).
SETTINGS_LOCKED_ONCE_STARTED = ("disposition_scale", "languages")
SETTINGS_FIELDS = (
    "title",
    "public_title",
    "consent_text",
    "instructions_text",
    "disposition_question",
    "conditions_question",
    "require_mfa",  # the form lets owners only change it
    *SETTINGS_LOCKED_ONCE_STARTED,
)
SCENARIO_FIELDS = (
    "key",
    "title",
    "sections",
    "gold_disposition",
    "gold_conditions",
    "red_flags",
    "condition_synonyms",
    "rubric",
    "key_facts",
    "provenance",
)


class BuilderError(Exception):
    """A change the builder refuses; the message says why, in the investigator's words."""


@transaction.atomic
def study_create(
    *,
    slug: str,
    title: str,
    languages: list[str],
    disposition_scale: DispositionScale,
    consent_text: str,
    instructions_text: str,
    created_by,
    quota_per_arm: int | None = None,
) -> Study:
    """A new draft study; `created_by` becomes its owner. The new-study page asks for
    `quota_per_arm` (the launch checklist refuses a study without a quota)."""
    study = Study(
        slug=slug,
        title=title,
        languages=languages,
        disposition_scale=disposition_scale,
        consent_text=consent_text,
        instructions_text=instructions_text,
        quota_per_arm=quota_per_arm,
        status=Study.Status.DRAFT,
    )
    study.full_clean()
    study.save()
    membership_grant(study=study, user=created_by, role=Role.OWNER, granted_by=created_by)
    return study


def study_copy(
    *,
    source: Study,
    slug: str,
    title: str,
    user,
    endpoints: QuerySet[ModelEndpoint],
    may_create_endpoints: bool,
) -> Study:
    """A draft copy of `source` through its design file (studies.design_files): its
    settings, arms, active scenarios, translations, questionnaires and analysis plan,
    without its seed, members or data. `user` becomes its owner. DesignFileError when the
    copy cannot be made (e.g. an endpoint the user may not use)."""
    return design_import(
        design_export(source),
        slug=slug,
        title=title,
        user=user,
        endpoints=endpoints,
        may_create_endpoints=may_create_endpoints,
    )


def study_started(study: Study) -> bool:
    """Whether the frame of the design is fixed: the study left the draft state or
    someone has entered it (an investigator's preview is nobody: previewing a draft must
    not lock its scale and languages)."""
    return (
        study.status != Study.Status.DRAFT
        or study.participants.filter(not_preview_q(include_pilot=True)).exists()
    )


@transaction.atomic
def study_settings_update(*, study_id: int, values: dict[str, Any]) -> Study:
    """Change the study's texts (and, while a draft nobody entered, its scale and
    languages). BuilderError for a locked field; ValidationError from the model.
    A new scale takes the scenarios along: each gold disposition becomes the new
    scale's level of the same code (refused when a code is missing there)."""
    study = Study.objects.select_for_update().get(pk=study_id)
    unknown = set(values) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"not a setting of the builder: {sorted(unknown)}")
    changed_frame = [
        name
        for name in SETTINGS_LOCKED_ONCE_STARTED
        if name in values and values[name] != getattr(study, name)
    ]
    if changed_frame and study_started(study):
        raise BuilderError(
            "The disposition scale and languages are fixed once a study is live or has "
            "participants: copy the study to change them."
        )
    scale = values.get("disposition_scale")
    remap = []
    if scale is not None and scale != study.disposition_scale:
        remap = _scenarios_to_scale(study, scale)
    for name, value in values.items():
        setattr(study, name, value)
    study.full_clean()
    study.save()
    for scenario, level in remap:
        scenario.gold_disposition = level
        scenario.full_clean()
        scenario.save()  # saved one by one, so the history keeps each with who
    return study


def _scenarios_to_scale(study: Study, scale: DispositionScale) -> list[tuple[Scenario, Any]]:
    """Each scenario of `study` with the level of `scale` that has its gold level's code;
    ValidationError (on the scale) when a code is missing there or data used a scenario
    (its gold disposition then stays as it was)."""
    scenarios = list(
        Scenario.objects.select_for_update()
        .filter(study=study)
        .select_related("gold_disposition")
        .order_by("key", "version")
    )
    if not scenarios:
        return []
    used = sorted({s.key for s in scenarios if scenario_is_referenced(s)})
    if used:
        raise ValidationError(
            {
                "disposition_scale": (
                    f"Previews or evaluations used scenario(s) {', '.join(used)}, whose gold "
                    "dispositions are levels of the current scale: keep this scale, or copy "
                    "the study and change the copy's scale."
                )
            }
        )
    levels = {level.code: level for level in scale.levels.all()}
    missing = sorted({s.gold_disposition.code for s in scenarios} - set(levels))
    if missing:
        raise ValidationError(
            {
                "disposition_scale": (
                    "The scenarios' gold dispositions are levels of the current scale, and "
                    f"this one has no level coded {', '.join(missing)}: delete the scenarios "
                    "first, give the new scale those codes, or keep this scale."
                )
            }
        )
    # The same code on both scales: each scenario's gold disposition follows it.
    return [(s, levels[s.gold_disposition.code]) for s in scenarios]


def scenario_is_referenced(scenario: Scenario) -> bool:
    """Whether data refers to this version (a participant's task, an evaluation item):
    then it is never changed in place."""
    # Reverse relations by name: studies must not import the apps that point at it.
    return scenario.tasks.exists() or scenario.evaluation_items.exists()


@transaction.atomic
def scenario_save(
    *, study: Study, scenario_id: int | None, values: dict[str, Any]
) -> tuple[Scenario, bool]:
    """Create a scenario (scenario_id None) or change one. Returns (the saved version,
    whether it is a new version): a scenario data refers to gets a new version with the
    values, and the old one is deactivated. ValidationError names the field at fault."""
    values = {k: v for k, v in values.items() if k in SCENARIO_FIELDS}
    if scenario_id is None:
        if Scenario.objects.filter(study=study, key=values.get("key")).exists():
            raise ValidationError({"key": "Another scenario of this study has this key."})
        scenario = Scenario(study=study, version=1, is_active=True, **values)
        scenario.full_clean()
        scenario.save()
        return scenario, False
    current = Scenario.objects.select_for_update().get(pk=scenario_id, study=study)
    values.pop("key", None)  # a key names every version: it does not change
    if not scenario_is_referenced(current):
        for name, value in values.items():
            setattr(current, name, value)
        current.full_clean()
        current.save()
        return current, False
    latest = max(
        Scenario.objects.select_for_update()
        .filter(study=study, key=current.key)
        .values_list("version", flat=True)
    )
    new = Scenario(
        study=study,
        key=current.key,
        version=latest + 1,
        is_active=True,
        # The rubric and key facts come along unless the values change them (a page or
        # the API that does not edit them leaves them out).
        **{"rubric": current.rubric, "key_facts": current.key_facts, **values},
    )
    # Validate before deactivating, so a refused edit changes nothing.
    new.full_clean(exclude=["is_active"], validate_constraints=False)
    # Each saved (the rows are locked above), so the history keeps it with who.
    for active in Scenario.objects.filter(study=study, key=current.key, is_active=True):
        active.is_active = False
        config_save(active, fields=["is_active"])
    new.save()
    # Its translations come along with the digest of what they translated, so they show
    # as out of date where the text changed (as scenario_create_new_version does).
    for translation in current.translations.all():
        translation.pk = None
        translation.scenario = new
        translation.save()
    return new, True


@transaction.atomic
def scenario_delete(*, study: Study, scenario_id: int) -> None:
    """Delete a scenario version nothing refers to; BuilderError otherwise."""
    scenario = Scenario.objects.select_for_update().get(pk=scenario_id, study=study)
    if scenario_is_referenced(scenario):
        raise BuilderError(
            "Participants or evaluations used this scenario: it is kept with their data. "
            "Edit it to make a new version instead."
        )
    scenario.delete()


# --- Arms ------------------------------------------------------------------------------

# The arm's editable fields are those a design file carries (design_files.ARM_FIELDS).
# An arm's identity and weight are part of the allocation design once anyone is allocated
# (the admin makes them read-only then too).
ARM_FIXED_ONCE_ALLOCATED = ("key", "kind", "weight")


def arm_is_allocated(arm: Arm) -> bool:
    return arm.participants.exists() or arm.allocations.exists()


@transaction.atomic
def arm_save(*, study: Study, arm_id: int | None, values: dict[str, Any]) -> Arm:
    """Create an arm (arm_id None) or change one; BuilderError for a change the
    allocation forbids, ValidationError naming the field for the model's checks and for
    a blinding term removed once the design is fixed (builder_blinding.arm_terms_check).
    Under the study's row lock, then the arm's, as the blinding page's writes."""
    # Imported here: builder_blinding imports builder_recruitment, which imports this module.
    from studyapp.studies.builder_blinding import arm_terms_check

    values = {k: v for k, v in values.items() if k in ARM_FIELDS}
    study = Study.objects.select_for_update().get(pk=study.pk)
    if arm_id is None:
        if study.allocations.exists():
            raise BuilderError(
                "Participants have been allocated: the study's arms are fixed. Copy the "
                "study to try other arms."
            )
        if Arm.objects.filter(study=study, key=values.get("key")).exists():
            raise ValidationError({"key": "Another arm of this study has this key."})
        arm = Arm(study=study, **values)
        old_terms: list[str] = []
    else:
        arm = Arm.objects.select_for_update().get(pk=arm_id, study=study)
        changed = [
            n for n in ARM_FIXED_ONCE_ALLOCATED if n in values and values[n] != getattr(arm, n)
        ]
        if changed and arm_is_allocated(arm):
            raise BuilderError(
                f"Participants were allocated to this arm: its {', '.join(changed)} cannot change."
            )
        old_terms = list(arm.blinding_terms)
        for name, value in values.items():
            setattr(arm, name, value)
    if "blinding_terms" in values:
        arm_terms_check(study=study, old=old_terms, new=values["blinding_terms"])
    if arm.kind == Arm.Kind.CONTROL:
        arm.endpoint = None
    arm.full_clean()
    arm.save()
    return arm


@transaction.atomic
def arm_delete(*, study: Study, arm_id: int) -> None:
    arm = Arm.objects.select_for_update().get(pk=arm_id, study=study)
    if study.allocations.exists():
        raise BuilderError(
            "Participants have been allocated: every arm of the allocation design stays."
        )
    arm.delete()
