"""The one interface every kind of evaluation run implements.

The runtime (``evaluations.runtime``: engine, chunks, slots, the runner) knows runs, items
and chunks and nothing of clinical science; everything a kind means lives behind these
methods, in the order a run meets them:

- ``configure`` (starting): the run's config (everything needed to repeat it) and the
  inputs its plan reads;
- ``plan``: the run's items, unsaved, in unit order;
- ``unit_key``: which unit an item belongs to (a unit's items run in order, in one task);
- ``context_data`` (before a chunk's loop starts, in the writing thread): plain data the
  units need (scenarios' levels, a second endpoint...);
- ``run_unit`` (in the event loop): the unit's pending items, one ItemResult each;
- ``score`` (in the writing thread): the fields stored for a finished item;
- ``summarize`` (reading): the kind's own figures of a run.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from studyapp.chat.llm import EndpointConfig, Purpose
from studyapp.evaluations.runtime.context import RunContext
from studyapp.evaluations.runtime.engine import ItemResult, ItemState

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from studyapp.evaluations.models import EvaluationItem, EvaluationRun
    from studyapp.participation.models import Participant
    from studyapp.studies.models import Arm, ModelEndpoint, Study

DEFAULT_CHUNK_UNITS = 10


class EvaluationError(ValueError):
    """A run cannot start as asked; the message says why (safe to show the investigator)."""


@dataclass(frozen=True)
class StartRequest:
    """What an investigator (form) or the CLI asks for; each kind reads what it needs."""

    kind: str
    arm_key: str | None = None
    items_path: Path | None = None
    n: int | None = None
    repetitions: int = 1
    asked: str = "together"
    templates_path: Path | None = None
    interventions: Sequence[str] = ()
    depths: Sequence[str] = ()
    patient_endpoint: str | None = None
    concurrency: int | None = None
    chunk_units: int = DEFAULT_CHUNK_UNITS
    seed: int = 0
    # Prices per million tokens ({"prompt": 2.5, "completion": 10.0}) for the cost column;
    # each price not given here is the arm endpoint's at the start.
    price_per_million: dict | None = None
    # Rubric runs: the grader's endpoint (by name) and what it grades: participants'
    # chats and answers (all arms, or human_arm's), and chosen runs' outputs (by key).
    grader_endpoint: str | None = None
    humans: bool = False
    human_arm: str | None = None
    source_runs: Sequence[str] = ()
    # Model-alone runs: the study's prompt template by key (None: the default, "helpmed").
    prompt_template: str | None = None
    # The run's name (its key in the study); None: named by kind, arm and date.
    name: str | None = None


@dataclass(frozen=True)
class Configured:
    """A kind's answer to a start request."""

    config: dict[str, Any]
    # What plan() reads besides the study (the MCQ questions of a file), or None.
    inputs: Any
    # Where the items come from, for the runs table ("arm a", "medqa.jsonl sha256:...").
    source: str


class Kind(ABC):
    """One kind of evaluation run. Instances hold no state: one per kind, in KINDS."""

    name: ClassVar[str]
    label: ClassVar[str]
    # The start form requires a JSONL file of questions.
    needs_questions: ClassVar[bool] = False
    # Items are scenario answers scored as participants' are (comparison with humans).
    answers_scenarios: ClassVar[bool] = False
    # The request's purpose the arm's endpoint is asked with ("" is a participant's chat);
    # a scripted development server picks its persona from it.
    purpose: ClassVar[str] = Purpose.CHAT
    # The run reuses an LLM arm's model, system prompt and sampling. A kind that asks a
    # model of its own about other runs' outputs (the rubric grader) has no arm.
    uses_arm: ClassVar[bool] = True

    def model_endpoint(self, *, arm: Arm | None, request: StartRequest) -> ModelEndpoint:
        """The endpoint the run asks: the arm's."""
        if arm is None or arm.endpoint is None:
            raise EvaluationError(f"arm {arm.key if arm else '?'} has no model endpoint")
        return arm.endpoint

    def templates_problem(self, path: Path) -> str | None:
        """What is wrong with a templates file given for this kind (None: nothing, or the
        kind reads no templates)."""
        return None

    @abstractmethod
    def configure(
        self, *, study: Study, arm: Arm | None, request: StartRequest, base: dict
    ) -> Configured:
        """The run's config (`base`, the settings every kind keeps, plus the kind's own);
        `arm` is None for a kind that does not use one."""

    @abstractmethod
    def plan(self, *, run: EvaluationRun, config: dict, inputs: Any) -> list[EvaluationItem]:
        """The run's items, unsaved, ordered by unit."""

    @abstractmethod
    def unit_key(self, item: ItemState | EvaluationItem) -> str:
        """The unit an item belongs to."""

    def context_data(self, run: EvaluationRun) -> dict[str, Any]:
        """Plain data the units read (built in the writing thread before the loop)."""
        return {}

    def endpoint(self, run: EvaluationRun) -> EndpointConfig | None:
        """The arm's endpoint as this kind asks it."""
        if run.endpoint is None:
            return None
        # Runs started before purposes named a scripted persona by model ("model_override").
        model = run.config.get("model_override")
        return EndpointConfig.from_endpoint(run.endpoint, model=model, purpose=self.purpose)

    @abstractmethod
    def run_unit(
        self, ctx: RunContext, items: list[ItemState], stop: threading.Event
    ) -> AsyncIterator[ItemResult]:
        """An async generator: one result for each pending item of the unit."""

    @abstractmethod
    def score(self, ctx: RunContext, item: EvaluationItem, result: ItemResult) -> dict[str, Any]:
        """The fields to store for a finished item (in the writing thread)."""

    def summarize(self, run: EvaluationRun) -> dict[str, Any]:
        """The kind's own figures of a run (accuracy, a robustness table...)."""
        return {}

    def made_participants(self, run: EvaluationRun) -> QuerySet[Participant]:
        """Participants the run created (simulated ones), deleted with it."""
        from studyapp.participation.models import Participant

        return Participant.objects.none()


def arm_sampling(arm: Arm) -> dict[str, Any]:
    """The arm's sampling parameters a request may carry."""
    from studyapp.studies.models import SAMPLING_KEYS

    return {k: v for k, v in (arm.sampling_params or {}).items() if k in SAMPLING_KEYS}


def endpoint_prices(endpoint: ModelEndpoint, given: dict | None = None) -> dict[str, float]:
    """The endpoint's prices per million tokens now, each overridden by a given one.

    A run keeps them in its config, so a later change of the endpoint's prices never
    rewrites the cost of runs already made.
    """
    stored = {
        "prompt": endpoint.price_prompt_per_million,
        "completion": endpoint.price_completion_per_million,
    }
    prices = {key: float(value) for key, value in stored.items() if value is not None}
    return prices | {key: float(value) for key, value in (given or {}).items()}


class ImportedKind(Kind):
    """Published results read from files (HELPMed's model-alone answers): never started
    or run here; only read."""

    name = "imported"
    label = "Imported results"

    def configure(self, **kwargs: Any) -> Configured:
        raise EvaluationError("imported runs come from import_model_answers, not a start")

    def plan(self, **kwargs: Any) -> list[EvaluationItem]:
        raise EvaluationError("imported runs have no plan")

    def unit_key(self, item: ItemState | EvaluationItem) -> str:
        return f"{item.item_key}#{item.repetition}"

    async def run_unit(self, ctx, items, stop):  # pragma: no cover - never planned
        raise EvaluationError("imported runs are never run")
        yield

    def score(self, ctx, item, result) -> dict[str, Any]:  # pragma: no cover
        raise EvaluationError("imported runs are never scored here")
