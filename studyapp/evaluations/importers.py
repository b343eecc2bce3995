"""Published model answers as evaluation results, scored by our own scorer.

HELPMed's direct_trials_condition.csv holds 1,800 model-alone answers (600 per model) to
the scenario questions. Each model becomes one model-alone EvaluationRun of the study
("helpmed-gpt-4o"), each answer one item, scored against the study's scenarios (import
them first with `import_scenarios --format helpmed`). HELPMed's own labels are kept in
`parsed["helpmed"]` for comparison; they are not used to score.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.scoring.answers import score_answer
from studyapp.scoring.conditions import conditions_part
from studyapp.studies.importers import HELPMED_CITATION, helpmed_scenario_key
from studyapp.studies.models import Scenario, Study


class ModelAnswerImportError(Exception):
    """The file cannot be imported; the message says where and why."""


@dataclass(frozen=True)
class ImportedRun:
    key: str
    model: str
    items: int
    conditions_correct: int
    # HELPMed's own `differential_correct` count over the same answers.
    reference_correct: int


# The model-alone protocol of the paper (SCIENCE.md): zero-shot, these sampling settings.
HELPMED_CONFIG = {
    "format": "helpmed",
    "question": "conditions",
    "two_part": True,
    "sampling_params": {"temperature": 0.8, "top_p": 0.9, "max_tokens": 256},
}

_REQUIRED = {"model", "scenario_id", "model_text"}
_ITEM_FIELDS = [
    "scenario",
    "status",
    "response",
    "parsed",
    "matched_conditions",
    "matched_red_flags",
    "conditions_correct",
    "scorer_version",
]


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _bool(value: str) -> bool | None:
    return {"True": True, "False": False}.get((value or "").strip())


def _int(value: str) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def helpmed_run_key(model: str) -> str:
    return f"helpmed-{slugify(model)}"[:100]


def read_helpmed_rows(path: Path) -> list[dict]:
    if not path.is_file():
        raise ModelAnswerImportError(f"{path} not found")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = _REQUIRED - set(reader.fieldnames or ())
        if missing:
            raise ModelAnswerImportError(f"{path.name}: missing columns {sorted(missing)}")
        rows = list(reader)
    if not rows:
        raise ModelAnswerImportError(f"{path.name} holds no answers")
    return rows


@transaction.atomic
def model_answers_import_helpmed(*, study: Study, path: Path) -> list[ImportedRun]:
    """Load HELPMed's model-alone answers into one run per model (idempotent)."""
    rows = read_helpmed_rows(path)
    scenarios = {
        s.key: s for s in Scenario.objects.filter(study=study, key__startswith="helpmed-").active()
    }
    wanted = {helpmed_scenario_key(row["scenario_id"]) for row in rows if row["scenario_id"]}
    missing = sorted(wanted - set(scenarios))
    if missing:
        raise ModelAnswerImportError(
            f"study {study.slug} lacks scenarios {', '.join(missing)}: "
            "import them first (import_scenarios --format helpmed)"
        )
    source = f"{path.name} sha256:{_file_digest(path)[:16]}"
    now = timezone.now()
    by_model: dict[str, list[tuple[int, dict]]] = {}
    for number, row in enumerate(rows):
        # The unnamed first column is HELPMed's row number within a model's answers.
        index = _int(row.get("", "")) if row.get("", "") != "" else None
        by_model.setdefault(row["model"].strip(), []).append(
            (index if index is not None else number, row)
        )
    imported = []
    for model, model_rows in by_model.items():
        run, _ = EvaluationRun.objects.update_or_create(
            study=study,
            key=helpmed_run_key(model),
            defaults={
                "kind": EvaluationRun.Kind.MODEL_ALONE,
                "model_label": model,
                "config": HELPMED_CONFIG,
                "status": EvaluationRun.Status.SUCCEEDED,
                "items_total": len(model_rows),
                "items_done": len(model_rows),
                "items_failed": 0,
                "source": source,
                "provenance": f"Model-alone answers from HELPMed. {HELPMED_CITATION}",
                "started_at": now,
                "finished_at": now,
            },
        )
        items = []
        seen: set[int] = set()
        for repetition, row in model_rows:
            if repetition in seen:
                raise ModelAnswerImportError(f"{path.name}: {model} row {repetition} twice")
            seen.add(repetition)
            scenario = scenarios[helpmed_scenario_key(row["scenario_id"])]
            text = row["model_text"]
            score = score_answer(
                conditions_text=text,
                answer_value=None,
                gold_value=None,
                gold_conditions=scenario.gold_conditions,
                red_flags=scenario.red_flags,
                synonyms=scenario.condition_synonyms,
                two_part=True,
            )
            items.append(
                EvaluationItem(
                    run=run,
                    scenario=scenario,
                    item_key=scenario.key,
                    repetition=repetition,
                    turn=0,
                    status=EvaluationItem.Status.SUCCEEDED,
                    response=text,
                    parsed={
                        "conditions_text": conditions_part(text),
                        "reverse": _bool(row.get("reverse", "")),
                        "helpmed": {
                            name: _bool(row.get(name, ""))
                            for name in ("differential_correct", "red_flag_correct")
                        }
                        | {
                            name: _int(row.get(name, ""))
                            for name in ("differential_correct_count", "red_flag_correct_count")
                        },
                    },
                    matched_conditions=score.matched_conditions,
                    matched_red_flags=score.matched_red_flags,
                    conditions_correct=score.conditions_correct,
                    scorer_version=score.scorer_version,
                )
            )
        EvaluationItem.objects.bulk_create(
            items,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["run", "item_key", "repetition", "turn"],
            update_fields=_ITEM_FIELDS,
        )
        # The file is the truth: items it no longer holds go.
        keep = {(item.item_key, item.repetition) for item in items}
        stale = [
            pk
            for pk, key, rep in run.items.values_list("pk", "item_key", "repetition")
            if (key, rep) not in keep
        ]
        EvaluationItem.objects.filter(pk__in=stale).delete()
        imported.append(
            ImportedRun(
                key=run.key,
                model=model,
                items=len(items),
                conditions_correct=sum(bool(item.conditions_correct) for item in items),
                reference_correct=sum(
                    bool(item.parsed["helpmed"]["differential_correct"]) for item in items
                ),
            )
        )
    return imported
