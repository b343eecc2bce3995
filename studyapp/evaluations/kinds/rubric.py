"""Rubric grading: a grader model judges each rubric item of each target.

Targets (``rubric_targets``) are participants' chats and answers, model-alone outputs and
simulated participants' chats and answers, so the same rubric compares all three. The run
asks a grader endpoint of its own (any endpoint the investigator may use), not an arm's;
its request purpose is ``grader``.

Plan: one item per (target, repetition, rubric item), a unit being one target's
repetition. The prompt is rendered when the run starts from the versioned template kept
in the config (``science.rubric``: what the grader is shown, and why); an item with
nothing to grade (an LLM chat without assistant turns, a simulated patient that never
answered) has no prompt, is not sent, and is stored as not met. Items about the model do
not apply to a control-arm participant (no model) and are not planned for them.

``parsed`` of an item: ``target`` (source, arm, source run, task / evaluation item,
participant, scenario and version), ``rubric`` (key, text, points, applies_to),
``shown`` (what the graded text is, and the context given) and, once graded, ``met`` and
``explanation``. A reply that holds no readable verdict fails the item with the reason
(its text kept in ``response``): never a silent met or not met.

The score of a target is HealthBench's: the points of the items met over the positive
points, clipped to [0, 1] (``science.rubric.target_score``); ``summarize`` gives means
with bootstrap CIs per source, arm (and source run) and per scenario, and each item's met
rate. The grader's agreement with the raters' rubric labels of the same targets is the
ratings app's (``ratings.grader``), shown beside these scores.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from studyapp.chat.llm import Purpose
from studyapp.evaluations.kinds.base import (
    Configured,
    EvaluationError,
    Kind,
    StartRequest,
)
from studyapp.evaluations.kinds.rubric_targets import (
    Target,
    human_arm,
    human_targets,
    run_targets,
    source_runs,
)
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.runtime.context import RunContext
from studyapp.evaluations.runtime.engine import ItemResult, ItemState, ask_item
from studyapp.evaluations.science import rubric as science
from studyapp.studies.models import Arm, ModelEndpoint, Study

# A verdict needs no creativity; room for a short explanation.
GRADER_SAMPLING = {"temperature": 0.0, "max_tokens": 400}


class RubricKind(Kind):
    name = "rubric"
    label = "Rubric grading"
    purpose = Purpose.GRADER
    uses_arm = False

    def model_endpoint(self, *, arm: Arm | None, request: StartRequest) -> ModelEndpoint:
        if not request.grader_endpoint:
            raise EvaluationError("a rubric run needs a grader endpoint")
        endpoint = ModelEndpoint.objects.filter(name=request.grader_endpoint).first()
        if endpoint is None:
            raise EvaluationError(f"no model endpoint named {request.grader_endpoint!r}")
        return endpoint

    def templates_problem(self, path: Path) -> str | None:
        try:
            science.load_template(path)
        except science.TemplateError as exc:
            return str(exc)
        return None

    def configure(
        self, *, study: Study, arm: Arm | None, request: StartRequest, base: dict
    ) -> Configured:
        if not (request.humans or request.source_runs):
            raise EvaluationError(
                "choose what to grade: participants' chats and answers, or runs' outputs"
            )
        repetitions = request.repetitions if request.n is None else request.n
        if repetitions < 1:
            raise EvaluationError("the number of repetitions must be at least 1")
        try:
            template = science.load_template(request.templates_path)
        except science.TemplateError as exc:
            raise EvaluationError(str(exc)) from exc
        humans_arm = human_arm(study=study, arm_key=request.human_arm) if request.humans else None
        runs = source_runs(study=study, keys=list(request.source_runs))
        targets: list[Target] = []
        if request.humans:
            targets += human_targets(study=study, arm_key=humans_arm.key if humans_arm else None)
        targets += run_targets(runs=runs)
        if not targets:
            raise EvaluationError(
                "nothing to grade: no answered chats or outputs of scenarios with a rubric"
            )
        config = base | {
            "grader_endpoint": request.grader_endpoint,
            "grader_template": template,
            "sampling_params": dict(GRADER_SAMPLING),
            "repetitions": repetitions,
            "sources": {
                "humans": request.humans,
                "human_arm": humans_arm.key if humans_arm else None,
                "runs": [{"key": run.key, "id": run.pk, "kind": run.kind} for run in runs],
            },
            "targets": len(targets),
        }
        parts = (
            ["participants" + (f" ({humans_arm.key})" if humans_arm else "")]
            if request.humans
            else []
        )
        parts += [run.key for run in runs]
        return Configured(config=config, inputs=targets, source="grades " + ", ".join(parts))

    def plan(
        self, *, run: EvaluationRun, config: dict[str, Any], inputs: list[Target]
    ) -> list[EvaluationItem]:
        template = config["grader_template"]["text"]
        items = []
        for target in inputs:
            applicable = [
                entry
                for entry in target.rubric
                # A control-arm participant had no model: its items do not apply.
                if entry["applies_to"] != "model" or target.had_model
            ]
            for repetition in range(config.get("repetitions", 1)):
                for entry in applicable:
                    prompt, graded = science.grader_prompt(
                        template,
                        scenario=target.scenario,
                        turns=target.turns,
                        item=entry,
                        answer=target.answer,
                    )
                    items.append(
                        EvaluationItem(
                            run=run,
                            scenario_id=target.scenario_id,
                            task_id=target.task_id,
                            item_key=f"{target.key}:{entry['key']}"[:200],
                            repetition=repetition,
                            prompt=[{"role": "user", "content": prompt}] if prompt else [],
                            parsed={
                                "unit": f"{target.key}#{repetition}",
                                "target": target.about(),
                                "rubric": dict(entry),
                                "shown": _shown(entry["applies_to"], graded),
                            },
                        )
                    )
        return items

    def unit_key(self, item: ItemState | EvaluationItem) -> str:
        return str(item.parsed.get("unit", item.item_key))

    async def run_unit(
        self, ctx: RunContext, items: list[ItemState], stop: threading.Event
    ) -> AsyncIterator[ItemResult]:
        client = ctx.client()
        for item in items:
            if item.status != EvaluationItem.Status.PENDING or stop.is_set():
                continue
            if not item.prompt:
                yield ItemResult(pk=item.pk, ok=True, extra={"met": False, "explanation": ""})
                continue
            result = await ask_item(ctx, client, item.pk, item.prompt, stop)
            if not result.ok:
                yield result
                continue
            try:
                verdict = science.parse_verdict(result.response)
            except science.VerdictError as exc:
                yield dataclasses.replace(result, ok=False, error=f"unreadable verdict: {exc}")
                continue
            yield dataclasses.replace(
                result, extra={"met": verdict.met, "explanation": verdict.explanation}
            )

    def score(self, ctx: RunContext, item: EvaluationItem, result: ItemResult) -> dict[str, Any]:
        """The verdict, in parsed (met, explanation); an item not sent is not met."""
        return {"parsed": {**item.parsed, **result.extra}}

    def summarize(self, run: EvaluationRun) -> dict[str, Any]:
        from studyapp.evaluations.selectors_rubric import rubric_summary

        return {"rubric": rubric_summary(run=run)}


def _shown(applies_to: str, graded: str) -> dict[str, Any]:
    """What the grader was shown for an item (the text itself is in the prompt)."""
    return {
        "graded": "model_turns" if applies_to == "model" else "answer",
        "context": "conversation" if applies_to == "model" else "none",
        "nothing_to_grade": not graded,
    }
