"""Writes of the analysis app: derived data only (transcript scores), never study data."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from studyapp.analysis.models import ConversationScore
from studyapp.analysis.selectors import conversations_to_score
from studyapp.chat.models import Message
from studyapp.scoring.conditions import SCORER_VERSION
from studyapp.scoring.transcripts import score_transcript
from studyapp.studies.models import Scenario, Study

logger = logging.getLogger(__name__)

# Conversations scored per round trip: one query for their messages, one upsert.
CHUNK = 200
# How long a scheduled background scoring suppresses scheduling another (seconds).
SCHEDULE_TTL_S = 120

_UPDATE_FIELDS = [
    "model_named",
    "participant_named",
    "model_named_any",
    "participant_named_any",
    "first_model_naming_turn",
    "n_messages",
    "scorer_version",
    "scored_at",
]


def conversation_score_build(
    *,
    conversation_id: int,
    turns: Sequence[tuple[str, str]],
    gold_terms: Sequence[str],
    synonyms: dict | None,
) -> ConversationScore:
    score = score_transcript(turns, gold_terms, synonyms=synonyms)
    return ConversationScore(
        conversation_id=conversation_id,
        model_named=list(score.model_named),
        participant_named=list(score.participant_named),
        model_named_any=score.model_named_any,
        participant_named_any=score.participant_named_any,
        first_model_naming_turn=score.first_model_naming_turn,
        n_messages=len(turns),
        scorer_version=SCORER_VERSION,
        scored_at=timezone.now(),
    )


def conversation_scores_refresh(
    *, study: Study, limit: int | None = None, deadline_s: float | None = None
) -> tuple[int, bool]:
    """Score answered conversations that have no current score, in chunks.

    Stops after `limit` conversations or once `deadline_s` seconds have passed (checked
    between chunks). Returns (conversations scored, whether any are left). Idempotent:
    two runs at once only score some conversations twice, with the same result.
    """
    started = time.monotonic()
    done = 0
    while limit is None or done < limit:
        if deadline_s is not None and time.monotonic() - started > deadline_s:
            break
        size = CHUNK if limit is None else min(CHUNK, limit - done)
        batch = list(
            conversations_to_score(study=study)
            .order_by("pk")
            .values_list("pk", "task__scenario_id")[:size]
        )
        if not batch:
            return done, False
        done += _score_batch(batch)
    left = conversations_to_score(study=study).exists()
    return done, left


def _score_batch(batch: list[tuple[int, int]]) -> int:
    scenario_ids = {scenario_id for _pk, scenario_id in batch}
    gold = {
        pk: (terms or [], synonyms or {})
        for pk, terms, synonyms in Scenario.objects.filter(pk__in=scenario_ids).values_list(
            "pk", "gold_conditions", "condition_synonyms"
        )
    }
    turns: dict[int, list[tuple[str, str]]] = defaultdict(list)
    messages = (
        Message.objects.filter(conversation_id__in=[pk for pk, _ in batch])
        .order_by("conversation_id", "sequence")
        .values_list("conversation_id", "role", "text")
    )
    for conversation_id, role, text in messages:
        turns[conversation_id].append((role, text))
    scores = [
        conversation_score_build(
            conversation_id=pk,
            turns=turns.get(pk, []),
            gold_terms=gold[scenario_id][0],
            synonyms=gold[scenario_id][1],
        )
        for pk, scenario_id in batch
    ]
    ConversationScore.objects.bulk_create(
        scores,
        update_conflicts=True,
        unique_fields=["conversation"],
        update_fields=_UPDATE_FIELDS,
    )
    logger.info("scored %d conversations", len(scores))
    return len(scores)


def conversation_scores_schedule(*, study_id: int) -> bool:
    """Ask a worker to score the study's pending conversations (at most once per
    SCHEDULE_TTL_S per process). Returns whether a job was queued."""
    from studyapp.analysis.tasks import conversation_scores_refresh_task

    if not cache.add(f"analysis:conversation-scores:{study_id}", 1, timeout=SCHEDULE_TTL_S):
        return False
    # robust: a broker that is down must not fail the page that asked (it says what is
    # pending, and `score_transcripts` does the same work); the error is logged.
    transaction.on_commit(lambda: conversation_scores_refresh_task.delay(study_id), robust=True)
    return True


# --- The analysis plan's model-based figures (GEE, bootstrap), cached per data version ---


def plan_models_fit(*, study: Study) -> str:
    """Fit the confirmatory family's GEE models and bootstraps and cache them under the
    study's current data version (analysis.selectors_plan); returns that version."""
    from studyapp.analysis import selectors_plan

    state = selectors_plan.plan_state(study=study)
    cells = selectors_plan.plan_cells(study=study, plan=state.current.content)
    version = selectors_plan.data_version(study=study, state=state, cells=cells)
    analysis = selectors_plan.plan_analysis(study=study, state=state, models=True)
    selectors_plan.store_model_figures(study=study, version=version, analysis=analysis)
    return version


def plan_models_schedule(*, study_id: int, version: str) -> bool:
    """Ask a worker to fit the models for this data version (once per version and
    SCHEDULE_TTL_S); the page shows them once they are cached."""
    from studyapp.analysis.tasks import plan_models_fit_task

    if not cache.add(f"analysis:plan-models-queued:{study_id}:{version}", 1, SCHEDULE_TTL_S):
        return False
    transaction.on_commit(lambda: plan_models_fit_task.delay(study_id), robust=True)
    return True


def inference_reveal_record(*, study: Study, user, reason: str):
    """Record an interim look at a live study's inferential results (append-only)."""
    from studyapp.analysis.models import InferenceReveal
    from studyapp.studies.services import plan_current

    reveal = InferenceReveal(
        study=study,
        user=user,
        reason=reason.strip(),
        plan_sha256=plan_current(study=study).sha256,
    )
    reveal.full_clean()
    reveal.save()
    logger.info("interim look at study %s recorded for user %s", study.pk, user.pk)
    return reveal
