"""Model alone: each scenario with the study's questions, N repetitions, the arm's sampling.

Asked together, an item is one two-part answer ("1) A&E 2) ..."); asked separately, each
repetition is two items, "<scenario>:disposition" and "<scenario>:conditions". Every item
is scored by the same function that scores participants' answers. The prompt is one of the
study's model-alone templates (HELPMed's framing unless another is chosen), copied into the
run's config.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from typing import Any

from studyapp.evaluations.kinds.base import (
    Configured,
    EvaluationError,
    Kind,
    StartRequest,
    arm_sampling,
)
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.runtime.context import RunContext
from studyapp.evaluations.runtime.engine import ItemResult, ItemState, ask_item
from studyapp.evaluations.science.parsing import Level, parse_disposition, parse_triage_answer
from studyapp.evaluations.science.prompts import (
    DEFAULT_MODEL_ALONE_PRESET,
    model_alone_template_problems,
    render,
    scenario_text,
)
from studyapp.scoring.answers import score_answer
from studyapp.studies.models import Arm, Scenario, Study


def question_values(study, levels: list[Level]) -> dict[str, str]:
    return {
        "disposition_question": study.disposition_question,
        "conditions_question": study.conditions_question,
        "options": "; ".join(level.label for level in sorted(levels, key=lambda lv: -lv.value)),
    }


def study_levels(study) -> list[Level]:
    return [
        Level(code=level.code, label=level.label, value=level.value)
        for level in study.disposition_scale.levels.all()
    ]


def score_text(
    *, part: str, text: str, scenario: Scenario, levels: list[Level], level_pks: dict[str, int]
) -> dict[str, Any]:
    """The stored fields of one answer (used by model-alone and simulated runs)."""
    code = None
    conditions_text = ""
    if part == "together":
        answer = parse_triage_answer(text, levels)
        code, conditions_text = answer.disposition_code, answer.conditions_text
    elif part == "disposition":
        code = parse_disposition(text, levels)
    else:
        conditions_text = text
    return score_parsed(
        part=part,
        code=code,
        conditions_text=conditions_text,
        scenario=scenario,
        levels=levels,
        level_pks=level_pks,
    )


def score_parsed(
    *,
    part: str,
    code: str | None,
    conditions_text: str,
    scenario: Scenario,
    levels: list[Level],
    level_pks: dict[str, int],
) -> dict[str, Any]:
    """The stored fields of an answer already read: a disposition code (None: no
    disposition) and the conditions text ("" : none named)."""
    values = {level.code: level.value for level in levels}
    scored = score_answer(
        conditions_text=conditions_text,
        answer_value=values.get(code) if code else None,
        gold_value=scenario.gold_disposition.value,
        gold_conditions=scenario.gold_conditions,
        red_flags=scenario.red_flags,
        synonyms=scenario.condition_synonyms,
    )
    fields: dict[str, Any] = {
        "disposition_id": level_pks.get(code) if code else None,
        "disposition_outcome": scored.disposition_outcome or "",
        "disposition_distance": scored.disposition_distance,
        "scorer_version": scored.scorer_version,
    }
    if part != "disposition":
        fields |= {
            "matched_conditions": scored.matched_conditions,
            "matched_red_flags": scored.matched_red_flags,
            "conditions_correct": scored.conditions_correct,
        }
    if part != "conditions":
        fields["correct"] = scored.disposition_outcome == "exact"
    return {"parsed_update": {"disposition": code, "conditions_text": conditions_text}} | fields


class ScenarioKind(Kind):
    """Runs whose items answer the study's questions about its scenarios, scored as
    participants' answers are (model alone, simulated participants)."""

    answers_scenarios = True

    def unit_key(self, item: ItemState | EvaluationItem) -> str:
        return f"{item.item_key}#{item.repetition}"

    def context_data(self, run: EvaluationRun) -> dict[str, Any]:
        return {
            "levels": study_levels(run.study),
            "level_pks": {
                level.code: level.pk for level in run.study.disposition_scale.levels.all()
            },
        }

    def summarize(self, run: EvaluationRun) -> dict[str, Any]:
        from studyapp.evaluations.selectors import (
            scenario_accuracy,
            scenario_run_outcomes,
            scenarios_pooled,
        )

        per_scenario = scenario_accuracy(run=run)
        return (
            {"scenarios": per_scenario}
            | scenarios_pooled(per_scenario)
            | {"outcomes": scenario_run_outcomes(run=run)}
        )

    def arm_config(self, *, arm: Arm, request: StartRequest, base: dict) -> dict[str, Any]:
        """What every scenario run keeps: repetitions and the arm's prompt and sampling."""
        n = request.n if request.n is not None else request.repetitions
        if n < 1:
            raise EvaluationError("the number of repetitions must be at least 1")
        return base | {
            "repetitions": n,
            "sampling_params": arm_sampling(arm),
            "system_prompt": arm.system_prompt,
        }


