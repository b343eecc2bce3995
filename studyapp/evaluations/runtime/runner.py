"""Running a run's chunks: claim, run the units through the engine, store each result.

Kind-agnostic: what an item means (its prompt, its score) is the kind's (``kinds.base``);
this module only claims chunks, builds the run's context, hands units to the engine and
stores each finished item once (a pending→done update with a ``status=pending`` guard, so
a re-run or redelivered chunk never duplicates an item or overwrites a stored answer).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from itertools import groupby
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from studyapp.evaluations.kinds import get_kind
from studyapp.evaluations.kinds.base import Kind
from studyapp.evaluations.models import EvaluationItem, EvaluationRun
from studyapp.evaluations.runtime import chunks as chunk_claims
from studyapp.evaluations.runtime.context import RunContext
from studyapp.evaluations.runtime.engine import ItemResult, ItemState, run_units

logger = logging.getLogger(__name__)


def chunks_enqueue(run_id: int, chunks: Sequence[Sequence[int]]) -> None:
    from studyapp.evaluations.tasks import evaluation_chunk_task

    for first, last in chunks:
        evaluation_chunk_task.delay(run_id, first, last)


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


def _context(run: EvaluationRun, kind: Kind) -> RunContext:
    config = run.config
    endpoint = run.endpoint
    concurrency = min(
        config.get("concurrency") or settings.EVALUATION_CONCURRENCY,
        endpoint.max_concurrent_streams if endpoint else 1,
    )
    return RunContext(
        run_id=run.pk,
        config=config,
        endpoint=kind.endpoint(run),
        params=dict(config.get("sampling_params") or {}),
        attempts=settings.EVALUATION_RETRY_ATTEMPTS,
        retry_base_s=settings.EVALUATION_RETRY_BASE_S,
        data={"concurrency": max(1, concurrency)} | kind.context_data(run),
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


def _store(kind: Kind, ctx: RunContext, item: EvaluationItem, result: ItemResult) -> bool:
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
        fields |= kind.score(ctx, item, result)
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
    kind = get_kind(run.kind)
    items = list(
        run.items.filter(pk__range=(first_id, last_id))
        .select_related("scenario__gold_disposition")
        .order_by("pk")
    )
    by_pk = {item.pk: item for item in items}
    units = [[_state(item) for item in group] for _, group in groupby(items, key=kind.unit_key)]
    units = [u for u in units if any(i.status == EvaluationItem.Status.PENDING for i in u)]
    ctx = _context(run, kind)
    stored = 0
    last_refresh = time.monotonic()

    def on_result(result: ItemResult) -> None:
        nonlocal stored, last_refresh
        if _store(kind, ctx, by_pk[result.pk], result):
            stored += 1
            # Progress the page and the CLI can show, at most once a second.
            if time.monotonic() - last_refresh >= 1.0:
                last_refresh = time.monotonic()
                refreshed = evaluation_refresh(run_id=run_id)
                if progress is not None:
                    progress(refreshed)

    def on_unit_crash(unit: list[ItemState], error: str) -> None:
        for state in unit:
            _store(kind, ctx, by_pk[state.pk], ItemResult(pk=state.pk, ok=False, error=error))

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

    try:
        run_units(
            units,
            lambda unit, stop: kind.run_unit(ctx, unit, stop),
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
