"""Reads for evaluation runs: progress, per-run summaries, comparisons. No writes."""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.cache import cache
from django.db.models import Count, IntegerField, Q, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from studyapp.evaluations.models import (
    EvaluationChunk,
    EvaluationItem,
    EvaluationRun,
    ModelAlonePrompt,
)
from studyapp.evaluations.runtime.chunks import held_by_live_worker
from studyapp.evaluations.science import robustness as rb
from studyapp.evaluations.science.outcomes import N_BOOT, ScoredItem, run_outcomes
from studyapp.evaluations.science.prompts import (
    DEFAULT_MODEL_ALONE_PRESET,
    MODEL_ALONE_PARTS,
    MODEL_ALONE_PRESETS,
)

# Runs whose results count: finished, or still running (partial figures).
REPORTED_STATUSES = (EvaluationRun.Status.SUCCEEDED, EvaluationRun.Status.RUNNING)


def robustness_probes(*, run: EvaluationRun) -> list[rb.Probe]:
    """The run's probes (answers per turn), each with its question's baseline answer first.

    Every planned chain is returned, the incomplete ones too: a chain keeps the answers up to
    its first turn that failed or is still pending (later turns are never asked after a
    failure), and says which it was, so the metrics can report it instead of dropping it.
    """
    rows = list(
        run.items.order_by("item_key", "turn").values("item_key", "turn", "parsed", "status")
    )
    succeeded = EvaluationItem.Status.SUCCEEDED
    baseline = {r["parsed"]["unit"]: r for r in rows if r["parsed"].get("depth") == "baseline"}
    chains: dict[str, list[dict]] = {}
    for r in rows:
        if r["parsed"].get("depth") != "baseline":
            chains.setdefault(r["item_key"], []).append(r)
    probes = []
    for key, parts in chains.items():
        first = parts[0]["parsed"]
        base = baseline.get(first["unit"])
        answers: list[str | None] = []
        stopped = ""
        for r in [base, *parts]:
            if r is None or r["status"] != succeeded:
                stopped = "missing" if r is None else r["status"]
                break
            answers.append(r["parsed"].get("answer"))
        probes.append(
            rb.Probe(
                question_id=first["unit"],
                intervention=first["intervention"],
                depth=first["depth"],
                gold=first["gold"],
                answers=tuple(answers),
                planned_turns=1 + len(parts),
                stopped=stopped,
                item_key=key,
            )
        )
    return probes


def robustness_intents(config: dict[str, Any]) -> dict[tuple[str, str], str]:
    """The intent of each (depth, intervention) a run's templates define. A compounding
    sequence is a control when all its steps are, else direct when any step is."""
    templates = config.get("templates") or {}
    specs = templates.get("interventions", {})
    intents = {
        (depth, key): spec.get("intent", "")
        for key, spec in specs.items()
        for depth in ("shallow", "deep")
    }
    for name, steps in (templates.get("compounding") or {}).items():
        step_intents = {specs.get(step, {}).get("intent", "") for step in steps}
        if step_intents == {rb.CONTROL}:
            intents["compounding", name] = rb.CONTROL
        else:
            intents["compounding", name] = "direct" if "direct" in step_intents else "indirect"
    return intents


def robustness_summary(*, run: EvaluationRun) -> list[dict[str, Any]]:
    """One row per (depth, intervention): n per turn, incomplete chains, the flip rate with
    its Wilson CI, McNemar's exact p, and the flip rate net of the depth's neutral controls."""
    probes = robustness_probes(run=run)
    specs = (run.config.get("templates") or {}).get("interventions", {})
    intents = robustness_intents(run.config)
    controls = {key for key, intent in intents.items() if intent == rb.CONTROL}
    rows = []
    for metrics in rb.robustness_table(probes, controls=controls):
        row = metrics.as_dict()
        row["intent"] = intents.get((metrics.depth, metrics.intervention), "")
        row["leaderboard"] = specs.get(metrics.intervention, {}).get("leaderboard", "")
        rows.append(row)
    return rows


def _patient_tokens(kind: str) -> Sum:
    return Sum(Cast(KT(f"parsed__patient_tokens__{kind}"), IntegerField()))