class ModelAloneKind(ScenarioKind):
    """The arm's model answers each scenario by itself, N times (the model-alone baseline)."""

    name = "model_alone"
    label = "Model alone (baseline)"

    def configure(
        self, *, study: Study, arm: Arm, request: StartRequest, base: dict
    ) -> Configured:
        if request.asked not in ("together", "separate"):
            raise EvaluationError("asked must be 'together' or 'separate'")
        config = self.arm_config(arm=arm, request=request, base=base) | {
            "asked": request.asked,
            **self.prompt_config(study=study, key=request.prompt_template),
        }
        return Configured(config=config, inputs=None, source=f"arm {arm.key}")

    def prompt_config(self, *, study: Study, key: str | None) -> dict[str, Any]:
        """The study's model-alone templates under `key` (None: the default, HELPMed's
        framing unless the study edited it), copied whole: the run keeps the texts it used,
        whatever is edited later."""
        from studyapp.evaluations.selectors import model_alone_prompts

        key = key or DEFAULT_MODEL_ALONE_PRESET
        choices = model_alone_prompts(study=study)
        if key not in choices:
            raise EvaluationError(
                f"study {study.slug} has no model-alone prompt template {key!r} "
                f"(it has {', '.join(choices)})"
            )
        chosen = choices[key]
        problems = model_alone_template_problems(chosen["texts"])
        if problems:
            raise EvaluationError(
                f"prompt template {key!r}: "
                + "; ".join(f"{part}: {', '.join(p)}" for part, p in problems.items())
            )
        edited_at = chosen["edited_at"]
        return {
            "templates": dict(chosen["texts"]),
            "prompt_template": {
                "key": key,
                "label": chosen["label"],
                "source": chosen["source"],
                "edited_at": edited_at.isoformat() if edited_at else None,
            },
        }

    def plan(
        self, *, run: EvaluationRun, config: dict[str, Any], inputs: Any = None
    ) -> list[EvaluationItem]:
        study = run.study
        templates = config["templates"]
        values = question_values(study, study_levels(study))
        scenarios = Scenario.objects.filter(study=study).active().order_by("key")
        if config.get("scenarios"):
            scenarios = scenarios.filter(key__in=config["scenarios"])
        system = config.get("system_prompt", "")
        parts = (
            ["together"]
            if config.get("asked", "together") == "together"
            else [
                "disposition",
                "conditions",
            ]
        )
        items = []
        for scenario in scenarios:
            text = scenario_text(scenario.sections)
            for repetition in range(config.get("repetitions", 1)):
                for part in parts:
                    content = render(
                        templates[part], scenario=text, preamble=templates["preamble"], **values
                    )
                    prompt = [{"role": "system", "content": system}] if system else []
                    items.append(
                        EvaluationItem(
                            run=run,
                            scenario=scenario,
                            item_key=scenario.key
                            if part == "together"
                            else f"{scenario.key}:{part}",
                            repetition=repetition,
                            prompt=[*prompt, {"role": "user", "content": content}],
                            parsed={"part": part},
                        )
                    )
        return items

    async def run_unit(
        self, ctx: RunContext, items: list[ItemState], stop: threading.Event
    ) -> AsyncIterator[ItemResult]:
        client = ctx.client()
        for item in items:
            if item.status != EvaluationItem.Status.PENDING or stop.is_set():
                continue
            yield await ask_item(ctx, client, item.pk, item.prompt, stop)

    def score(self, ctx: RunContext, item: EvaluationItem, result: ItemResult) -> dict[str, Any]:
        fields = score_text(
            part=item.parsed.get("part", "together"),
            text=result.response,
            scenario=item.scenario,
            levels=ctx.data["levels"],
            level_pks=ctx.data["level_pks"],
        )
        update = fields.pop("parsed_update")
        return {"parsed": {**item.parsed, **update}} | fields
