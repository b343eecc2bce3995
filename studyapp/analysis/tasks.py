"""Background jobs of the analysis app. Each takes ids and calls one service."""

from __future__ import annotations

from celery import shared_task

from studyapp.analysis.services import conversation_scores_refresh, plan_models_fit
from studyapp.studies.models import Study

# Leaves the job well inside Celery's soft time limit; what is left goes to a new job.
ROUND_S = 120


@shared_task(
    name="studyapp.analysis.tasks.conversation_scores_refresh_task",
    soft_time_limit=ROUND_S + 60,
    time_limit=ROUND_S + 120,
)
def conversation_scores_refresh_task(study_id: int) -> int:
    """Score a study's answered conversations; re-queue itself while some are left."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return 0
    done, left = conversation_scores_refresh(study=study, deadline_s=ROUND_S)
    if left:
        conversation_scores_refresh_task.delay(study_id)
    return done


@shared_task(
    name="studyapp.analysis.tasks.plan_models_fit_task",
    soft_time_limit=ROUND_S + 60,
    time_limit=ROUND_S + 120,
)
def plan_models_fit_task(study_id: int) -> bool:
    """Fit the analysis plan's GEE models and bootstraps and cache them for the page."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return False
    plan_models_fit(study=study)
    return True
