"""The REST API's design routes: a study's settings, scenarios and arms, read by the roles
that see the design and written by those that may change the study (owners and
collaborators, CHANGE_STUDY, with a token of the `write` scope).

Each write is the study builder's: the page's form judges the body (its messages, its
fixed fields) and studies.builder writes, so the rules are the pages' (a scenario that
data refer to gets a new version; an allocated arm keeps its key, kind and weight; the
scale and languages stay once the study started). The history of each change is kept
with the token's user as its author (audit.history), as for the page's.

A PATCH body names the fields to change: the others keep their values (the form is bound
to the current values with the body's over them). A field the page would show disabled
and the body changes is refused by name rather than ignored.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router
from ninja.responses import Status

from studyapp.accounts.mfa import user_has_mfa
from studyapp.accounts.permissions import endpoints_visible_to
from studyapp.api.auth import token_study
from studyapp.api.models import Scope
from studyapp.api.schemas import (
    ERRORS,
    ArmDetailOut,
    ArmIn,
    FormErrorOut,
    ScenarioDetailOut,
    ScenarioIn,
    ScenarioSavedOut,
    StudySettingsIO,
)
from studyapp.core.forms import add_validation_error
from studyapp.studies import builder, roles
from studyapp.studies.forms_builder import (
    ArmForm,
    ScenarioForm,
    StudySettingsForm,
    sections_errors,
    synonyms_format,
)
from studyapp.studies.models import Arm, Scenario, Study

router = Router()


def form_errors(form: forms.Form, detail: str) -> Status:
    """422 with the form's messages by field ("__all__": the whole form)."""
    found = form.errors.get_json_data()
    errors = {field: [e["message"] for e in items] for field, items in found.items()}
    return Status(422, {"detail": detail, "errors": errors})


def _given(body) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)


def _refuse_fixed(form: forms.Form, given: dict[str, Any], current: dict[str, Any]) -> None:
    """A disabled field (fixed now, or not this user's to change) the body changes: said
    by name, with the page's reason, instead of silently keeping the old value."""
    for name, field in form.fields.items():
        if field.disabled and name in given and given[name] != current.get(name):
            form.add_error(name, f"This field cannot change: {field.help_text}")


# --- Settings -----------------------------------------------------------------------------


def _settings_out(study: Study) -> StudySettingsIO:
    values = {name: getattr(study, name) for name in builder.SETTINGS_FIELDS}
    values |= {"disposition_scale": study.disposition_scale.slug, "languages": study.languages}
    return StudySettingsIO(**values)


@router.get(
    "/studies/{slug}/settings", response={200: StudySettingsIO, **ERRORS}, url_name="settings"
)
def study_settings(request: HttpRequest, slug: str):
    """The study's settings, as its settings page shows them."""
    study = token_study(request, slug, roles.VIEW_DESIGN, Scope.READ)
    return _settings_out(study)


@router.patch(
    "/studies/{slug}/settings",
    response={200: StudySettingsIO, 422: FormErrorOut, **ERRORS},
    url_name="settings_update",
)
def settings_update(request: HttpRequest, slug: str, body: StudySettingsIO):
    """Change the settings given, as the settings page does: the disposition scale and
    languages are fixed once the study is live or has participants, and only owners
    change whether it requires two-factor authentication."""
    study = token_study(request, slug, roles.CHANGE_STUDY, Scope.WRITE)
    given = _given(body)
    current = _settings_out(study).model_dump()
    data = {**current, **given}
    data["languages"] = ", ".join(data["languages"] or [])
    form = StudySettingsForm(
        data,
        study=study,
        locked=builder.study_started(study),
        may_require_mfa=request.user.has_perm(roles.MANAGE_MEMBERS, study),
        user_has_mfa=user_has_mfa(request.user),
    )
    form.fields["disposition_scale"].to_field_name = "slug"
    _refuse_fixed(form, given, current)
    if form.is_valid():
        try:
            study = builder.study_settings_update(study_id=study.pk, values=form.cleaned_data)
        except builder.BuilderError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            return _settings_out(study)
    return form_errors(form, "The settings were not saved.")


# --- Scenarios ----------------------------------------------------------------------------


