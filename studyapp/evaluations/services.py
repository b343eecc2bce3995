"""Writes for evaluation runs an investigator asks for: start, resume, cancel, delete.

Running chunks, progress and the sweep are the runtime's (``evaluations.runtime``).

A run's items are all created when it starts (status pending), in unit order, so a chunk is
a contiguous range of item ids covering whole units. A chunk stores only items still
pending, one row at a time as each finishes, and a pending→done update happens once: a
re-run or redelivered chunk never duplicates an item or overwrites a stored answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from itertools import groupby

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from studyapp.evaluations.kinds import STARTABLE_KINDS, get_kind
from studyapp.evaluations.kinds.base import (
    EvaluationError,
    Kind,
    StartRequest,
    endpoint_prices,
)
from studyapp.evaluations.models import (
    EvaluationChunk,
    EvaluationItem,
    EvaluationRun,
    ModelAlonePrompt,
)
from studyapp.evaluations.runtime import chunks as chunk_claims
from studyapp.evaluations.runtime.runner import chunks_enqueue
from studyapp.studies.models import Arm, Study

logger = logging.getLogger(__name__)

__all__ = [
    "EvaluationError",
    "StartRequest",
    "evaluation_cancel",
    "evaluation_delete",
    "evaluation_resume",
    "evaluation_start",
    "model_alone_prompt_save",
]


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


RUN_NAME_MAX = 100  # EvaluationRun.key


def run_name_taken(study: Study, name: str) -> bool:
    return EvaluationRun.objects.filter(study=study, key=name).exists()


def default_run_name(study: Study, kind: str, subject: str, now) -> str:
    """A readable name, unique in the study: kind, arm (or model) and day, numbered
    ("mcq-llm-2026-11-28-2" is the day's second MCQ run of arm llm)."""
    stem = slugify(f"{kind}-{subject}-{now:%Y-%m-%d}")[: RUN_NAME_MAX - 6]
    taken = set(
        EvaluationRun.objects.filter(study=study, key__startswith=f"{stem}-").values_list(
            "key", flat=True
        )
    )
    number = 1
    while f"{stem}-{number}" in taken:
        number += 1
    return f"{stem}-{number}"


def evaluation_start(
    *, study: Study, request: StartRequest, user=None, enqueue: bool = True
) -> EvaluationRun:
    """Create the run and all its items (pending); the chunks are queued on commit."""
    if request.kind not in STARTABLE_KINDS:
        raise EvaluationError(f"kind must be one of {', '.join(STARTABLE_KINDS)}")
    kind = get_kind(request.kind)
    arm = _arm(study, request.arm_key) if kind.uses_arm else None
    endpoint = kind.model_endpoint(arm=arm, request=request)
    # What every run keeps, whatever its kind; the kind adds its own.
    base = {
        "arm": arm.key if arm else None,
        "chunk_units": max(1, request.chunk_units),
        "concurrency": request.concurrency,
        "seed": request.seed,
        "price_per_million": endpoint_prices(endpoint, request.price_per_million),
    }
    configured = kind.configure(study=study, arm=arm, request=request, base=base)
    config = configured.config
    now = timezone.now()
    if request.name and run_name_taken(study, request.name):
        raise EvaluationError(f"this study already has a run named {request.name!r}")
    with transaction.atomic():
        run = _run_create(
            study=study,
            name=request.name,
            subject=arm.key if arm else endpoint.name,
            now=now,
            kind=request.kind,
            model_label=endpoint.model,
            endpoint=endpoint,
            arm=arm,
            config=config,
            source=configured.source,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        items = kind.plan(run=run, config=config, inputs=configured.inputs)
        if not items:
            raise EvaluationError("this run would have no items (no scenarios or questions?)")
        created = EvaluationItem.objects.bulk_create(items, batch_size=500)
        chunks = _chunks(kind, created, config["chunk_units"])
        EvaluationChunk.objects.bulk_create(
            EvaluationChunk(run=run, first_item_id=first, last_item_id=last, queued_at=now)
            for first, last in chunks
        )
        run.items_total = len(created)
        run.save(update_fields=["items_total", "updated_at"])
        if enqueue:
            transaction.on_commit(lambda: chunks_enqueue(run.pk, chunks))
    logger.info("evaluations: run %s (%s) started with %s items", run.pk, run.kind, len(created))
    return run


def _run_create(*, study: Study, name: str | None, subject: str, now, **fields) -> EvaluationRun:
    """The run under its chosen name, or the day's next default one. Two runs started at
    the same moment may compute the same default: the loser of the unique key takes the
    next number (a savepoint, so the caller's transaction goes on)."""
    for _ in range(5):
        key = name or default_run_name(study, fields["kind"], subject, now)
        try:
            with transaction.atomic():
                return EvaluationRun.objects.create(study=study, key=key, **fields)
        except IntegrityError:
            if name:
                raise EvaluationError(f"this study already has a run named {name!r}") from None
    raise EvaluationError("could not name the run: too many runs starting at once")


def _chunks(kind: Kind, items: Sequence[EvaluationItem], chunk_units: int) -> list[list[int]]:
    """[first id, last id] ranges of whole units, chunk_units units each."""
    units = [list(group) for _, group in groupby(items, key=kind.unit_key)]
    chunks = []
    for start in range(0, len(units), chunk_units):
        block = [item.pk for unit in units[start : start + chunk_units] for item in unit]
        chunks.append([min(block), max(block)])
    return chunks


def evaluation_resume(*, run_id: int) -> int:
    """Queue again every chunk not done and not held by a live worker."""
    run = EvaluationRun.objects.get(pk=run_id)
    if run.is_finished:
        return 0
    ranges = chunk_claims.chunks_requeue(run_id=run_id)
    transaction.on_commit(lambda: chunks_enqueue(run_id, ranges))
    return len(ranges)


def evaluation_cancel(*, run_id: int) -> bool:
    """Stop a run: chunks check between items and stop asking; stored items stay."""
    changed = EvaluationRun.objects.filter(
        pk=run_id, status__in=[EvaluationRun.Status.QUEUED, EvaluationRun.Status.RUNNING]
    ).update(status=EvaluationRun.Status.CANCELLED, finished_at=timezone.now())
    return bool(changed)


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
    ids = get_kind(run.kind).made_participants(run).values("pk")
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


def model_alone_prompt_save(
    *, study: Study, key: str, label: str, texts: dict[str, str], user=None
) -> ModelAlonePrompt:
    """Save the study's model-alone prompt templates under `key` (a preset's key replaces
    that preset for the study). Templates that miss a required placeholder or name an
    unknown one are refused (ValidationError per part, from the model's clean). Runs
    already made keep the texts they copied."""
    with transaction.atomic():
        prompt = ModelAlonePrompt.objects.select_for_update().filter(
            study=study, key=key
        ).first() or ModelAlonePrompt(study=study, key=key)
        prompt.label = label
        for part, text in texts.items():
            setattr(prompt, part, text)
        prompt.updated_by = user if getattr(user, "is_authenticated", False) else None
        prompt.full_clean()
        prompt.save()
    return prompt
