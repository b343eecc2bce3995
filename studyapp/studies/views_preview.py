"""The investigator's preview of the participant's path (participation.preview): a POST
from the study page, with the arm and scenario chosen, makes a preview participant, binds
it to this browser as a participant's link would, and opens the participant pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from studyapp.accounts.permissions import study_get_for_user_or_404
from studyapp.core.http import AuthenticatedHttpRequest
from studyapp.participation.access import session_bind_participant
from studyapp.participation.preview import preview_start
from studyapp.studies import roles


def _int(value: str | None) -> int:
    try:
        return int(value or "")
    except ValueError:
        return 0


@require_POST
@login_required
def preview(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    study = study_get_for_user_or_404(request.user, slug, roles.CHANGE_STUDY)
    try:
        participant = preview_start(
            study=study,
            arm_id=_int(request.POST.get("arm")),
            scenario_id=_int(request.POST.get("scenario")),
            language=request.POST.get("language", ""),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("analysis:study_detail", slug=study.slug)
    session_bind_participant(request.session, participant)
    return redirect("participation:home", token=participant.token)
