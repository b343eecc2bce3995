"""The chat's HTTP endpoints: finishing the chat to go on to the questions, and leaving
the study when the model keeps failing."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.utils import translation
from django.utils.translation import gettext, ngettext
from django.views.decorators.http import require_POST

from studyapp.chat.exits import TechnicalExitRefused, participant_technical_exit
from studyapp.chat.selectors import (
    conversation_for_task,
    conversation_history,
    reply_in_flight,
    turn_state_from,
)
from studyapp.participation.access import (
    participant_get_by_token,
    session_bind_participant,
    task_for_participant,
)
from studyapp.participation.models import Participant, Task
from studyapp.participation.services import task_start_answering
from studyapp.participation.views import participant_view


@require_POST
def finish_chat(request: HttpRequest, token: str, position: int) -> HttpResponseRedirect:
    participant = participant_get_by_token(token)
    session_bind_participant(request.session, participant)
    task = task_for_participant(participant, position)
    if task is None or participant.arm is None or not participant.arm.is_llm:
        raise Http404("No chat here")
    if task.status == Task.Status.ACTIVE:
        with translation.override(participant.language):
            refusal = _finish_refusal(task)
        if refusal:
            messages.error(request, refusal)
        else:
            task_start_answering(task_id=task.pk)
    return redirect("participation:home", token=token)


def _finish_refusal(task: Task) -> str:
    """Why the participant may not finish yet ("" when they may)."""
    conversation = conversation_for_task(task_id=task.pk)
    min_turns = conversation.min_turns if conversation else task.participant.arm.min_turns
    history = conversation_history(conversation_id=conversation.pk) if conversation else []
    if reply_in_flight(history):
        return gettext(
            "Please wait until the assistant has finished its reply, then press Finish."
        )
    turns = turn_state_from(
        history=history,
        min_turns=min_turns,
        max_turns=conversation.max_turns if conversation else 0,
    )
    if not turns.can_finish:
        needed = turns.min_turns - turns.completed_turns
        return ngettext(
            "Please chat with the assistant first: send at least %(needed)s more message "
            "and wait for the reply before pressing Finish.",
            "Please chat with the assistant first: send at least %(needed)s more messages "
            "and wait for the reply before pressing Finish.",
            needed,
        ) % {"needed": needed}
    return ""


@require_POST
@participant_view
def technical_exit(request: HttpRequest, participant: Participant) -> HttpResponseRedirect:
    """ "Leave the study: technical problem", offered after the study's number of failed
    replies in a row; the server counts them again. They land on the ended page, with
    the technical-problem code."""
    try:
        participant_technical_exit(participant_id=participant.pk)
    except TechnicalExitRefused as refused:
        messages.error(request, refused.message)
    return redirect("participation:home", token=participant.token)