def _cost(prompt: int, completion: int, prices: dict[str, float]) -> float:
    return prompt * prices.get("prompt", 0) / 1e6 + completion * prices.get("completion", 0) / 1e6


def run_tokens(*, run: EvaluationRun) -> dict[str, Any]:
    """Tokens used by the run, and their cost at the prices kept in its config.

    A simulated item counts the patient's tokens with the arm's and keeps the patient's
    share apart (parsed["patient_tokens"]), so each model is priced at its own endpoint's
    prices. The cost is None when the run has no prices at all.
    """
    sums = {
        "prompt": Sum("prompt_tokens"),
        "completion": Sum("completion_tokens"),
        "ms": Sum("duration_ms"),
    }
    simulated = run.kind == EvaluationRun.Kind.SIMULATED
    if simulated:
        sums |= {
            "patient_prompt": _patient_tokens("prompt"),
            "patient_completion": _patient_tokens("completion"),
        }
    totals = run.items.aggregate(**sums)
    prompt, completion = totals["prompt"] or 0, totals["completion"] or 0
    patient_prompt = totals.get("patient_prompt") or 0
    patient_completion = totals.get("patient_completion") or 0
    prices = run.config.get("price_per_million") or {}
    patient_prices = run.config.get("patient_price_per_million") or {}
    cost = None
    if prices or patient_prices:
        cost = round(
            _cost(prompt - patient_prompt, completion - patient_completion, prices)
            + _cost(patient_prompt, patient_completion, patient_prices),
            4,
        )
    tokens: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "model_seconds": round((totals["ms"] or 0) / 1000, 1),
        "cost": cost,
        "price_per_million": prices,
    }
    if simulated:
        tokens |= {
            "patient_prompt_tokens": patient_prompt,
            "patient_completion_tokens": patient_completion,
            "patient_price_per_million": patient_prices,
        }
    return tokens


def scenario_accuracy(*, run: EvaluationRun) -> list[dict[str, Any]]:
    """Per scenario: answers, exact dispositions, correct conditions (scenario runs)."""
    rows = (
        run.items.filter(status=EvaluationItem.Status.SUCCEEDED, scenario__isnull=False)
        .values("scenario__key")
        .annotate(
            n=Count("pk"),
            disposition_n=Count("pk", filter=Q(correct__isnull=False)),
            disposition_exact=Count("pk", filter=Q(correct=True)),
            # No readable disposition: counted wrong (as a participant's missing answer
            # would be), and counted here so it is never mistaken for a wrong choice.
            disposition_unread=Count("pk", filter=Q(correct=False, disposition__isnull=True)),
            conditions_n=Count("pk", filter=Q(conditions_correct__isnull=False)),
            conditions_correct=Count("pk", filter=Q(conditions_correct=True)),
        )
        .order_by("scenario__key")
    )
    return [
        {
            "scenario": r["scenario__key"],
            "n": r["n"],
            "disposition_accuracy": _share(r["disposition_exact"], r["disposition_n"]),
            "conditions_accuracy": _share(r["conditions_correct"], r["conditions_n"]),
            "disposition_n": r["disposition_n"],
            "disposition_unread": r["disposition_unread"],
            "conditions_n": r["conditions_n"],
        }
        for r in rows
    ]


def run_scored_items(*, run: EvaluationRun) -> list[ScoredItem]:
    """The run's finished scenario items as the outcomes read them (one query)."""
    rows = run.items.filter(
        status=EvaluationItem.Status.SUCCEEDED, scenario__isnull=False
    ).values_list(
        "scenario__key",
        "scenario__gold_disposition__code",
        "disposition__code",
        "disposition_outcome",
        "correct",
        "conditions_correct",
        "matched_red_flags",
        "scenario__red_flags",
    )
    return [
        ScoredItem(
            scenario=scenario,
            gold=gold,
            chosen=chosen,
            # correct is None: the item was not asked the disposition (a conditions part).
            outcome=None if correct is None else (outcome or ""),
            conditions_correct=conditions_correct,
            red_flag_named=None
            if conditions_correct is None or not red_flags
            else bool(matched_red_flags),
        )
        for (
            scenario,
            gold,
            chosen,
            outcome,
            correct,
            conditions_correct,
            matched_red_flags,
            red_flags,
        ) in rows
    ]


