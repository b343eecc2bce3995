"""Study design files: a whole study design as one versioned, human-readable JSON file.

A team shares its materials, and a replication starts, from such a file:
`design_export(study)` writes it, `design_import(data, slug=...)` creates a new draft study
from it (commands `export_design` / `import_design`; the study page's "Download the
design" and the study list's "New study from a design file").

The file (pretty-printed JSON, keys in the order below; every key is the model field's
name, so the admin's help texts document the values)::

    {"format": "studyapp-design", "version": 1,
     "study": {slug, title, public_title, ... every setting and text of STUDY_FIELDS},
     "allocation": {allocation_method, allocation_block_sizes, stratum_source, ...},
     "disposition_scale": {slug, name, description, levels: [{value, code, label, ...}]},
     "endpoints": [{name, base_url, model, api_key_env, ...}],      (never a key)
     "arms": [{key, kind, ..., "endpoint": an endpoint's name, or null}],
     "scenarios": [{key, title, sections, "gold_disposition": a level code, ...,
                    "translations": [{language, method, ..., title, sections}]}],
     "translations": [{language, method, ..., consent_text, ...}],  (StudyTranslation)
     "analysis_plan": {the current plan's content (studies.analysis_plan)},
     "questionnaires": [{key, title, ..., "items": [...],
                         "translations": [...]}]}   (questionnaires.design)

What is left out, and why (a test checks that every model field is either written or
named here, so a field added later cannot be lost silently):

- Every `id` and foreign key (`study`, `scale`, `scenario`): rows are linked by their
  natural keys in the file (arm key, scenario key, level code, endpoint name).
- `created_at` / `updated_at`, and the plan's `created_at`: when this copy was written.
- `Study.slug` and `title` are written for the reader but the importer is given the new
  slug (and may be given a title): two studies cannot share a slug.
- `Study.status`: an imported study is always a draft.
- `Study.allocation_seed`: the key to the allocation sequence, a secret of one study.
  A new study gets a fresh seed (the model's default): a copy with the same seed would
  let whoever holds the file predict the original's arms, and a replication must not
  repeat the original's sequence either.
- Members (`StudyMembership`): people, not design; the importing user becomes owner.
- `Study.require_mfa`: who may read the study's data, as members are, not design; a new
  study starts without participants' data, and its owner decides.
- `ModelEndpoint.owner`: who made the endpoint on this server, not design.
- `DispositionScale.owner`: who made the scale in the builder, not design; a scale the
  file creates has none (built in: copied, never changed, in the builder).
- `Study.condition_labels`: a mirror of the analysis plan's `condition_labels`, which
  the file carries; the importer sets it from the plan.
- `Scenario.version` and `is_active`: only active versions are written; in the new study
  each is version 1 (earlier versions are the original's data history, not its design).
- `AnalysisPlan`'s other fields (version, sha256, created_by, reason, locked_at,
  design_sha256): the new study's plan is a draft until its own first allocation; the
  same content gives the same sha256.
- Secrets: a `ModelEndpoint` holds none (only `api_key_env`, the *name* of the variable
  holding the key), so the file names that variable and never holds a key.

Endpoints are shared between studies: an imported endpoint is matched to an existing one
with the same name, base URL and model (which is then used as it is), else created (a
name already taken by another endpoint gets " (<new slug>)" added). The caller chooses
which endpoints may be matched and whether new ones may be created: only superusers
create endpoints, because an endpoint's key is sent to its base URL (accounts.permissions).

Questionnaires are written and read by studyapp.questionnaires.design (which says what it
leaves out); the section is optional, so a file written before questionnaires existed
still imports. That app sits above this one (its answers belong to participants), so it is
imported inside the functions that need it.

Translations keep their `source_digest`: a translation that was out of date in the
original is out of date in the copy. An empty digest in a hand-written file means "made
from the source as it is now".
"""

from __future__ import annotations

import copy
import datetime
import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.db.models import QuerySet

