"""Who may act as which participant.

The token in a participant's links is the credential: 256 random bits signed with the
server's key (participation.tokens), checked on every request before any lookup, so a
forged or altered link is refused outright. A browser that opened a page with
a valid token gets that token bound to its Django session; the WebSocket consumer only
accepts sockets whose session holds the token (so a socket cannot be opened for a
participant by guessing ids, and the socket is bound to the browser that owns the link).
"""

from __future__ import annotations

from django.contrib.sessions.backends.base import SessionBase
from django.http import Http404

from studyapp.participation.models import Participant, Task
from studyapp.participation.tokens import token_is_authentic

SESSION_KEY = "participant_tokens"


def session_bind_participant(session: SessionBase, participant: Participant) -> None:
    tokens = list(session.get(SESSION_KEY, []))
    if participant.token not in tokens:
        tokens.append(participant.token)
        session[SESSION_KEY] = tokens[-20:]


def session_tokens(session: SessionBase | None) -> list[str]:
    """The participant tokens this browser has opened, oldest first."""
    if session is None:
        return []
    return list(session.get(SESSION_KEY, []))


def session_holds_token(session: SessionBase | None, token: str) -> bool:
    if session is None:
        return False
    return token in session.get(SESSION_KEY, [])


def participant_get_by_token(token: str) -> Participant:
    """The participant behind a link, or 404 (also for forged, altered or malformed ones)."""
    if not token_is_authentic(token):
        raise Http404("Unknown participant link")
    try:
        return Participant.objects.select_related("study", "arm", "arm__endpoint").get(token=token)
    except Participant.DoesNotExist as exc:
        raise Http404("Unknown participant link") from exc


def task_for_participant(participant: Participant, position: int) -> Task | None:
    return (
        Task.objects.select_related("scenario", "scenario__gold_disposition")
        .filter(participant=participant, position=position)
        .first()
    )