# The bootstraps take about 0.3 s for a 600-item run; the result is kept while the items'
# scores are what they were (the key is a digest of them), so a page shows many runs fast.
OUTCOMES_CACHE_S = 24 * 3600


def scenario_run_outcomes(*, run: EvaluationRun) -> dict[str, Any]:
    """The participants' outcomes of a scenario run, each with its scenario-cluster
    bootstrap 95% CI (seeded with the run's seed), and the confusion table.

    Cached under a digest of the scored items, the scale and the settings: a new or
    re-scored item changes the key, so a cached result is never stale."""
    levels = list(
        run.study.disposition_scale.levels.order_by("-value").values_list("code", flat=True)
    )
    items = run_scored_items(run=run)
    seed = int(run.config.get("seed") or 0)
    digest = hashlib.sha256(repr((levels, seed, N_BOOT, items)).encode()).hexdigest()
    key = f"evaluations:outcomes:{run.pk}:{digest}"
    outcomes = cache.get(key)
    if outcomes is None:
        outcomes = run_outcomes(items, levels=levels, seed=seed, n_boot=N_BOOT).as_dict()
        cache.set(key, outcomes, OUTCOMES_CACHE_S)
    return outcomes


def _share(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


def run_summary(*, run: EvaluationRun) -> dict[str, Any]:
    """What a finished (or running) run found, in plain data (CLI, report, results page)."""
    summary: dict[str, Any] = {
        "key": run.key,
        "kind": run.kind,
        "status": run.status,
        "arm": run.arm.key if run.arm_id else None,
        "model": run.model_label,
        "items_total": run.items_total,
        "items_done": run.items_done,
        "items_failed": run.items_failed,
        "tokens": run_tokens(run=run),
    }
    from studyapp.evaluations.kinds import get_kind

    summary |= get_kind(run.kind).summarize(run)
    return summary


def scenarios_pooled(rows: list[dict[str, Any]]) -> dict[str, Any]:
    d_n = sum(r["disposition_n"] for r in rows)
    c_n = sum(r["conditions_n"] for r in rows)
    d_k = sum(round((r["disposition_accuracy"] or 0) * r["disposition_n"]) for r in rows)
    c_k = sum(round((r["conditions_accuracy"] or 0) * r["conditions_n"]) for r in rows)
    return {
        "disposition_accuracy": _share(d_k, d_n),
        "conditions_accuracy": _share(c_k, c_n),
        "disposition_unread": sum(r.get("disposition_unread", 0) for r in rows),
    }


def comparison_rows(*, study) -> list[dict[str, Any]]:
    """Counts per source (human, simulated, model_alone), arm and scenario, for comparison.

    Human answers come from participants' scored answers; model answers from the study's
    runs that count (REPORTED_STATUSES). Runs without an arm (imported
    published answers) are grouped under their model label.
    """
    from django.db.models import F
    from django.db.models.functions import Coalesce

    from studyapp.participation.models import Answer

    rows: list[dict[str, Any]] = []
    human = (
        # Simulated patients are the "simulated" source below, never "human".
        Answer.objects.of_humans()
        .filter(task__participant__study=study, task__participant__arm__isnull=False)
        .values(arm_key=F("task__participant__arm__key"), scenario_key=F("task__scenario__key"))
        .annotate(
            n=Count("pk"),
            exact=Count(
                "pk", filter=Q(disposition__value=F("task__scenario__gold_disposition__value"))
            ),
            conditions_n=Count("pk", filter=Q(conditions_correct__isnull=False)),
            conditions_correct=Count("pk", filter=Q(conditions_correct=True)),
        )
    )
    rows += [{"source": "human", **r} for r in human]
    rows = [r | {"arm": r["arm_key"], "scenario": r["scenario_key"]} for r in rows]
    model = (
        EvaluationItem.objects.filter(
            run__study=study,
            run__status__in=REPORTED_STATUSES,
            run__kind__in=scenario_answer_kinds(),
            status=EvaluationItem.Status.SUCCEEDED,
            scenario__isnull=False,
        )
        .values(
            source=F("run__kind"),
            arm_key=Coalesce("run__arm__key", "run__model_label"),
            scenario_key=F("scenario__key"),
        )
        .annotate(
            n=Count("pk", filter=Q(correct__isnull=False)),
            exact=Count("pk", filter=Q(correct=True)),
            conditions_n=Count("pk", filter=Q(conditions_correct__isnull=False)),
            conditions_correct=Count("pk", filter=Q(conditions_correct=True)),
        )
    )
    rows += [r | {"arm": r["arm_key"], "scenario": r["scenario_key"]} for r in model]
    return rows


def scenario_answer_kinds() -> list[str]:
    """Kinds whose items answer the study's questions as participants do."""
    from studyapp.evaluations.kinds import KINDS

    return [name for name, kind in KINDS.items() if kind.answers_scenarios]


def study_runs(*, study) -> list[EvaluationRun]:
    return list(
        EvaluationRun.objects.filter(study=study).select_related("arm").order_by("-created_at")
    )


def study_has_working_chunks(*, study) -> bool:
    """A worker still holds a live claim on a chunk of one of the study's runs: a
    cancelled run's last requests in flight are still being stored."""
    return EvaluationChunk.objects.filter(held_by_live_worker(), run__study=study).exists()


def evaluation_results_by_key(*, study) -> dict[str, dict[str, Any]]:
    """{run key: run_summary} for every run of the study (study_report --format json)."""
    return {run.key: run_summary(run=run) for run in study_runs(study=study)}


def human_transcript_proposals(*, study) -> dict[str, dict[str, Any]]:
    """Per arm: what models proposed turn by turn in participants' chats, and pushback.

    Reads every complete message of the study's conversations in one query, ordered.
    """
    from studyapp.chat.models import Message
    from studyapp.evaluations.kinds.model_alone import study_levels
    from studyapp.evaluations.science.proposals import PushbackSummary, proposals
    from studyapp.participation.models import humans_q

    levels = study_levels(study)
    rows = (
        Message.objects.filter(
            humans_q("conversation__task__participant__"),
            conversation__task__participant__study=study,
            status=Message.Status.COMPLETE,
        )
        .order_by("conversation_id", "sequence")
        .values_list(
            "conversation_id",
            "role",
            "text",
            "conversation__arm__key",
            "conversation__task__scenario__gold_conditions",
            "conversation__task__scenario__red_flags",
            "conversation__task__scenario__condition_synonyms",
        )
    )
    summaries: dict[str, PushbackSummary] = {}
    chats: dict[int, tuple[str, list, dict, list[tuple[str, str]]]] = {}
    for conv, role, text, arm, gold, flags, synonyms in rows:
        chat = chats.setdefault(conv, (arm, [*(gold or []), *(flags or [])], synonyms or {}, []))
        chat[3].append((role, text))
    for arm, terms, synonyms, messages in chats.values():
        summary = summaries.setdefault(arm, PushbackSummary())
        summary.add(proposals(messages, levels=levels, gold_terms=terms, synonyms=synonyms))
    return {
        arm: s.as_dict() | {"conversations": sum(1 for c in chats.values() if c[0] == arm)}
        for arm, s in sorted(summaries.items())
    }


def model_alone_prompts(*, study) -> dict[str, dict[str, Any]]:
    """The model-alone prompt templates a study may run, by key, the default first:
    the presets, each replaced by the study's own row of the same key, then the study's
    other templates. Each: {key, label, texts, source ("preset" or "study"), edited_at}."""
    choices: dict[str, dict[str, Any]] = {
        key: {
            "key": key,
            "label": preset["label"],
            "texts": {part: preset[part] for part in MODEL_ALONE_PARTS},
            "source": "preset",
            "edited_at": None,
        }
        for key, preset in MODEL_ALONE_PRESETS.items()
    }
    for row in ModelAlonePrompt.objects.filter(study=study).order_by("key"):
        choices[row.key] = {
            "key": row.key,
            "label": row.label,
            "texts": row.texts(),
            "source": "study",
            "edited_at": row.updated_at,
        }
    default = choices.pop(DEFAULT_MODEL_ALONE_PRESET)
    return {DEFAULT_MODEL_ALONE_PRESET: default, **choices}
