"""Scenario import: HELPMed's published files, or a plain JSONL format of our own.

Reading (pure, no ORM) turns a file into ScenarioSpecs; `scenarios_import` writes them.
Importing the same file twice changes nothing. A changed scenario is updated in place
while nothing refers to it, and otherwise becomes a new version (tasks and evaluation
results keep the text they were given).

Plain JSONL (one JSON object a line; blank lines and lines starting with # are skipped):
  {"disposition_scale": {"slug": "three-level", "name": "Three levels",
     "levels": [{"value": 2, "code": "emergency", "label": "Emergency", "description": ""},
                ...]}}                                    (optional, at most once)
  {"key": "chest-pain", "title": "Scenario 1",
   "sections": [{"heading": "Your situation", "text": "You are playing the part of..."}],
   "gold_disposition": "emergency",                       (a level code, or its value)
   "gold_conditions": ["myocardial infarction", "angina"],
   "red_flags": ["myocardial infarction"],                (optional)
   "condition_synonyms": {"myocardial infarction": ["MI", "heart attack"]},  (optional)
   "rubric": [{"key": "advises-999", "text": "...", "points": 2,
               "applies_to": "model"}],                   (optional, studies.content)
   "key_facts": [{"key": "radiates-to-arm", "text": "...",
                  "patterns": ["left arm", "arm"]}],       (optional, studies.content)
   "provenance": "..."}                                   (optional)

HELPMed's scenarios.csv may carry `rubric` and `key_facts` columns too (JSON, as above);
theirs has none. A change to either is a change of the scenario, as for gold conditions.
"""

from __future__ import annotations

import ast
import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify

from studyapp.studies.history import config_save
from studyapp.studies.models import DispositionLevel, DispositionScale, Scenario, Study
from studyapp.studies.services import NHS_5_LEVELS, disposition_scale_get_or_create_default


class ScenarioImportError(Exception):
    """The file cannot be imported; the message says where and why."""


@dataclass(frozen=True)
class LevelSpec:
    value: int
    code: str
    label: str
    description: str = ""


@dataclass(frozen=True)
class ScaleSpec:
    slug: str
    name: str
    levels: tuple[LevelSpec, ...]
    description: str = ""


@dataclass(frozen=True)
class ScenarioSpec:
    key: str
    title: str
    sections: list[dict]
    # A level code of the study's scale, or its value as an int.
    gold_disposition: str | int
    gold_conditions: list[str]
    red_flags: list[str] = field(default_factory=list)
    condition_synonyms: dict[str, list[str]] = field(default_factory=dict)
    rubric: list[dict] = field(default_factory=list)
    key_facts: list[dict] = field(default_factory=list)
    provenance: str = ""


@dataclass(frozen=True)
class ImportBundle:
    scenarios: list[ScenarioSpec]
    # None: the default NHS-style 5-level scale.
    scale: ScaleSpec | None = None


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    new_versions: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.created)} created, {len(self.updated)} updated, "
            f"{len(self.new_versions)} new version(s), {len(self.unchanged)} unchanged"
        )


def _unique(terms: Sequence[str]) -> list[str]:
    # HELPMed's lists repeat a term now and then ("appendicitis" twice); a term is a term.
    return list(dict.fromkeys(t.strip() for t in terms if t and t.strip()))


# --- HELPMed ---------------------------------------------------------------------------

HELPMED_SECTIONS = (
    ("specific_case_details", "Specific case details"),
    ("general_life_details", "General life details"),
    ("additional_medical_history", "Additional medical history"),
)
HELPMED_CITATION = (
    "Bean et al., HELPMed (arXiv 2504.18919; Nature Medicine 2026). Licence of the "
    "original repository unknown: research use, cite the paper."
)


def helpmed_scenario_key(scenario_id: int | str) -> str:
    """The key a HELPMed scenario gets here; the model-answer import finds it by this."""
    return f"helpmed-{int(scenario_id)}"


