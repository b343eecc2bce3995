"""Writes for evaluation runs: start, run a chunk, refresh progress, cancel, resume.

A run's items are all created when it starts (status pending), in unit order, so a chunk is
a contiguous range of item ids covering whole units. A chunk stores only items still
pending, one row at a time as each finishes, and a pending→done update happens once: a
re-run or redelivered chunk never duplicates an item or overwrites a stored answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.text import slugify

from studyapp.chat.llm import EndpointConfig
from studyapp.evaluations import chunks as chunk_claims
from studyapp.evaluations import robustness as rb
from studyapp.evaluations.engine import ItemResult, ItemState, run_units, run_units_with_db
from studyapp.evaluations.kinds import kind_module
from studyapp.evaluations.kinds.context import RunContext
from studyapp.evaluations.kinds.model_alone import study_levels
from studyapp.evaluations.mcq_items import file_source, read_mcq_jsonl
from studyapp.evaluations.models import EvaluationChunk, EvaluationItem, EvaluationRun
from studyapp.evaluations.prompts import MODEL_ALONE_TEMPLATES, SIMULATED_TEMPLATES
from studyapp.studies.models import SAMPLING_KEYS, Arm, ModelEndpoint, Study

logger = logging.getLogger(__name__)

STARTABLE_KINDS = ("model_alone", "simulated", "mcq", "robustness")
DEFAULT_CHUNK_UNITS = 10
# The MedQA-Followup protocol asks at temperature 0 and needs room to reason.
MCQ_SAMPLING = {"temperature": 0.0, "max_tokens": 1024}
# Personas of the scripted model server (studyapp.chat.scripted_server.ScriptedConfig).
SCRIPTED_MCQ_MODEL = "scripted-mcq"
SCRIPTED_PATIENT_MODEL = "scripted-patient"


class EvaluationError(ValueError):
    """A run cannot start as asked; the message says why (safe to show the investigator)."""


@dataclass(frozen=True)
class StartRequest:
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


def _arm(study: Study, arm_key: str | None) -> Arm:
    arms = Arm.objects.filter(study=study, kind=Arm.Kind.LLM).select_related("endpoint")
    if arm_key:
        arm = arms.filter(key=arm_key).first()
        if arm is None:
            raise EvaluationError(f"study {study.slug} has no LLM arm {arm_key!r}")
        return arm
    arm = arms.order_by("key").first()
    if arm is None:
        raise EvaluationError(f"study {study.slug} has no LLM arm to evaluate")
    return arm


def _sampling(arm: Arm) -> dict[str, Any]:
    return {k: v for k, v in (arm.sampling_params or {}).items() if k in SAMPLING_KEYS}


def _prices(endpoint: ModelEndpoint, given: dict | None = None) -> dict[str, float]:
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


def _config_and_inputs(study: Study, arm: Arm, request: StartRequest) -> tuple[dict, Any, str]:
    """The run's config (everything needed to repeat it), the kind's inputs, the source."""
    config: dict[str, Any] = {
        "arm": arm.key,
        "chunk_units": max(1, request.chunk_units),
        "concurrency": request.concurrency,
        "seed": request.seed,
        "price_per_million": _prices(arm.endpoint, request.price_per_million),
    }
    if request.kind in ("mcq", "robustness"):
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
        config |= {
            "items_path": str(request.items_path),
            "items": len(questions),
            "templates": templates
            if request.kind == "robustness"
            else {"instruction": templates["instruction"]},
            "sampling_params": _sampling(arm) | MCQ_SAMPLING,
        }
        if arm.endpoint.is_scripted:
            # The scripted server's demo persona cannot take a test; its MCQ persona can.
            config["model_override"] = SCRIPTED_MCQ_MODEL
        if request.kind == "robustness":
            config |= {
                "interventions": list(request.interventions),
                "depths": list(request.depths) or list(rb.DEPTHS),
            }
        return config, questions, file_source(request.items_path)
    if request.asked not in ("together", "separate"):
        raise EvaluationError("asked must be 'together' or 'separate'")
    n = request.n if request.n is not None else request.repetitions
    if n < 1:
        raise EvaluationError("the number of repetitions must be at least 1")
    config |= {"repetitions": n, "sampling_params": _sampling(arm)}
    if request.kind == "model_alone":
        config |= {
            "asked": request.asked,
            "system_prompt": arm.system_prompt,
            "templates": dict(MODEL_ALONE_TEMPLATES),
        }
    else:
        patient = request.patient_endpoint
        patient_endpoint = arm.endpoint
        if patient:
            patient_endpoint = ModelEndpoint.objects.filter(name=patient).first()
            if patient_endpoint is None:
                raise EvaluationError(f"no model endpoint named {patient!r}")
        config |= {
            "templates": dict(SIMULATED_TEMPLATES),
            "system_prompt": arm.system_prompt,
            "patient_endpoint": patient_endpoint.name,
            # The patient's tokens are counted apart and priced at its endpoint's prices
            # (the arm's, given ones included, when the arm's endpoint plays the patient).
            "patient_price_per_million": config["price_per_million"]
            if patient_endpoint.pk == arm.endpoint_id
            else _prices(patient_endpoint),
            # Without a patient model of its own, a scripted arm's server plays the patient.
            "patient_model": SCRIPTED_PATIENT_MODEL
            if not patient and arm.endpoint.is_scripted
            else None,
            "max_turns": arm.max_turns,
            "patient_sampling": {"temperature": 0.7, "max_tokens": 200},
        }
    return config, None, f"arm {arm.key}"


def _run_key(kind: str, arm: Arm, now) -> str:
    return slugify(f"{kind}-{arm.key}-{now:%Y%m%d-%H%M%S-%f}")[:100]


def evaluation_start(
    *, study: Study, request: StartRequest, user=None, enqueue: bool = True
) -> EvaluationRun:
    """Create the run and all its items (pending); the chunks are queued on commit."""
    if request.kind not in STARTABLE_KINDS:
        raise EvaluationError(f"kind must be one of {', '.join(STARTABLE_KINDS)}")
    arm = _arm(study, request.arm_key)
    if arm.endpoint is None:
        raise EvaluationError(f"arm {arm.key} has no model endpoint")
    config, inputs, source = _config_and_inputs(study, arm, request)
    module = kind_module(request.kind)
    now = timezone.now()
    with transaction.atomic():
        run = EvaluationRun.objects.create(
            study=study,
            key=_run_key(request.kind, arm, now),
            kind=request.kind,
            model_label=config.get("model_override") or arm.endpoint.model,
            endpoint=arm.endpoint,
            arm=arm,
            config=config,
            source=source,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        items = module.plan(run=run, config=config, inputs=inputs)
        if not items:
            raise EvaluationError("this run would have no items (no scenarios or questions?)")
        created = EvaluationItem.objects.bulk_create(items, batch_size=500)
        chunks = _chunks(module, created, config["chunk_units"])
        EvaluationChunk.objects.bulk_create(
            EvaluationChunk(run=run, first_item_id=first, last_item_id=last, queued_at=now)
            for first, last in chunks
        )
        run.items_total = len(created)
        run.save(update_fields=["items_total", "updated_at"])
        if enqueue:
            transaction.on_commit(lambda: _enqueue(run.pk, chunks))
    logger.info("evaluations: run %s (%s) started with %s items", run.pk, run.kind, len(created))
    return run


def _chunks(module, items: Sequence[EvaluationItem], chunk_units: int) -> list[list[int]]:
    """[first id, last id] ranges of whole units, chunk_units units each."""
    units = [list(group) for _, group in groupby(items, key=module.unit_key)]
    chunks = []
    for start in range(0, len(units), chunk_units):
        block = [item.pk for unit in units[start : start + chunk_units] for item in unit]
        chunks.append([min(block), max(block)])
    return chunks


def _enqueue(run_id: int, chunks: Sequence[Sequence[int]]) -> None:
    from studyapp.evaluations.tasks import evaluation_chunk_task

    for first, last in chunks:
        evaluation_chunk_task.delay(run_id, first, last)


def evaluation_resume(*, run_id: int) -> int:
    """Queue again every chunk not done and not held by a live worker."""
    run = EvaluationRun.objects.get(pk=run_id)
    if run.is_finished:
        return 0
    ranges = chunk_claims.chunks_requeue(run_id=run_id)
    transaction.on_commit(lambda: _enqueue(run_id, ranges))
    return len(ranges)


def evaluation_cancel(*, run_id: int) -> bool:
    """Stop a run: chunks check between items and stop asking; stored items stay."""
    changed = EvaluationRun.objects.filter(
        pk=run_id, status__in=[EvaluationRun.Status.QUEUED, EvaluationRun.Status.RUNNING]
    ).update(status=EvaluationRun.Status.CANCELLED, finished_at=timezone.now())
    return bool(changed)


def evaluation_refresh(*, run_id: int) -> EvaluationRun:
    """Recount progress; a run with nothing pending is finished (succeeded or failed)."""
    counts = EvaluationItem.objects.filter(run_id=run_id).aggregate(
        total=Count("pk"),
        done=Count("pk", filter=Q(status=EvaluationItem.Status.SUCCEEDED)),
        failed=Count("pk", filter=Q(status=EvaluationItem.Status.FAILED)),
    )
    now = timezone.now()
    EvaluationRun.objects.filter(pk=run_id).update(
        items_total=counts["total"],
        items_done=counts["done"],
        items_failed=counts["failed"],
        updated_at=now,
    )
    if counts["done"] + counts["failed"] >= counts["total"]:
        max_failed = settings.EVALUATION_MAX_FAILED_FRACTION
        failed = counts["total"] == 0 or counts["failed"] > max_failed * counts["total"]
        status = EvaluationRun.Status.FAILED if failed else EvaluationRun.Status.SUCCEEDED
        EvaluationRun.objects.filter(
            pk=run_id,
            status__in=[EvaluationRun.Status.QUEUED, EvaluationRun.Status.RUNNING],
        ).update(
            status=status,
            finished_at=now,
            error=f"{counts['failed']} of {counts['total']} items failed" if failed else "",
        )
    return EvaluationRun.objects.get(pk=run_id)


def _context(run: EvaluationRun) -> RunContext:
    config = run.config
    endpoint = run.endpoint
    concurrency = min(
        config.get("concurrency") or settings.EVALUATION_CONCURRENCY,
        endpoint.max_concurrent_streams if endpoint else 1,
    )
    data: dict[str, Any] = {"concurrency": max(1, concurrency)}
    if run.kind in ("model_alone", "simulated"):
        data["levels"] = study_levels(run.study)
        data["level_pks"] = {
            level.code: level.pk for level in run.study.disposition_scale.levels.all()
        }
    if run.kind == "simulated":
        patient = ModelEndpoint.objects.get(name=config["patient_endpoint"])
        data["patient"] = EndpointConfig.from_endpoint(patient, model=config.get("patient_model"))
    return RunContext(
        run_id=run.pk,
        config=config,
        endpoint=(
            EndpointConfig.from_endpoint(endpoint, model=config.get("model_override"))
            if endpoint
            else None
        ),
        params=dict(config.get("sampling_params") or {}),
        attempts=settings.EVALUATION_RETRY_ATTEMPTS,
        retry_base_s=settings.EVALUATION_RETRY_BASE_S,
        data=data,
    )


def _state(item: EvaluationItem) -> ItemState:
    return ItemState(
        pk=item.pk,
        item_key=item.item_key,
        repetition=item.repetition,
        turn=item.turn,
        status=item.status,
        prompt=item.prompt,
        response=item.response,
        parsed=item.parsed,
    )


def _store(module, ctx: RunContext, item: EvaluationItem, result: ItemResult) -> bool:
    """Store one finished item, once: only a pending row is updated."""
    fields: dict[str, Any] = {
        "prompt": result.prompt,
        "response": result.response,
        "error": result.error[:200],
        "time_to_first_token_ms": result.time_to_first_token_ms,
        "duration_ms": result.duration_ms,
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "finish_reason": result.finish_reason[:30],
        "updated_at": timezone.now(),
    }
    if result.ok:
        fields |= module.score(ctx, item, result)
        fields["status"] = EvaluationItem.Status.SUCCEEDED
    else:
        fields["status"] = EvaluationItem.Status.FAILED
    if result.extra:
        fields["parsed"] = {**fields.get("parsed", item.parsed), **result.extra}
    if result.attempts > 1:
        fields["parsed"] = {**fields.get("parsed", item.parsed), "attempts": result.attempts}
    stored = EvaluationItem.objects.filter(
        pk=item.pk, status=EvaluationItem.Status.PENDING
    ).update(**fields)
    return bool(stored)


def evaluation_run_chunk(
    *,
    run_id: int,
    first_id: int,
    last_id: int,
    progress: Callable[[EvaluationRun], None] | None = None,
) -> EvaluationRun:
    """Run the pending items of one chunk and store each as it finishes.

    The chunk is claimed first (see evaluations.chunks): a chunk already done is skipped,
    and chunks.ChunkBusy is raised while a live worker holds it.
    """
    run = EvaluationRun.objects.select_related("study__disposition_scale", "endpoint").get(
        pk=run_id
    )
    if run.is_finished:
        return run
    claim = chunk_claims.chunk_claim(run_id=run_id, first_id=first_id)
    if claim is None:
        return run
    try:
        run = _run_claimed_chunk(run, first_id, last_id, claim, progress)
    except BaseException:
        # Interrupted (time limit, shutdown, a bug): queued again for the next delivery.
        chunk_claims.chunk_release(claim)
        raise
    chunk_claims.chunk_finish(claim)
    return run


def _run_claimed_chunk(
    run: EvaluationRun,
    first_id: int,
    last_id: int,
    claim: chunk_claims.Claim,
    progress: Callable[[EvaluationRun], None] | None,
) -> EvaluationRun:
    run_id = run.pk
    now = timezone.now()
    EvaluationRun.objects.filter(pk=run_id, status=EvaluationRun.Status.QUEUED).update(
        status=EvaluationRun.Status.RUNNING, started_at=now, updated_at=now
    )
    module = kind_module(run.kind)
    items = list(
        run.items.filter(pk__range=(first_id, last_id))
        .select_related("scenario__gold_disposition")
        .order_by("pk")
    )
    by_pk = {item.pk: item for item in items}
    units = [[_state(item) for item in group] for _, group in groupby(items, key=module.unit_key)]
    units = [u for u in units if any(i.status == EvaluationItem.Status.PENDING for i in u)]
    ctx = _context(run)
    stored = 0
    last_refresh = time.monotonic()

    def on_result(result: ItemResult) -> None:
        nonlocal stored, last_refresh
        if _store(module, ctx, by_pk[result.pk], result):
            stored += 1
            # Progress the page and the CLI can show, at most once a second.
            if time.monotonic() - last_refresh >= 1.0:
                last_refresh = time.monotonic()
                refreshed = evaluation_refresh(run_id=run_id)
                if progress is not None:
                    progress(refreshed)

    def on_unit_crash(unit: list[ItemState], error: str) -> None:
        for state in unit:
            _store(module, ctx, by_pk[state.pk], ItemResult(pk=state.pk, ok=False, error=error))

    heartbeat_every = settings.EVALUATION_CHUNK_LEASE_S / 4
    last_beat = time.monotonic()

    def should_stop() -> bool:
        nonlocal last_beat
        if time.monotonic() - last_beat >= heartbeat_every:
            last_beat = time.monotonic()
            if not chunk_claims.chunk_renew(claim):
                # Stalled past the lease and taken over: the new holder goes on.
                logger.warning("evaluations: run %s lost its claim on a chunk", run_id)
                return True
        return EvaluationRun.objects.filter(
            pk=run_id, status=EvaluationRun.Status.CANCELLED
        ).exists()

    # Kinds whose units write through services of their own (simulated participants).
    runner = run_units_with_db if getattr(module, "UNITS_WRITE", False) else run_units
    try:
        runner(
            units,
            lambda unit, stop: module.run_unit(ctx, unit, stop),
            concurrency=ctx.data["concurrency"],
            on_result=on_result,
            on_unit_crash=on_unit_crash,
            should_stop=should_stop,
            poll_s=settings.EVALUATION_POLL_S,
        )
    finally:
        run = evaluation_refresh(run_id=run_id)
        if progress is not None:
            progress(run)
    logger.info("evaluations: run %s chunk %s-%s stored %s", run_id, first_id, last_id, stored)
    return run


def evaluation_run_inline(
    *, run_id: int, progress: Callable[[EvaluationRun], None] | None = None
) -> EvaluationRun:
    """Run every chunk in this process (the CLI's --inline; no worker needed)."""
    run = EvaluationRun.objects.get(pk=run_id)
    ranges = run.chunks.values_list("first_item_id", "last_item_id")
    for first, last in list(ranges):
        run = evaluation_run_chunk(run_id=run_id, first_id=first, last_id=last, progress=progress)
        if run.is_finished and run.status == EvaluationRun.Status.CANCELLED:
            break
    return run


def evaluation_fail(*, run_id: int, error: str) -> None:
    """Mark a run failed after an unexpected error in its job."""
    EvaluationRun.objects.filter(
        pk=run_id, status__in=[EvaluationRun.Status.QUEUED, EvaluationRun.Status.RUNNING]
    ).update(status=EvaluationRun.Status.FAILED, error=error[:500], finished_at=timezone.now())


def evaluations_resume_stalled(*, now=None, broker_url: str = "") -> int:
    """Queue again the chunks whose worker died or whose message was lost; returns how
    many runs had chunks queued again (see evaluations.chunks).

    With `broker_url` (the beat's sweep passes the broker's), a Redis broker that lost its
    data since the last sweep (restarted without persistence, flushed) has every chunk
    still queued sent again at once, rather than after EVALUATION_STALL_S: its messages
    went with the data. A chunk delivered twice is harmless (it is claimed with a
    conditional UPDATE; a done chunk is skipped).
    """
    resent: dict[int, list[tuple[int, int]]] = {}
    marker = _BrokerMarker.for_url(broker_url)
    if marker is not None and marker.is_gone():
        for run_id in EvaluationRun.objects.filter(
            status__in=chunk_claims.UNFINISHED_RUN
        ).values_list("pk", flat=True):
            if ranges := chunk_claims.chunks_requeue(run_id=run_id, now=now):
                resent[run_id] = ranges
        logger.warning(
            "evaluations: the broker lost its data; %s chunks of %s runs sent again",
            sum(len(ranges) for ranges in resent.values()),
            len(resent),
        )
    sweep = chunk_claims.chunks_to_sweep(now=now)
    for run_id in sweep.gave_up:
        evaluation_refresh(run_id=run_id)
    for run_id, ranges in sweep.requeued.items():
        logger.warning(
            "evaluations: run %s had %s chunks stalled; queued again", run_id, len(ranges)
        )
        resent.setdefault(run_id, []).extend(ranges)
    for run_id, ranges in resent.items():
        transaction.on_commit(lambda run_id=run_id, ranges=ranges: _enqueue(run_id, ranges))
    if marker is not None:
        # Only once the messages are sent: a sweep that dies before leaves it gone.
        transaction.on_commit(marker.set)
    return len(resent)


class _BrokerMarker:
    """A key the sweep keeps in the broker's Redis: gone means Redis lost its data, and
    with it the queued messages. Keyed by database, as several installations may share
    one Redis. (The first sweep on a new Redis finds none and sends its queue again.)"""

    def __init__(self, url: str) -> None:
        self.url = url
        self.key = f"studyapp:evaluations:broker-marker:{settings.DATABASES['default']['NAME']}"

    @classmethod
    def for_url(cls, url: str) -> _BrokerMarker | None:
        # Another broker (the embedded filesystem one) keeps its messages on disk.
        return cls(url) if url.startswith(("redis://", "rediss://")) else None

    def _client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=5, socket_connect_timeout=5)

    def is_gone(self) -> bool:
        import redis

        try:
            with self._client() as client:
                return not client.exists(self.key)
        except redis.RedisError as exc:
            # Nothing is sent through a broker that cannot be reached; the next sweep asks.
            logger.warning("evaluations: the broker's Redis did not answer (%s)", exc)
            return False

    def set(self) -> None:
        import redis

        try:
            with self._client() as client:
                client.set(self.key, timezone.now().isoformat())
        except redis.RedisError as exc:
            logger.warning("evaluations: could not mark the broker's Redis (%s)", exc)


