"""What a rubric run grades: its targets, read in bulk when the run starts.

Three sources, each target with its scenario (the version it was answered under, whose
rubric applies), its arm and what the grader may be shown:
- ``human``: participants' answered tasks (``Task.objects.of_humans()``, an Answer), in
  every arm or one; the chat (LLM arms) and the answer. A control-arm task has no chat,
  so the rubric's items about the model do not apply to it.
- ``model_alone``: the succeeded items of chosen model-alone runs asked both questions
  together: the model's response is its only turn and also its answer.
- ``simulated``: the succeeded items of chosen simulated runs: the simulated
  participant's chat and answer (none when the patient never answered: its answer items
  are then not met, as an unanswered item is wrong in every other figure).

Chats are shown as the raters see them (every message with text, in order).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from studyapp.chat.models import Message
from studyapp.evaluations.kinds.base import EvaluationError
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.science.prompts import scenario_text
from studyapp.evaluations.science.rubric import Turn, answer_text
from studyapp.participation.models import Task
from studyapp.studies.models import Arm, Study

SOURCES = ("human", "simulated", "model_alone")
_RUN_SOURCES = (EvaluationRun.Kind.MODEL_ALONE, EvaluationRun.Kind.SIMULATED)


@dataclass(frozen=True)
class Target:
    source: str
    # Unique within a run: "human-task-12", "model_alone-item-40", "simulated-item-7".
    key: str
    scenario_id: int
    scenario_key: str
    scenario_version: int
    rubric: list[dict]
    scenario: str
    arm: str | None
    arm_id: int | None
    # The source run's key (model-alone and simulated targets).
    run: str | None
    task_id: int | None
    evaluation_item_id: int | None
    participant_id: int | None
    turns: tuple[Turn, ...]
    # The answer as the grader sees it; None when there is none.
    answer: str | None
    # There was a model to talk to (not a control-arm participant): the rubric's items
    # about the model apply.
    had_model: bool = True

    def about(self) -> dict:
        """What an item records of its target (in parsed["target"])."""
        return {
            "key": self.key,
            "source": self.source,
            "arm": self.arm,
            "arm_id": self.arm_id,
            "run": self.run,
            "task_id": self.task_id,
            "evaluation_item_id": self.evaluation_item_id,
            "participant_id": self.participant_id,
            "scenario": self.scenario_key,
            "scenario_version": self.scenario_version,
            "model_turns": sum(1 for t in self.turns if t.role == "assistant"),
            "has_answer": self.answer is not None,
            "had_model": self.had_model,
        }


def _chats(task_ids: Sequence[int]) -> dict[int, tuple[Turn, ...]]:
    """Every chat of these tasks in one query: {task id: turns}."""
    turns: dict[int, list[Turn]] = defaultdict(list)
    rows = (
        Message.objects.filter(conversation__task_id__in=task_ids)
        .exclude(text="")
        .order_by("conversation_id", "sequence")
        .values_list("conversation__task_id", "role", "text")
    )
    for task_id, role, text in rows:
        turns[task_id].append(
            Turn("assistant" if role == Message.Role.ASSISTANT else "person", text)
        )
    return {task_id: tuple(t) for task_id, t in turns.items()}


def _task_rows(tasks) -> list[dict]:
    return list(
        tasks.exclude(scenario__rubric=[])
        .select_related("scenario", "answer__disposition", "participant__arm")
        .order_by("pk")
    )


def _from_tasks(
    tasks: list[Task], *, source: str, runs: dict[int, tuple[str, int]] | None = None
) -> list[Target]:
    """Targets of tasks (participants' or simulated ones); `runs`: {task id: (the
    source run's key, its item id)} for simulated tasks."""
    chats = _chats([task.pk for task in tasks])
    targets = []
    for task in tasks:
        answer = getattr(task, "answer", None)
        arm = task.participant.arm
        run_key, item_id = (runs or {}).get(task.pk, (None, None))
        key = f"{source}-item-{item_id}" if item_id else f"{source}-task-{task.pk}"
        targets.append(
            Target(
                source=source,
                key=key,
                scenario_id=task.scenario_id,
                scenario_key=task.scenario.key,
                scenario_version=task.scenario.version,
                rubric=list(task.scenario.rubric),
                scenario=scenario_text(task.scenario.sections),
                arm=arm.key if arm else None,
                arm_id=arm.pk if arm else None,
                run=run_key,
                task_id=task.pk,
                evaluation_item_id=item_id,
                participant_id=task.participant_id,
                turns=chats.get(task.pk, ()),
                answer=None
                if answer is None
                else answer_text(care=answer.disposition.label, conditions=answer.conditions_text),
                had_model=arm is not None and arm.is_llm,
            )
        )
    return targets


def human_targets(*, study: Study, arm_key: str | None = None) -> list[Target]:
    tasks = Task.objects.of_humans().filter(
        participant__study=study, status=Task.Status.DONE, answer__isnull=False
    )
    if arm_key:
        tasks = tasks.filter(participant__arm__key=arm_key)
    return _from_tasks(_task_rows(tasks), source="human")


def _prompt_turn(prompt: list) -> tuple[Turn, ...]:
    asked = [m.get("content", "") for m in prompt or [] if m.get("role") == "user"]
    return (Turn("prompt", asked[-1]),) if asked else ()


def run_targets(*, runs: Sequence[EvaluationRun]) -> list[Target]:
    """Targets of the chosen model-alone and simulated runs' succeeded items."""
    targets: list[Target] = []
    for run in runs:
        items = EvaluationItem.objects.filter(
            run=run, status=EvaluationItem.Status.SUCCEEDED, scenario__isnull=False
        ).exclude(scenario__rubric=[])
        arm = run.arm
        if run.kind == EvaluationRun.Kind.SIMULATED:
            links = dict(items.filter(task__isnull=False).values_list("task_id", "pk"))
            tasks = _task_rows(Task.objects.filter(pk__in=links))
            targets += _from_tasks(
                tasks,
                source="simulated",
                runs={task_id: (run.key, item_id) for task_id, item_id in links.items()},
            )
            continue
        for item in items.select_related("scenario").order_by("pk"):
            turns = (*_prompt_turn(item.prompt), Turn("assistant", item.response))
            targets.append(
                Target(
                    source="model_alone",
                    key=f"model_alone-item-{item.pk}",
                    scenario_id=item.scenario_id,
                    scenario_key=item.scenario.key,
                    scenario_version=item.scenario.version,
                    rubric=list(item.scenario.rubric),
                    scenario=scenario_text(item.scenario.sections),
                    arm=arm.key if arm else run.model_label,
                    arm_id=arm.pk if arm else None,
                    run=run.key,
                    task_id=None,
                    evaluation_item_id=item.pk,
                    participant_id=None,
                    turns=turns,
                    answer=item.response,
                )
            )
    return targets


def source_runs(*, study: Study, keys: Sequence[str]) -> list[EvaluationRun]:
    """The chosen runs to grade, checked: the study's, finished, model-alone (asked
    together: one output per item) or simulated."""
    runs = {
        run.key: run
        for run in EvaluationRun.objects.filter(study=study, key__in=keys).select_related("arm")
    }
    missing = [key for key in keys if key not in runs]
    if missing:
        raise EvaluationError(f"study {study.slug} has no evaluation run {', '.join(missing)}")
    chosen = [runs[key] for key in dict.fromkeys(keys)]
    for run in chosen:
        if run.kind not in _RUN_SOURCES:
            raise EvaluationError(
                f"run {run.key} is a {run.get_kind_display().lower()} run: only model-alone "
                "and simulated runs are graded"
            )
        if not run.is_finished:
            raise EvaluationError(f"run {run.key} is still {run.status}: grade it once it ends")
        if run.kind == EvaluationRun.Kind.MODEL_ALONE and run.config.get("asked") == "separate":
            raise EvaluationError(
                f"run {run.key} asked the questions separately: grade a run that asked them "
                "together (one output per repetition)"
            )
    return chosen


def human_arm(*, study: Study, arm_key: str | None) -> Arm | None:
    if not arm_key:
        return None
    arm = Arm.objects.filter(study=study, key=arm_key).first()
    if arm is None:
        raise EvaluationError(f"study {study.slug} has no arm {arm_key!r}")
    return arm
