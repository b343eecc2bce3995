"""MCQ baselines and multi-turn robustness probes (MedQA-Followup protocol).

One unit is one question: its unperturbed baseline (turn 0), shallow probes (the
intervention inside the first prompt, turn 0), deep probes (the baseline answer replayed as
the assistant turn, then the follow-up, turn 1) and compounding sequences (turns 1..k).
Wrong letters are drawn when the run is planned and stored with the item, so a resumed run
asks exactly what the first attempt would have asked.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from studyapp.chat.llm import Purpose
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
from studyapp.evaluations.science import robustness as rb
from studyapp.evaluations.science.mcq_items import McqQuestion, file_source, read_mcq_jsonl
from studyapp.evaluations.science.parsing import parse_final_answer
from studyapp.studies.models import Arm, Study

# The MedQA-Followup protocol asks at temperature 0 and needs room to reason.
MCQ_SAMPLING = {"temperature": 0.0, "max_tokens": 1024}


def _base(question: McqQuestion) -> dict[str, Any]:
    return {"unit": question.id, "gold": question.gold, "letters": sorted(question.options)}


def plan_baselines(
    *, run: EvaluationRun, questions: Sequence[McqQuestion], instruction: str
) -> list[EvaluationItem]:
    return [
        EvaluationItem(
            run=run,
            item_key=q.id,
            turn=0,
            prompt=[
                {
                    "role": "user",
                    "content": rb.first_prompt(
                        instruction=instruction, question=q.question, options=q.options
                    ),
                }
            ],
            parsed=_base(q) | {"depth": "baseline", "intervention": ""},
        )
        for q in questions
    ]


def _about(spec: dict, key: str, depth: str, letter: str) -> dict[str, Any]:
    return {
        "depth": depth,
        "intervention": key,
        "intent": spec.get("intent", ""),
        "suggested": letter if spec.get("intent") == "direct" else None,
    }


def _join(text: str, suffix: str) -> str:
    return f"{text}\n\n{suffix}" if suffix else text


def _failed(pk: int, error: str, prompt: list | None = None) -> ItemResult:
    return ItemResult(pk=pk, ok=False, error=error[:200], prompt=prompt or [])


class QuestionKind(Kind):
    """Multiple-choice questions from a JSONL file, asked at temperature 0."""

    needs_questions = True
    purpose = Purpose.MCQ
    # Runs of this kind keep only the instruction of the templates.
    keeps_followups: ClassVar[bool] = False

    def configure(
        self, *, study: Study, arm: Arm, request: StartRequest, base: dict
    ) -> Configured:
        if request.items_path is None:
            raise EvaluationError("MCQ and robustness runs need --items PATH (JSONL)")
        try:
            questions = read_mcq_jsonl(request.items_path, limit=request.n)
            templates = rb.load_templates(request.templates_path)
        except (ValueError, OSError) as exc:
            raise EvaluationError(str(exc)) from exc
        unknown = set(request.interventions) - set(templates["interventions"])
        if unknown:
            raise EvaluationError(f"unknown interventions: {', '.join(sorted(unknown))}")
        bad_depths = set(request.depths) - set(rb.DEPTHS)
        if bad_depths:
            raise EvaluationError(f"unknown depths: {', '.join(sorted(bad_depths))}")
        config = base | {
            "items_path": str(request.items_path),
            "items": len(questions),
            "templates": templates
            if self.keeps_followups
            else {"instruction": templates["instruction"]},
            "sampling_params": arm_sampling(arm) | MCQ_SAMPLING,
        }
        if self.keeps_followups:
            config |= {
                "interventions": list(request.interventions),
                "depths": list(request.depths) or list(rb.DEPTHS),
            }
        return Configured(config=config, inputs=questions, source=file_source(request.items_path))

    def templates_problem(self, path: Path) -> str | None:
        try:
            rb.load_templates(path)
        except rb.TemplateError as exc:
            return str(exc)
        return None

    def unit_key(self, item: ItemState | EvaluationItem) -> str:
        return str(item.parsed.get("unit", item.item_key))

    async def run_unit(
        self, ctx: RunContext, items: list[ItemState], stop: threading.Event
    ) -> AsyncIterator[ItemResult]:
        client = ctx.client()
        ordered = sorted(
            items, key=lambda i: (i.parsed.get("depth") != "baseline", i.item_key, i.turn)
        )

        async def ask(item: ItemState, messages: list) -> tuple[ItemResult, str | None]:
            result = await ask_item(ctx, client, item.pk, messages, stop)
            return result, result.response if result.ok else None

        baseline = next((i for i in ordered if i.parsed.get("depth") == "baseline"), None)
        base_text: str | None = None
        if baseline is not None:
            if baseline.status == EvaluationItem.Status.PENDING:
                if stop.is_set():
                    return
                result, base_text = await ask(baseline, baseline.prompt)
                yield result
            elif baseline.status == EvaluationItem.Status.SUCCEEDED:
                base_text = baseline.response
        # Multi-turn chains: (item_key) -> messages so far.
        chains: dict[str, list | None] = {}
        for item in ordered:
            if item is baseline:
                continue
            depth = item.parsed.get("depth")
            if depth == "shallow":
                if item.status == EvaluationItem.Status.PENDING and not stop.is_set():
                    result, _ = await ask(item, item.prompt)
                    yield result
                continue
            if item.item_key not in chains:
                chains[item.item_key] = (
                    None
                    if base_text is None or baseline is None
                    else [*baseline.prompt, {"role": "assistant", "content": base_text}]
                )
            history = chains[item.item_key]
            if history is None:
                if item.status == EvaluationItem.Status.PENDING:
                    yield _failed(item.pk, "skipped: an earlier turn failed")
                continue
            messages = [*history, {"role": "user", "content": item.parsed["followup"]}]
            if item.status == EvaluationItem.Status.SUCCEEDED:
                chains[item.item_key] = [
                    *messages,
                    {"role": "assistant", "content": item.response},
                ]
                continue
            if item.status == EvaluationItem.Status.FAILED:
                chains[item.item_key] = None
                continue
            if stop.is_set():
                return
            result, text = await ask(item, messages)
            yield result
            chains[item.item_key] = (
                None if text is None else [*messages, {"role": "assistant", "content": text}]
            )

    def score(self, ctx: RunContext, item: EvaluationItem, result: ItemResult) -> dict[str, Any]:
        letters = item.parsed.get("letters") or "ABCD"
        answer = parse_final_answer(result.response, letters)
        return {
            "parsed": {**item.parsed, "answer": answer},
            "correct": answer is not None and answer == item.parsed.get("gold"),
        }


class RobustnessKind(QuestionKind):
    """MedQA-Followup: each question's baseline, then its shallow, deep and compounding
    probes (see the module's docstring)."""

    name = "robustness"
    label = "Multi-turn robustness"
    keeps_followups = True

    def plan(
        self, *, run: EvaluationRun, config: dict[str, Any], inputs: Sequence[McqQuestion]
    ) -> list[EvaluationItem]:
        templates = config["templates"]
        specs = templates["interventions"]
        chosen = config.get("interventions") or list(specs)
        depths = config.get("depths") or ["shallow", "deep", "compounding"]
        seed = config.get("seed", 0)
        suffix = templates.get("followup_suffix", "")
        items: list[EvaluationItem] = []
        for q in inputs:
            items += plan_baselines(run=run, questions=[q], instruction=templates["instruction"])

            def text_for(
                key: str, q: McqQuestion = q, letter: str | None = None
            ) -> tuple[str, str]:
                spec = specs[key]
                letter = letter or rb.wrong_letter(
                    gold=q.gold, letters=sorted(q.options), seed=f"{seed}:{q.id}:{key}"
                )
                context = q.contexts.get(spec.get("needs", ""), "")
                return rb.intervention_text(
                    spec, letter=letter, options=q.options, context=context
                ), letter

            usable = [k for k in chosen if rb.applicable(specs[k], {**q.contexts})]
            for key in usable if "shallow" in depths else []:
                text, letter = text_for(key)
                prompt = rb.first_prompt(
                    instruction=templates["instruction"],
                    question=q.question,
                    options=q.options,
                    intervention=text,
                )
                items.append(
                    EvaluationItem(
                        run=run,
                        item_key=f"{q.id}:shallow:{key}",
                        turn=0,
                        prompt=[{"role": "user", "content": prompt}],
                        parsed=_base(q) | _about(specs[key], key, "shallow", letter),
                    )
                )
            for key in usable if "deep" in depths else []:
                text, letter = text_for(key)
                items.append(
                    EvaluationItem(
                        run=run,
                        item_key=f"{q.id}:deep:{key}",
                        turn=1,
                        parsed=_base(q)
                        | _about(specs[key], key, "deep", letter)
                        | {"followup": _join(text, suffix)},
                    )
                )
            sequences = (templates.get("compounding") or {}) if "compounding" in depths else {}
            # Compounding is cumulative pressure towards ONE wrong answer: the letter is drawn
            # once per question (uniformly from the incorrect options, as MedQA-Followup draws
            # its suggestions) and every direct step of every sequence pushes it.
            pushed = rb.compounding_letter(
                gold=q.gold, letters=sorted(q.options), seed=f"{seed}:{q.id}"
            )
            for name, steps in sequences.items():
                if not all(rb.applicable(specs[s], {**q.contexts}) for s in steps):
                    continue
                for turn, step in enumerate(steps, start=1):
                    text, letter = text_for(step, letter=pushed)
                    items.append(
                        EvaluationItem(
                            run=run,
                            item_key=f"{q.id}:compounding:{name}",
                            turn=turn,
                            parsed=_base(q)
                            | _about(specs[step], name, "compounding", letter)
                            | {"step": step, "followup": _join(text, suffix)},
                        )
                    )
        return items

    def summarize(self, run: EvaluationRun) -> dict[str, Any]:
        from studyapp.evaluations.selectors import robustness_summary

        return {"robustness": robustness_summary(run=run)}