def _scenario_out(scenario: Scenario) -> dict[str, Any]:
    return {
        "key": scenario.key,
        "version": scenario.version,
        "is_active": scenario.is_active,
        "title": scenario.title,
        "sections": [
            {"heading": s.get("heading", ""), "text": s.get("text", "")} for s in scenario.sections
        ],
        "gold_disposition": scenario.gold_disposition.code,
        "gold_conditions": list(scenario.gold_conditions),
        "red_flags": list(scenario.red_flags),
        "condition_synonyms": dict(scenario.condition_synonyms),
        "key_facts": list(scenario.key_facts),
        "rubric": list(scenario.rubric),
        "provenance": scenario.provenance,
    }


def _active_scenario(study: Study, key: str) -> Scenario:
    return get_object_or_404(
        Scenario.objects.select_related("gold_disposition"), study=study, key=key, is_active=True
    )


def _scenario_save(request: HttpRequest, study: Study, scenario: Scenario | None, body):
    given = _given(body)
    current = _scenario_out(scenario) if scenario is not None else {}
    values = {**current, **given}
    form = ScenarioForm(
        {
            "key": values.get("key"),
            "title": values.get("title"),
            "gold_disposition": values.get("gold_disposition"),
            "gold_conditions": "\n".join(values.get("gold_conditions") or []),
            "red_flags": "\n".join(values.get("red_flags") or []),
            "condition_synonyms": synonyms_format(values.get("condition_synonyms") or {}),
            "provenance": values.get("provenance") or "",
        },
        study=study,
        scenario=scenario,
    )
    # The level by its code (as in design files), among the study's scale's levels.
    form.fields["gold_disposition"].to_field_name = "code"
    if scenario is not None and "key" in given and given["key"] != scenario.key:
        form.add_error("key", "The key names every version: it does not change.")
    sections = [
        {"heading": s["heading"].strip(), "text": s["text"].strip()}
        for s in values.get("sections") or []
    ]
    problems = [f"Section {i + 1}: {m}" for i, m in sections_errors(sections).items()]
    if not sections:
        problems.append("A scenario needs at least one section.")
    # Key facts and the rubric as design files carry them; the model's checks
    # (studies.content) judge them, each under its own name.
    content = {name: given[name] for name in ("key_facts", "rubric") if name in given}
    content_errors: dict[str, list[str]] = {}
    if form.is_valid() and not problems:
        try:
            saved, new_version = builder.scenario_save(
                study=study,
                scenario_id=scenario.pk if scenario else None,
                values={**form.cleaned_data, "sections": sections, **content},
            )
        except ValidationError as exc:
            # The model's check of the sections goes with the sections' own.
            by_field = exc.message_dict if hasattr(exc, "error_dict") else {}
            problems += by_field.pop("sections", [])
            for name in ("key_facts", "rubric"):
                if name in by_field:
                    content_errors[name] = by_field.pop(name)
            if by_field or not hasattr(exc, "error_dict"):
                add_validation_error(form, ValidationError(by_field) if by_field else exc)
        else:
            out = {**_scenario_out(saved), "new_version": new_version}
            return Status(201 if scenario is None else 200, ScenarioSavedOut(**out))
    found = form.errors.get_json_data()
    errors = {field: [e["message"] for e in items] for field, items in found.items()}
    if problems:
        errors["sections"] = problems + errors.get("sections", [])
    errors.update(content_errors)
    return Status(422, {"detail": "The scenario was not saved.", "errors": errors})


@router.get(
    "/studies/{slug}/scenarios/{scenario_key}",
    response={200: ScenarioDetailOut, **ERRORS},
    url_name="scenario",
)
def scenario(request: HttpRequest, slug: str, scenario_key: str):
    """The active version of a scenario, in full (gold answers too)."""
    study = token_study(request, slug, roles.VIEW_DESIGN, Scope.READ)
    return ScenarioDetailOut(**_scenario_out(_active_scenario(study, scenario_key)))


@router.post(
    "/studies/{slug}/scenarios",
    response={201: ScenarioSavedOut, 422: FormErrorOut, **ERRORS},
    url_name="scenario_create",
)
def scenario_create(request: HttpRequest, slug: str, body: ScenarioIn):
    """A new scenario (version 1, active), validated as on the scenario page: key, title,
    sections, gold disposition and at least one gold condition are required."""
    study = token_study(request, slug, roles.CHANGE_STUDY, Scope.WRITE)
    return _scenario_save(request, study, None, body)


