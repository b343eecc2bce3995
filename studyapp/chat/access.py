"""Who may open a participant's chat socket."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.sessions.backends.base import SessionBase
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from studyapp.chat.services import ChatRefused, conversation_get_or_create
from studyapp.participation.access import (
    participant_get_by_token,
    session_holds_token,
    task_for_participant,
)
from studyapp.participation.models import Task
from studyapp.participation.selectors import participant_has_begun

CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404


class ChatDenied(Exception):
    """`language`: the participant's, once the socket knows who it is; None before that
    (the consumer then answers in the browser's Accept-Language)."""

    def __init__(
        self, close_code: int, code: str, message: str, language: str | None = None
    ) -> None:
        self.close_code = close_code
        self.code = code
        self.message = message
        self.language = language
        super().__init__(code)


@dataclass(frozen=True)
class ChatGrant:
    participant_id: int
    task_id: int
    conversation_id: int
    # The participant's language: the consumer writes its texts in it.
    language: str = "en"


_NOT_YOURS = _("This chat could not be opened. Please reload the page from your study link.")
_CLOSED = _("This part of the study is finished, so the chat is closed. Please reload the page.")


def chat_open_for_socket(*, session: SessionBase | None, token: str, position: int) -> ChatGrant:
    """The conversation a socket may use, or ChatDenied. Synchronous (reads the session)."""
    if not session_holds_token(session, token):
        raise ChatDenied(CLOSE_FORBIDDEN, "forbidden", _NOT_YOURS)
    try:
        participant = participant_get_by_token(token)
    except Http404 as exc:
        raise ChatDenied(CLOSE_NOT_FOUND, "not_found", _NOT_YOURS) from exc
    # From here on the participant is known: refusals are in their language.
    language = participant.language
    if participant.arm is None or not participant.arm.is_llm:
        raise ChatDenied(CLOSE_FORBIDDEN, "not_llm", _NOT_YOURS, language)
    if not participant.is_active:
        raise ChatDenied(CLOSE_FORBIDDEN, "finished", _CLOSED, language)
    if not participant_has_begun(participant):
        # Instructions unread or the attention check not passed: the page never shows the
        # chat yet, so only a hand-made socket gets here.
        raise ChatDenied(CLOSE_FORBIDDEN, "not_started", _NOT_YOURS, language)
    task = task_for_participant(participant, position)
    if task is None:
        raise ChatDenied(CLOSE_NOT_FOUND, "not_found", _NOT_YOURS, language)
    if task.status != Task.Status.ACTIVE:
        raise ChatDenied(CLOSE_FORBIDDEN, "finished", _CLOSED, language)
    try:
        conversation = conversation_get_or_create(task=task)
    except ChatRefused as exc:
        raise ChatDenied(CLOSE_FORBIDDEN, exc.code, _CLOSED, language) from exc
    return ChatGrant(
        participant_id=participant.pk,
        task_id=task.pk,
        conversation_id=conversation.pk,
        language=participant.language,
    )