def read_helpmed(directory: Path) -> ImportBundle:
    """HELPMed's scenarios.csv (gold standard) joined with scenarios_text.jsonl (texts).

    Gold conditions are HELPMed's `full_differential` and red flags its `red_flags`, the
    lists its own scoring used; the gold disposition is `urgency` (0-4) on the 5-level
    scale, checked against `urgency_text`. Titles are neutral ("Scenario 3"): the title
    is shown to participants and HELPMed's `condition` would give the answer away.
    """
    csv_path, text_path = directory / "scenarios.csv", directory / "scenarios_text.jsonl"
    for path in (csv_path, text_path):
        if not path.is_file():
            raise ScenarioImportError(f"{path} not found")
    texts: dict[int, dict] = {}
    for number, line in enumerate(text_path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                record = json.loads(line)
                texts[int(record["scenario_id"])] = record
            except (ValueError, KeyError, TypeError) as exc:
                raise ScenarioImportError(f"{text_path.name} line {number}: {exc}") from exc
    labels = {value: label for value, _code, label, _d in NHS_5_LEVELS}
    specs = []
    with csv_path.open(newline="", encoding="utf-8") as f:
        for number, row in enumerate(csv.DictReader(f), 2):
            where = f"{csv_path.name} line {number}"
            try:
                scenario_id = int(row["scenario_id"])
                urgency = int(row["urgency"])
                differential = ast.literal_eval(row["full_differential"])
                # Optional, as in our JSONL format: a missing or empty cell is no red flag.
                red_flags = ast.literal_eval((row.get("red_flags") or "").strip() or "[]")
            except (KeyError, ValueError, SyntaxError) as exc:
                raise ScenarioImportError(f"{where}: {exc}") from exc
            rubric = _json_cell(row, "rubric", where)
            key_facts = _json_cell(row, "key_facts", where)
            if urgency not in labels or not row.get("urgency_text", "").startswith(
                labels[urgency] + " ("
            ):
                raise ScenarioImportError(
                    f"{where}: urgency {urgency} does not match {row.get('urgency_text')!r}"
                )
            text = texts.get(scenario_id)
            if text is None:
                raise ScenarioImportError(f"{where}: no text for scenario {scenario_id}")
            sections = [
                {"heading": heading, "text": text[name].strip()}
                for name, heading in HELPMED_SECTIONS
                if text.get(name, "").strip()
            ]
            specs.append(
                ScenarioSpec(
                    key=helpmed_scenario_key(scenario_id),
                    title=f"Scenario {text.get('scenario_number') or len(specs) + 1}",
                    sections=sections,
                    gold_disposition=urgency,
                    gold_conditions=_unique(differential),
                    red_flags=_unique(red_flags),
                    rubric=rubric,
                    key_facts=key_facts,
                    provenance=(
                        f"HELPMed scenario {scenario_id} ({row.get('condition', '')}); "
                        f"{csv_path.name} + {text_path.name}. {HELPMED_CITATION}"
                    ),
                )
            )
    if not specs:
        raise ScenarioImportError(f"{csv_path} holds no scenarios")
    return ImportBundle(scenarios=specs)


def _json_cell(row: dict, name: str, where: str) -> list:
    """An optional CSV column holding a JSON list (rubric, key_facts); empty: none."""
    text = (row.get(name) or "").strip()
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ScenarioImportError(f"{where}: {name} is not JSON ({exc})") from exc
    return _object_list(value, where, name)


# --- Plain JSONL ----------------------------------------------------------------------


def _object_list(value, where: str, name: str) -> list[dict]:
    # Only the shape here; Scenario.clean() checks the fields (studies.content).
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ScenarioImportError(f"{where}: {name} must be a list of objects")
    return value


def _string_list(value, where: str, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ScenarioImportError(f"{where}: {name} must be a list of strings")
    return value


def _read_scale(data, where: str) -> ScaleSpec:
    try:
        levels = tuple(
            LevelSpec(
                value=int(level["value"]),
                code=str(level.get("code") or slugify(level["label"])),
                label=str(level["label"]),
                description=str(level.get("description", "")),
            )
            for level in data["levels"]
        )
        scale = ScaleSpec(
            slug=slugify(data["slug"]),
            name=str(data.get("name") or data["slug"]),
            description=str(data.get("description", "")),
            levels=levels,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ScenarioImportError(f"{where}: disposition_scale: {exc!r}") from exc
    if len(levels) < 2:
        raise ScenarioImportError(f"{where}: a disposition scale needs two levels or more")
    if len({lv.value for lv in levels}) != len(levels) or len({lv.code for lv in levels}) != len(
        levels
    ):
        raise ScenarioImportError(f"{where}: level values and codes must be unique")
    return scale


def read_jsonl(path: Path) -> ImportBundle:
    if not path.is_file():
        raise ScenarioImportError(f"{path} not found")
    scale: ScaleSpec | None = None
    specs: list[ScenarioSpec] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{path.name} line {number}"
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise ScenarioImportError(f"{where}: not JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise ScenarioImportError(f"{where}: expected an object")
        if "disposition_scale" in data:
            if scale is not None:
                raise ScenarioImportError(f"{where}: a second disposition_scale")
            scale = _read_scale(data["disposition_scale"], where)
            continue
        missing = {"key", "sections", "gold_disposition", "gold_conditions"} - set(data)
        if missing:
            raise ScenarioImportError(f"{where}: missing {', '.join(sorted(missing))}")
        sections = data["sections"]
        if not isinstance(sections, list) or not all(
            isinstance(s, dict) and isinstance(s.get("text"), str) and s["text"].strip()
            for s in sections
        ):
            raise ScenarioImportError(f"{where}: sections must be [{{heading, text}}, ...]")
        synonyms = data.get("condition_synonyms") or {}
        if not isinstance(synonyms, dict):
            raise ScenarioImportError(f"{where}: condition_synonyms must be an object")
        key = slugify(str(data["key"]))
        if not key:
            raise ScenarioImportError(f"{where}: empty key")
        gold = data["gold_disposition"]
        if not isinstance(gold, str | int) or isinstance(gold, bool):
            raise ScenarioImportError(f"{where}: gold_disposition must be a code or a value")
        specs.append(
            ScenarioSpec(
                key=key,
                title=str(data.get("title") or f"Scenario {len(specs) + 1}"),
                sections=[
                    {"heading": str(s.get("heading", "")), "text": s["text"].strip()}
                    for s in sections
                ],
                gold_disposition=gold,
                gold_conditions=_unique(
                    _string_list(data["gold_conditions"], where, "gold_conditions")
                ),
                # Optional: absent or null is no red flag.
                red_flags=_unique(_string_list(data.get("red_flags") or [], where, "red_flags")),
                condition_synonyms={
                    str(term): _unique(_string_list(names, where, "condition_synonyms"))
                    for term, names in synonyms.items()
                },
                rubric=_object_list(data.get("rubric") or [], where, "rubric"),
                key_facts=_object_list(data.get("key_facts") or [], where, "key_facts"),
                provenance=str(data.get("provenance", "")),
            )
        )
    keys = [s.key for s in specs]
    if len(set(keys)) != len(keys):
        raise ScenarioImportError(f"{path.name}: a scenario key appears twice")
    if not specs:
        raise ScenarioImportError(f"{path.name} holds no scenarios")
    return ImportBundle(scenarios=specs, scale=scale)


def read_scenarios(path: Path, *, format: str) -> ImportBundle:
    if format == "helpmed":
        return read_helpmed(path)
    if format == "jsonl":
        return read_jsonl(path)
    raise ScenarioImportError(f"unknown format {format!r}")


# --- Writing --------------------------------------------------------------------------


def disposition_scale_get_or_create(spec: ScaleSpec) -> DispositionScale:
    """The scale `spec` describes; an existing scale of that slug must have its levels."""
    scale, created = DispositionScale.objects.get_or_create(
        slug=spec.slug, defaults={"name": spec.name, "description": spec.description}
    )
    wanted = {(lv.value, lv.code) for lv in spec.levels}
    if created:
        DispositionLevel.objects.bulk_create(
            DispositionLevel(
                scale=scale,
                value=lv.value,
                code=lv.code,
                label=lv.label,
                description=lv.description,
            )
            for lv in spec.levels
        )
    elif set(scale.levels.values_list("value", "code")) != wanted:
        raise ScenarioImportError(
            f"disposition scale {spec.slug!r} exists with other levels; give it a new slug"
        )
    return scale


def study_get_or_create_for_import(
    *, slug: str, title: str | None, scale_spec: ScaleSpec | None
) -> Study:
    """The study to import into; created (as a draft) when missing."""
    scale = (
        disposition_scale_get_or_create(scale_spec)
        if scale_spec
        else disposition_scale_get_or_create_default()
    )
    study = Study.objects.filter(slug=slug).first()
    if study is None:
        study = Study(
            slug=slug,
            title=title or slug,
            disposition_scale=scale,
            consent_text="Please read the information sheet. Do you agree to take part?",
            instructions_text=(
                "Read each scenario as if it were happening to you, then answer the questions."
            ),
        )
        try:
            study.full_clean()
        except ValidationError as exc:
            raise ScenarioImportError(f"study {slug!r}: {exc.message_dict}") from exc
        study.save()
    elif study.disposition_scale_id != scale.pk:
        raise ScenarioImportError(
            f"study {slug!r} uses the scale {study.disposition_scale.slug!r}, "
            f"the file {scale.slug!r}"
        )
    return study


_COMPARED = (
    "title",
    "sections",
    "gold_conditions",
    "red_flags",
    "condition_synonyms",
    "rubric",
    "key_facts",
    "provenance",
)


def _is_referenced(scenario: Scenario) -> bool:
    # Reverse relations by name: studies must not import the apps that point at it.
    return scenario.tasks.exists() or scenario.evaluation_items.exists()


@transaction.atomic
def scenarios_import(*, study: Study, bundle: ImportBundle) -> ImportResult:
    levels = {lv.code: lv for lv in study.disposition_scale.levels.all()}
    by_value = {lv.value: lv for lv in levels.values()}
    existing = {
        s.key: s for s in Scenario.objects.filter(study=study).active().select_for_update()
    }
    result = ImportResult()
    for spec in bundle.scenarios:
        gold = spec.gold_disposition
        level = by_value.get(gold) if isinstance(gold, int) else levels.get(gold)
        if level is None:
            raise ScenarioImportError(
                f"scenario {spec.key}: {gold!r} is not a level of {study.disposition_scale.slug}"
            )
        values = {
            "title": spec.title,
            "sections": spec.sections,
            "gold_conditions": spec.gold_conditions,
            "red_flags": spec.red_flags,
            "condition_synonyms": spec.condition_synonyms,
            "rubric": spec.rubric,
            "key_facts": spec.key_facts,
            "provenance": spec.provenance,
        }
        current = existing.get(spec.key)
        if (
            current is not None
            and current.gold_disposition_id == level.pk
            and all(getattr(current, name) == values[name] for name in _COMPARED)
        ):
            result.unchanged.append(spec.key)
            continue
        if current is not None and not _is_referenced(current):
            for name, value in values.items():
                setattr(current, name, value)
            current.gold_disposition = level
            _save(current, spec.key)
            result.updated.append(spec.key)
            continue
        version = 1
        if current is not None:
            version = (
                max(
                    Scenario.objects.filter(study=study, key=spec.key).values_list(
                        "version", flat=True
                    )
                )
                + 1
            )
            # Saved (its row is locked above), so the history keeps the deactivation.
            current.is_active = False
            config_save(current, fields=["is_active"])
        scenario = Scenario(
            study=study, key=spec.key, version=version, gold_disposition=level, **values
        )
        _save(scenario, spec.key)
        (result.new_versions if current is not None else result.created).append(spec.key)
    return result


def _save(scenario: Scenario, key: str) -> None:
    try:
        scenario.full_clean()
    except ValidationError as exc:
        raise ScenarioImportError(f"scenario {key}: {exc.message_dict}") from exc
    scenario.save()
