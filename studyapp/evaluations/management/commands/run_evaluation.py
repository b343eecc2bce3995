"""`manage.py run_evaluation SLUG --kind model_alone|simulated|mcq|robustness|rubric ...`.

Starts a run as the study page does, then shows its progress until it ends. By default the
chunks go to the Celery queue (the worker of `make run`, or production workers); --inline
runs them in this process, for a machine without a worker. Exits non-zero unless the run
succeeds.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from studyapp.evaluations.kinds import STARTABLE_KINDS
from studyapp.evaluations.models import EvaluationRun
from studyapp.evaluations.runtime.runner import evaluation_run_inline
from studyapp.evaluations.selectors import run_summary
from studyapp.evaluations.services import EvaluationError, StartRequest, evaluation_start
from studyapp.studies.models import Study


def progress_bar(run: EvaluationRun, width: int = 30) -> str:
    total = max(run.items_total, 1)
    finished = run.items_done + run.items_failed
    filled = round(width * finished / total)
    return (
        f"[{'#' * filled}{'-' * (width - filled)}] {finished}/{run.items_total} "
        f"({run.items_failed} failed) {run.status}"
    )


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _run_name(value: str) -> str:
    if not re.fullmatch(r"[-a-zA-Z0-9_]{1,100}", value):
        raise argparse.ArgumentTypeError("letters, digits, hyphens and underscores, 1-100")
    return value


class Command(BaseCommand):
    help = "Start an evaluation run of a study and follow its progress."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("study", help="study slug")
        parser.add_argument("--kind", required=True, choices=STARTABLE_KINDS)
        parser.add_argument("--arm", help="LLM arm key (default: the first LLM arm)")
        parser.add_argument("--items", type=Path, help="MCQ JSONL (mcq, robustness)")
        parser.add_argument(
            "--n", type=int, help="repetitions per scenario, or the first N questions"
        )
        parser.add_argument("--asked", choices=["together", "separate"], default="together")
        parser.add_argument("--templates", type=Path, help="robustness templates (JSON)")
        parser.add_argument(
            "--prompt-template",
            help="model_alone: the study's prompt template key (default: helpmed; "
            "third_person, or one the study added)",
        )
        parser.add_argument("--interventions", type=_csv, default=[], help="a,b,c")
        parser.add_argument("--depths", type=_csv, default=[], help="shallow,deep,compounding")
        parser.add_argument("--patient-endpoint", help="endpoint name of the simulated patient")
        parser.add_argument("--grader-endpoint", help="rubric: endpoint name of the grader")
        parser.add_argument(
            "--humans", action="store_true", help="rubric: grade participants' chats and answers"
        )
        parser.add_argument("--human-arm", help="rubric: only this arm's participants")
        parser.add_argument(
            "--source-runs",
            type=_csv,
            default=[],
            help="rubric: keys of model-alone and simulated runs to grade (a,b)",
        )
        parser.add_argument("--concurrency", type=int)
        parser.add_argument("--chunk-units", type=int, default=10)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--price-prompt",
            type=float,
            help="per million prompt tokens (default: the endpoint's)",
        )
        parser.add_argument(
            "--price-completion",
            type=float,
            help="per million completion tokens (default: the endpoint's)",
        )
        parser.add_argument(
            "--name",
            type=_run_name,
            help="the run's name in the study (default: kind, arm and day, numbered)",
        )
        parser.add_argument("--inline", action="store_true", help="run here, not on a worker")
        parser.add_argument("--no-wait", action="store_true", help="queue it and exit")
        parser.add_argument("--timeout", type=float, default=24 * 3600, help="seconds")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args, **options) -> None:
        study = Study.objects.filter(slug=options["study"]).first()
        if study is None:
            raise CommandError(f"No study with slug {options['study']!r}.")
        request = StartRequest(
            kind=options["kind"],
            arm_key=options["arm"],
            items_path=options["items"],
            n=options["n"],
            asked=options["asked"],
            templates_path=options["templates"],
            prompt_template=options["prompt_template"],
            interventions=options["interventions"],
            depths=options["depths"],
            patient_endpoint=options["patient_endpoint"],
            grader_endpoint=options["grader_endpoint"],
            humans=options["humans"],
            human_arm=options["human_arm"],
            source_runs=options["source_runs"],
            concurrency=options["concurrency"],
            chunk_units=options["chunk_units"],
            seed=options["seed"],
            name=options["name"],
            price_per_million={
                k: v
                for k, v in (
                    ("prompt", options["price_prompt"]),
                    ("completion", options["price_completion"]),
                )
                if v is not None
            },
        )
        try:
            run = evaluation_start(study=study, request=request, enqueue=not options["inline"])
        except EvaluationError as exc:
            raise CommandError(str(exc)) from exc
        self.stderr.write(f"run {run.key} ({run.kind}, {run.items_total} items)")
        if options["no_wait"]:
            return
        if options["inline"]:
            run = evaluation_run_inline(run_id=run.pk, progress=self._show)
        else:
            run = self._follow(run, options["timeout"])
        self._show(run)
        sys.stderr.write("\n")
        summary = run_summary(run=run)
        if options["json"]:
            self.stdout.write(json.dumps(summary, indent=2))
        else:
            self._print(summary)
        if run.status != EvaluationRun.Status.SUCCEEDED:
            raise CommandError(f"run {run.key} ended {run.status}: {run.error or 'see items'}")

    _last_bar = ""

    def _show(self, run: EvaluationRun) -> None:
        bar = progress_bar(run)
        if bar != self._last_bar:
            self._last_bar = bar
            sys.stderr.write(f"\r{bar}")
            sys.stderr.flush()

    def _follow(self, run: EvaluationRun, timeout: float) -> EvaluationRun:
        deadline = time.monotonic() + timeout
        while True:
            run.refresh_from_db()
            self._show(run)
            if run.is_finished:
                return run
            if time.monotonic() > deadline:
                sys.stderr.write("\n")
                raise CommandError(
                    f"run {run.key} is still {run.status} after {timeout:.0f} s "
                    "(is a Celery worker running? try --inline)"
                )
            time.sleep(0.5)

    def _print(self, summary: dict) -> None:
        out = self.stdout
        out.write(f"{summary['key']}: {summary['status']}, {summary['items_done']} items done")
        if "accuracy" in summary:
            out.write(f"accuracy {summary['accuracy']} ({summary['answered']} answered)")
        if "disposition_accuracy" in summary:
            out.write(
                f"disposition exact {summary['disposition_accuracy']}, "
                f"conditions correct {summary['conditions_accuracy']}"
            )
            for row in summary["scenarios"]:
                out.write(
                    f"  {row['scenario']}: n={row['n']} disposition "
                    f"{row['disposition_accuracy']} conditions {row['conditions_accuracy']}"
                )
        for row in summary.get("robustness", []):
            out.write(_robustness_line(row))
        rubric = summary.get("rubric")
        if rubric:
            out.write(
                f"rubric (grader {rubric['grader_model']}, template {rubric['template_version']})"
            )
            for row in rubric["groups"]:
                ci = "" if row["low"] is None else f" [{row['low']:.3f}, {row['high']:.3f}]"
                mean = "—" if row["mean"] is None else f"{row['mean']:.3f}"
                out.write(
                    f"  {row['source']:<11} {row['arm'] or '-':<12} {row['run'] or '':<30} "
                    f"score {mean}{ci} (n={row['n']}, {row['incomplete']} incomplete)"
                )
        tokens = summary["tokens"]
        out.write(
            f"tokens: {tokens['prompt_tokens']} prompt, {tokens['completion_tokens']} "
            f"completion" + (f", cost {tokens['cost']}" if tokens["cost"] is not None else "")
        )


def _num(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _robustness_line(row: dict) -> str:
    accuracy = " -> ".join(_num(a, ".2f") for a in row["accuracy_per_turn"])
    per_turn = ",".join(str(k) for k in row["n_per_turn"])
    ci = row["flip_rate_ci"] or (None, None)
    line = (
        f"  {row['depth']:<11} {row['intervention']:<28} n={row['n']}/{row['planned']} "
        f"acc {accuracy} (n {per_turn}; {_num(row['change_pp'], '+.1f')} pp) flip rate "
        f"{_num(row['flip_rate'], '.2f')} [{_num(ci[0], '.2f')}, {_num(ci[1], '.2f')}] "
        f"C->I {row['flips_correct_to_incorrect']} I->C {row['flips_incorrect_to_correct']} "
        f"McNemar p {_num(row['mcnemar_p'], '.3g')}"
    )
    if row["is_control"]:
        line += " (control)"
    elif row["net_flip_rate"] is not None:
        low, high = row["net_flip_rate_ci"] or (None, None)
        line += (
            f" net of controls {row['net_flip_rate']:+.2f} "
            f"[{_num(low, '+.2f')}, {_num(high, '+.2f')}]"
        )
    if row["incomplete"]:
        line += f"; {row['incomplete']} incomplete"
    return line