@transaction.atomic
def evaluation_delete(*, run_id: int) -> dict[str, int]:
    """Delete a finished run with its items and the simulated participants it made, and
    everything those own (tasks, conversations, messages, answers, events), all at once.

    Refused while the run is queued or running, or while a worker still holds one of its
    chunks (a cancelled run's worker stops at its next check): it would go on writing.
    Participants are found by their marker and by the items' tasks, and only simulated
    ones: a person is never deleted here. Their events go too, since an event left
    without its participant reads as a withdrawn person's in CONSORT. Returns the number
    of rows deleted per model.
    """
    from studyapp.evaluations.kinds.simulated import run_participants
    from studyapp.participation.models import Participant, ParticipantEvent

    run = EvaluationRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None:
        raise EvaluationError(f"there is no evaluation run {run_id}")
    if not run.is_finished:
        raise EvaluationError(
            f"run {run.key} is {run.get_status_display().lower()}: cancel it before deleting it"
        )
    if run.chunks.filter(chunk_claims.held_by_live_worker()).exists():
        raise EvaluationError(f"run {run.key} is still stopping: try again in a minute")
    ids = run_participants(run_id=run.pk, study_id=run.study_id).values("pk")
    deleted: dict[str, int] = {}
    # Participants before the run: the items' links to their tasks find them.
    for queryset in (
        ParticipantEvent.objects.filter(participant__in=ids),
        Participant.objects.filter(pk__in=ids),
        EvaluationRun.objects.filter(pk=run.pk),
    ):
        for label, n in queryset.delete()[1].items():
            deleted[label] = deleted.get(label, 0) + n
    logger.info(
        "evaluations: run %s deleted with %s simulated participants",
        run.pk,
        deleted.get(Participant._meta.label, 0),
    )
    return deleted