from studyapp.studies import analysis_plan
from studyapp.studies.members import membership_grant
from studyapp.studies.models import (
    AnalysisPlan,
    Arm,
    DispositionLevel,
    DispositionScale,
    ModelEndpoint,
    Scenario,
    ScenarioTranslation,
    Study,
    StudyTranslation,
    Translation,
)
from studyapp.studies.roles import Role
from studyapp.studies.services import plan_save

FORMAT = "studyapp-design"
VERSION = 1

STUDY_FIELDS = (
    "slug",
    "title",
    "public_title",
    "languages",
    "scenarios_per_participant",
    "consent_text",
    "instructions_text",
    "disposition_question",
    "conditions_question",
    "screening_question",
    "screening_options",
    "check_question",
    "check_options",
    "check_answer",
    "check_attempts",
    "quota_per_arm",
    "quota_per_cell",
    "time_limit_minutes",
    "timed_out_count_toward_quota",
    "technical_exit_after",
    "completion_code",
    "completion_url",
    "prolific_study_id",
    "code_screened_out",
    "code_timed_out",
    "code_failed_check",
    "code_study_full",
    "code_technical_problem",
    "blinding_action",
    "blinding_replacement",
)
ALLOCATION_FIELDS = (
    "allocation_method",
    "allocation_block_sizes",
    "stratum_source",
    "stratum_parameter",
    "stratum_values",
)
SCALE_FIELDS = ("slug", "name", "description")
LEVEL_FIELDS = ("value", "code", "label", "description")
ENDPOINT_FIELDS = (
    "name",
    "base_url",
    "model",
    "api_key_env",
    "is_scripted",
    "is_test_model",
    "timeout_s",
    "max_concurrent_streams",
    "evaluation_concurrency",
    "price_prompt_per_million",
    "price_completion_per_million",
)
ARM_FIELDS = (
    "key",
    "kind",
    "participant_label",
    "endpoint",
    "system_prompt",
    "sampling_params",
    "min_turns",
    "max_turns",
    "weight",
    "reply_timeout_s",
    "control_instructions",
    "blinding_terms",
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
TRANSLATION_FIELDS = ("language", *Translation.PROVENANCE_FIELDS, "source_digest")
STUDY_TRANSLATION_FIELDS = (*TRANSLATION_FIELDS, *StudyTranslation.TEXT_FIELDS)
SCENARIO_TRANSLATION_FIELDS = (*TRANSLATION_FIELDS, "title", "sections")

# The model fields the file does not carry (the module docstring says why).
LEFT_OUT: dict[type[models.Model], frozenset[str]] = {
    Study: frozenset(
        {
            "id",
            "created_at",
            "updated_at",
            "status",
            "allocation_seed",
            "condition_labels",
            "disposition_scale",
            "require_mfa",
        }
    ),
    DispositionScale: frozenset({"id", "created_at", "updated_at", "owner"}),
    DispositionLevel: frozenset({"id", "scale"}),
    ModelEndpoint: frozenset({"id", "created_at", "updated_at", "owner"}),
    Arm: frozenset({"id", "created_at", "updated_at", "study"}),
    Scenario: frozenset({"id", "created_at", "updated_at", "study", "version", "is_active"}),
    StudyTranslation: frozenset({"id", "created_at", "updated_at", "study"}),
    ScenarioTranslation: frozenset({"id", "created_at", "updated_at", "scenario"}),
    AnalysisPlan: frozenset(
        {
            "id",
            "study",
            "version",
            "sha256",
            "created_at",
            "created_by",
            "reason",
            "locked_at",
            "design_sha256",
        }
    ),
}
# What the file writes of each model (the plan: its `content`).
WRITTEN: dict[type[models.Model], tuple[str, ...]] = {
    Study: (*STUDY_FIELDS, *ALLOCATION_FIELDS),
    DispositionScale: SCALE_FIELDS,
    DispositionLevel: LEVEL_FIELDS,
    ModelEndpoint: ENDPOINT_FIELDS,
    Arm: ARM_FIELDS,
    Scenario: SCENARIO_FIELDS,
    StudyTranslation: STUDY_TRANSLATION_FIELDS,
    ScenarioTranslation: SCENARIO_TRANSLATION_FIELDS,
    AnalysisPlan: ("content",),
}

TOP_LEVEL = (
    "format",
    "version",
    "study",
    "allocation",
    "disposition_scale",
    "endpoints",
    "arms",
    "scenarios",
    "translations",
    "analysis_plan",
    "questionnaires",
)
# Sections a file may lack (older files): an absent one is empty.
OPTIONAL = frozenset({"questionnaires"})
IMPORT_REASON = "Imported from a design file"


class DesignFileError(Exception):
    """The file cannot be imported; `errors` names each object and field at fault."""

    def __init__(self, errors: Iterable[str]):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


# --- Export ------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    # Prices are decimals: written as strings so that no digit changes on the way.
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return copy.deepcopy(value)


def _values(obj: models.Model, fields: Iterable[str], **linked: Any) -> dict[str, Any]:
    """The fields in their order; `linked`: a related row's natural key in its place."""
    return {
        name: linked[name] if name in linked else _json_value(getattr(obj, name))
        for name in fields
    }


def _current_plan_content(study: Study) -> dict[str, Any]:
    """The newest plan version's content; HELPMed's default for a study that has none
    yet, as plan_current would store it (an export reads, it does not write)."""
    plan = AnalysisPlan.objects.filter(study=study).order_by("-version").first()
    if plan is None:
        return analysis_plan.default_plan(condition_labels=study.condition_labels)
    return copy.deepcopy(plan.content)


def design_export(study: Study) -> dict[str, Any]:
    """The study's design as a JSON-able dict (design_dumps writes it)."""
    from studyapp.questionnaires.design import questionnaires_export

    scale = study.disposition_scale
    levels = list(scale.levels.order_by("-value"))
    by_level_id = {level.pk: level.code for level in levels}
    arms = list(study.arms.select_related("endpoint").order_by("key"))
    endpoints: dict[int, ModelEndpoint] = {}
    for arm in arms:
        if arm.endpoint is not None:
            endpoints.setdefault(arm.endpoint.pk, arm.endpoint)
    scenarios = list(study.scenarios.active().order_by("key").prefetch_related("translations"))
    return {
        "format": FORMAT,
        "version": VERSION,
        "study": _values(study, STUDY_FIELDS),
        "allocation": _values(study, ALLOCATION_FIELDS),
        "disposition_scale": {
            **_values(scale, SCALE_FIELDS),
            "levels": [_values(level, LEVEL_FIELDS) for level in levels],
        },
        "endpoints": [
            _values(endpoint, ENDPOINT_FIELDS)
            for endpoint in sorted(endpoints.values(), key=lambda e: e.name)
        ],
        "arms": [
            _values(arm, ARM_FIELDS, endpoint=arm.endpoint.name if arm.endpoint else None)
            for arm in arms
        ],
        "scenarios": [
            {
                **_values(
                    scenario,
                    SCENARIO_FIELDS,
                    gold_disposition=by_level_id[scenario.gold_disposition_id],
                ),
                "translations": [
                    _values(t, SCENARIO_TRANSLATION_FIELDS)
                    for t in sorted(scenario.translations.all(), key=lambda t: t.language)
                ],
            }
            for scenario in scenarios
        ],
        "translations": [
            _values(t, STUDY_TRANSLATION_FIELDS) for t in study.translations.order_by("language")
        ],
        "analysis_plan": _current_plan_content(study),
        "questionnaires": questionnaires_export(study),
    }


def _ordered(data: Mapping[str, Any], order: Iterable[str]) -> dict[str, Any]:
    keys = list(order)
    return {k: data[k] for k in keys if k in data} | {
        k: v for k, v in data.items() if k not in keys
    }


def design_dumps(data: Mapping[str, Any]) -> str:
    """Pretty-printed, non-ASCII kept (texts stay readable in any language), keys in the
    documented order, a final newline: a diff of two designs reads line by line."""
    return json.dumps(_ordered(data, TOP_LEVEL), indent=2, ensure_ascii=False) + "\n"


def design_loads(text: str | bytes) -> Any:
    """The file's JSON; DesignFileError when it is not JSON."""
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DesignFileError([f"the file is not JSON: {exc}"]) from exc


# --- Checking the file's shape (pure) ------------------------------------------------------


def _expected_type(field: models.Field) -> tuple[tuple[type, ...], str] | None:
    """The JSON types a field's value may have in the file, and their name in words;
    None: any JSON (a JSONField, whose model's clean() checks the shape)."""
    if isinstance(field, models.JSONField):
        return None
    if isinstance(field, models.BooleanField):
        return (bool,), "true or false"
    if isinstance(field, models.IntegerField):
        return (int,), "a whole number"
    if isinstance(field, models.FloatField):
        return (int, float), "a number"
    if isinstance(field, models.DecimalField):
        return (str, int), 'a decimal number in a string, e.g. "2.5000"'
    # Char, Text, Slug, URL, Date (ISO text), and choices.
    return (str,), "text"


def _shape_errors(
    obj: Any,
    where: str,
    model: type[models.Model],
    fields: Iterable[str],
    *,
    extra: Mapping[str, str] | None = None,
) -> list[str]:
    """Every field present, no unknown one, each of the right JSON type. `extra`: keys
    that are not model fields (name -> the type in words), checked by the caller."""
    if not isinstance(obj, dict):
        return [f"{where}: an object"]
    fields = tuple(fields)
    extra = extra or {}
    expected = set(fields) | set(extra)
    errors = []
    missing = [f for f in (*fields, *extra) if f not in obj]
    if missing:
        errors.append(f"{where}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(obj) - expected)
    if unknown:
        errors.append(f"{where}: unknown field(s) {', '.join(unknown)}")
    for name in fields:
        if name not in obj or name in extra:
            continue
        field = model._meta.get_field(name)
        value = obj[name]
        if value is None:
            if not field.null:
                errors.append(f"{where}.{name}: may not be null")
            continue
        kind = _expected_type(field)
        if kind is None:
            continue
        types, words = kind
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            errors.append(f"{where}.{name}: {words}, not {json.dumps(value)[:60]}")
    return errors


def _name(obj: Any, key: str, index: int) -> str:
    value = obj.get(key) if isinstance(obj, dict) else None
    return (
        str(value) if isinstance(value, str | int) and not isinstance(value, bool) else str(index)
    )


def _list_errors(data: Mapping[str, Any], key: str) -> list[str]:
    return [] if isinstance(data.get(key), list) else [f"{key}: a list"]


def design_check(data: Any) -> list[str]:
    """Every problem of the file's header and shape, without touching the database."""
    if not isinstance(data, dict):
        return ["the file holds a JSON object"]
    if data.get("format") != FORMAT:
        return [f'format: not a studyapp design file (expected "format": "{FORMAT}")']
    if data.get("version") != VERSION:
        return [
            f"version: this file is version {json.dumps(data.get('version'))}; "
            f"this studyapp reads version {VERSION}"
        ]
    errors = []
    missing = [k for k in TOP_LEVEL if k not in data and k not in OPTIONAL]
    if missing:
        errors.append(f"missing section(s) {', '.join(missing)}")
    unknown = sorted(set(data) - set(TOP_LEVEL))
    if unknown:
        errors.append(f"unknown section(s) {', '.join(unknown)}")
    if errors:
        return errors
    errors += _shape_errors(data["study"], "study", Study, STUDY_FIELDS)
    errors += _shape_errors(data["allocation"], "allocation", Study, ALLOCATION_FIELDS)
    scale = data["disposition_scale"]
    errors += _shape_errors(
        scale, "disposition_scale", DispositionScale, SCALE_FIELDS, extra={"levels": "a list"}
    )
    if isinstance(scale, dict) and isinstance(scale.get("levels"), list):
        for i, level in enumerate(scale["levels"]):
            where = f"disposition_scale.levels[{_name(level, 'code', i)}]"
            errors += _shape_errors(level, where, DispositionLevel, LEVEL_FIELDS)
    elif isinstance(scale, dict) and "levels" in scale:
        errors.append("disposition_scale.levels: a list")
    for section in ("endpoints", "arms", "scenarios", "translations"):
        errors += _list_errors(data, section)
    for i, endpoint in enumerate(data["endpoints"] if isinstance(data["endpoints"], list) else []):
        where = f"endpoints[{_name(endpoint, 'name', i)}]"
        errors += _shape_errors(endpoint, where, ModelEndpoint, ENDPOINT_FIELDS)
    for i, arm in enumerate(data["arms"] if isinstance(data["arms"], list) else []):
        where = f"arms[{_name(arm, 'key', i)}]"
        errors += _shape_errors(
            arm,
            where,
            Arm,
            (f for f in ARM_FIELDS if f != "endpoint"),
            extra={"endpoint": "an endpoint's name or null"},
        )
        if isinstance(arm, dict) and not isinstance(arm.get("endpoint"), str | None):
            errors.append(f"{where}.endpoint: an endpoint's name, or null")
    for i, scenario in enumerate(data["scenarios"] if isinstance(data["scenarios"], list) else []):
        where = f"scenarios[{_name(scenario, 'key', i)}]"
        errors += _shape_errors(
            scenario,
            where,
            Scenario,
            (f for f in SCENARIO_FIELDS if f != "gold_disposition"),
            extra={"gold_disposition": "a level code", "translations": "a list"},
        )
        if not isinstance(scenario, dict):
            continue
        if "gold_disposition" in scenario and not isinstance(scenario["gold_disposition"], str):
            errors.append(f"{where}.gold_disposition: a level code of the disposition scale")
        translations = scenario.get("translations")
        if "translations" in scenario and not isinstance(translations, list):
            errors.append(f"{where}.translations: a list")
            continue
        for j, translation in enumerate(translations or []):
            errors += _shape_errors(
                translation,
                f"{where}.translations[{_name(translation, 'language', j)}]",
                ScenarioTranslation,
                SCENARIO_TRANSLATION_FIELDS,
            )
    translations = data["translations"]
    for i, translation in enumerate(translations if isinstance(translations, list) else []):
        errors += _shape_errors(
            translation,
            f"translations[{_name(translation, 'language', i)}]",
            StudyTranslation,
            STUDY_TRANSLATION_FIELDS,
        )
    if not isinstance(data["analysis_plan"], dict):
        errors.append("analysis_plan: an object (studies.analysis_plan)")
    if "questionnaires" in data:
        from studyapp.questionnaires.design import questionnaires_check

        errors += questionnaires_check(data["questionnaires"])
    return errors


# --- Import ------------------------------------------------------------------------------


def _validation_errors(exc: ValidationError, where: str) -> list[str]:
    out = []
    for field, messages in exc.message_dict.items():
        prefix = where if field == NON_FIELD_ERRORS else f"{where}.{field}"
        out += [f"{prefix}: {message}" for message in messages]
    return out


def _clean_and_save(obj: models.Model, where: str, errors: list[str], **kwargs) -> bool:
    try:
        obj.full_clean(**kwargs)
    except ValidationError as exc:
        errors += _validation_errors(exc, where)
        return False
    obj.save()
    return True


def _scale_matches(scale: DispositionScale, spec: Mapping[str, Any]) -> bool:
    levels = [tuple(level[f] for f in LEVEL_FIELDS) for level in spec["levels"]]
    return (scale.name, scale.description) == (spec["name"], spec["description"]) and sorted(
        scale.levels.values_list(*LEVEL_FIELDS)
    ) == sorted(levels)


def _scale_import(spec: Mapping[str, Any], errors: list[str]) -> DispositionScale | None:
    """The scale the file describes: an existing one with the same slug, name,
    description and levels, else a new one. Scales are shared between studies, so one
    that differs is never changed: the file's scale goes under `<slug>-2` (or the next
    free number; one already equal to the file's is used)."""
    if len(spec["levels"]) < 2:
        errors.append("disposition_scale.levels: a scale needs two levels or more")
        return None
    slug, n = spec["slug"], 1
    while (existing := DispositionScale.objects.filter(slug=slug).first()) is not None:
        if _scale_matches(existing, spec):
            return existing
        n += 1
        slug = f"{spec['slug']}-{n}"
    scale = DispositionScale(slug=slug, name=spec["name"], description=spec["description"])
    if not _clean_and_save(scale, "disposition_scale", errors):
        return None
    for i, level_spec in enumerate(spec["levels"]):
        level = DispositionLevel(scale=scale, **{f: level_spec[f] for f in LEVEL_FIELDS})
        where = f"disposition_scale.levels[{_name(level_spec, 'code', i)}]"
        _clean_and_save(level, where, errors)
    return scale


def _free_endpoint_name(name: str, slug: str) -> str:
    candidate = f"{name} ({slug})"
    n = 2
    while ModelEndpoint.objects.filter(name=candidate).exists():
        candidate = f"{name} ({slug} {n})"
        n += 1
    return candidate


def _endpoints_import(
    specs: list[dict[str, Any]],
    *,
    slug: str,
    pool: QuerySet[ModelEndpoint],
    may_create: bool,
    errors: list[str],
) -> dict[str, ModelEndpoint]:
    by_name: dict[str, ModelEndpoint] = {}
    for spec in specs:
        where = f"endpoints[{spec['name']}]"
        if spec["name"] in by_name:
            errors.append(f"{where}: the file names this endpoint twice")
            continue
        match = pool.filter(
            name=spec["name"], base_url=spec["base_url"], model=spec["model"]
        ).first()
        if match is not None:
            by_name[spec["name"]] = match
            continue
        if not may_create:
            errors.append(
                f"{where}: no endpoint of your studies has this name, base URL "
                f"({spec['base_url']}) and model ({spec['model']}); only an administrator "
                "creates endpoints (an endpoint's key is sent to its URL): ask one to add "
                "it, or to import the file with `manage.py import_design`, or edit the "
                "file to name one of yours"
            )
            continue
        values = {f: spec[f] for f in ENDPOINT_FIELDS}
        if ModelEndpoint.objects.filter(name=values["name"]).exists():
            values["name"] = _free_endpoint_name(values["name"], slug)
        endpoint = ModelEndpoint(**values)
        if _clean_and_save(endpoint, where, errors):
            by_name[spec["name"]] = endpoint
    return by_name


def _study_import(
    data: Mapping[str, Any], *, slug: str, title: str | None, scale: DispositionScale, errors
) -> Study | None:
    values = {f: data["study"][f] for f in STUDY_FIELDS if f not in ("slug", "title")}
    values |= {f: data["allocation"][f] for f in ALLOCATION_FIELDS}
    plan_labels = data["analysis_plan"].get("condition_labels")
    study = Study(
        slug=slug,
        title=title or data["study"]["title"],
        status=Study.Status.DRAFT,
        disposition_scale=scale,
        # The plan's choice, so storing the plan records no change of it (plan_save).
        condition_labels=plan_labels
        if plan_labels in Study.ConditionLabels.values
        else Study.ConditionLabels.MATCHER,
        **values,
    )
    return study if _clean_and_save(study, "study", errors) else None


def _translation(model, spec: Mapping[str, Any], fields: Iterable[str], **links):
    translation = model(**links, **{f: spec[f] for f in fields})
    if not translation.source_digest:
        translation.record_source()
    return translation


def _raise_if(errors: list[str]) -> None:
    if errors:
        raise DesignFileError(errors)


@transaction.atomic
def design_import(
    data: Any,
    *,
    slug: str,
    title: str | None = None,
    user=None,
    endpoints: QuerySet[ModelEndpoint] | None = None,
    may_create_endpoints: bool = True,
) -> Study:
    """Create a draft study from a design file's data (design_loads), in one transaction:
    DesignFileError (every problem, each naming its object and field) creates nothing.

    `user` becomes an investigator of the study and the author of its plan. `endpoints`:
    those the file's endpoints may be matched to (None: every endpoint);
    `may_create_endpoints`: whether an unmatched one is created (else refused).
    """
    _raise_if(design_check(data))
    errors: list[str] = []
    scale = _scale_import(data["disposition_scale"], errors)
    by_endpoint = _endpoints_import(
        data["endpoints"],
        slug=slug,
        pool=ModelEndpoint.objects.all() if endpoints is None else endpoints,
        may_create=may_create_endpoints,
        errors=errors,
    )
    _raise_if(errors)
    assert scale is not None
    study = _study_import(data, slug=slug, title=title, scale=scale, errors=errors)
    _raise_if(errors)
    assert study is not None
    if user is not None:
        membership_grant(study=study, user=user, role=Role.OWNER, granted_by=user)

    for spec in data["arms"]:
        where = f"arms[{spec['key']}]"
        endpoint = None
        if spec["endpoint"] is not None:
            endpoint = by_endpoint.get(spec["endpoint"])
            if endpoint is None:
                errors.append(
                    f"{where}.endpoint: no endpoint named {spec['endpoint']!r} in the file"
                )
                continue
        values = {f: spec[f] for f in ARM_FIELDS if f != "endpoint"}
        _clean_and_save(Arm(study=study, endpoint=endpoint, **values), where, errors)

    levels = {level.code: level for level in scale.levels.all()}
    scenarios: list[tuple[Scenario, Mapping[str, Any]]] = []
    for spec in data["scenarios"]:
        where = f"scenarios[{spec['key']}]"
        level = levels.get(spec["gold_disposition"])
        if level is None:
            errors.append(
                f"{where}.gold_disposition: {spec['gold_disposition']!r} is not a level code "
                f"of the file's disposition scale ({', '.join(levels)})"
            )
            continue
        values = {f: spec[f] for f in SCENARIO_FIELDS if f != "gold_disposition"}
        scenario = Scenario(
            study=study, version=1, is_active=True, gold_disposition=level, **values
        )
        if _clean_and_save(scenario, where, errors):
            scenarios.append((scenario, spec))
    _raise_if(errors)

    # After the arms and scenarios: a translation's digest is of them (translation_sources).
    for scenario, spec in scenarios:
        for t_spec in spec["translations"]:
            translation = _translation(
                ScenarioTranslation, t_spec, SCENARIO_TRANSLATION_FIELDS, scenario=scenario
            )
            where = f"scenarios[{spec['key']}].translations[{t_spec['language']}]"
            _clean_and_save(translation, where, errors)
    for t_spec in data["translations"]:
        translation = _translation(StudyTranslation, t_spec, STUDY_TRANSLATION_FIELDS, study=study)
        _clean_and_save(translation, f"translations[{t_spec['language']}]", errors)
    _raise_if(errors)

    from studyapp.questionnaires.design import questionnaires_import

    questionnaires_import(study=study, section=data.get("questionnaires", []), errors=errors)
    _raise_if(errors)

    try:
        plan_save(
            study=study, content=data["analysis_plan"], changed_by=user, reason=IMPORT_REASON
        )
    except analysis_plan.PlanError as exc:
        raise DesignFileError([f"analysis_plan: {e}" for e in exc.errors]) from exc
    return study