@router.patch(
    "/studies/{slug}/scenarios/{scenario_key}",
    response={200: ScenarioSavedOut, 422: FormErrorOut, **ERRORS},
    url_name="scenario_update",
)
def scenario_update(request: HttpRequest, slug: str, scenario_key: str, body: ScenarioIn):
    """Change the active version's fields given. A version participants or evaluations
    used is kept as they saw it: the change is the next version, now the active one
    (`new_version` says so)."""
    study = token_study(request, slug, roles.CHANGE_STUDY, Scope.WRITE)
    return _scenario_save(request, study, _active_scenario(study, scenario_key), body)


# --- Arms ---------------------------------------------------------------------------------


def _arm_out(arm: Arm) -> ArmDetailOut:
    return ArmDetailOut(
        key=arm.key,
        kind=arm.kind,
        participant_label=arm.participant_label,
        endpoint=arm.endpoint.name if arm.endpoint else None,
        model=arm.endpoint.model if arm.endpoint else None,
        system_prompt=arm.system_prompt,
        sampling_params=dict(arm.sampling_params),
        min_turns=arm.min_turns,
        max_turns=arm.max_turns,
        weight=arm.weight,
        reply_timeout_s=arm.reply_timeout_s,
        control_instructions=arm.control_instructions,
        blinding_terms=list(arm.blinding_terms),
    )


def _arm_data(arm: Arm) -> dict[str, Any]:
    """The arm's current values as the API names them (ArmIn)."""
    out = _arm_out(arm).model_dump()
    data = {name: out[name] for name in ArmIn.model_fields if name in out}
    data |= {name: arm.sampling_params.get(name) for name in ArmForm.SAMPLING}
    return data


def _arm_save(request: HttpRequest, study: Study, arm: Arm | None, body):
    given = _given(body)
    # A new arm starts from the values the arm page fills in (label, turns, weight, …).
    page_defaults = {n: f.initial for n, f in ArmForm.base_fields.items() if f.initial is not None}
    current = _arm_data(arm) if arm is not None else page_defaults
    values = {**current, **given}
    values["blinding_terms"] = "\n".join(values.get("blinding_terms") or [])
    form = ArmForm(
        {k: v for k, v in values.items() if v is not None},
        endpoints=endpoints_visible_to(request.user),
        arm=arm,
        locked=arm is not None and builder.arm_is_allocated(arm),
    )
    form.fields["endpoint"].to_field_name = "name"
    _refuse_fixed(form, given, current)
    if form.is_valid():
        try:
            saved = builder.arm_save(
                study=study, arm_id=arm.pk if arm else None, values=form.arm_values()
            )
        except builder.BuilderError as exc:
            form.add_error(None, str(exc))
        except ValidationError as exc:
            add_validation_error(form, exc)
        else:
            return Status(201 if arm is None else 200, _arm_out(saved))
    return form_errors(form, "The arm was not saved.")


def _arm(study: Study, key: str) -> Arm:
    return get_object_or_404(Arm.objects.select_related("endpoint"), study=study, key=key)


@router.get(
    "/studies/{slug}/arms/{arm_key}", response={200: ArmDetailOut, **ERRORS}, url_name="arm"
)
def arm(request: HttpRequest, slug: str, arm_key: str):
    """An arm in full: its endpoint by name and model, its prompt and parameters."""
    study = token_study(request, slug, roles.VIEW_DESIGN, Scope.READ)
    return _arm_out(_arm(study, arm_key))


@router.post(
    "/studies/{slug}/arms",
    response={201: ArmDetailOut, 422: FormErrorOut, **ERRORS},
    url_name="arm_create",
)
def arm_create(request: HttpRequest, slug: str, body: ArmIn):
    """A new arm, validated as on the arm page (an LLM arm needs an endpoint the user may
    use); refused once participants have been allocated."""
    study = token_study(request, slug, roles.CHANGE_STUDY, Scope.WRITE)
    return _arm_save(request, study, None, body)


@router.patch(
    "/studies/{slug}/arms/{arm_key}",
    response={200: ArmDetailOut, 422: FormErrorOut, **ERRORS},
    url_name="arm_update",
)
def arm_update(request: HttpRequest, slug: str, arm_key: str, body: ArmIn):
    """Change the arm's fields given; key, kind and weight are fixed once participants
    were allocated to it. `null` for temperature, top_p or max_tokens leaves it to the
    server's default."""
    study = token_study(request, slug, roles.CHANGE_STUDY, Scope.WRITE)
    return _arm_save(request, study, _arm(study, arm_key), body)
