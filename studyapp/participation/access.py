"""Who may act as which participant.

The token in a participant's links is the credential: a random link id signed with the
server's key (participation.tokens), checked on every request before any lookup, so a
forged or altered link is refused outright. A browser that opened a page with a valid
token gets the participant bound to its Django session: the session keeps the link id
only, never the signed token, so the session store (like the participant table) holds no
working link. The WebSocket consumer only accepts sockets whose session holds the link
(so a socket cannot be opened for a participant by guessing ids, and the socket is bound
to the browser that owns the link).

The entry link (`/s/<slug>/?PROLIFIC_PID=...`) is not a credential: a PID is no secret.
A browser that does not hold the participant resumes them only with the SESSION_ID
Prolific sent at their first entry, or while they have not begun (`participant_may_resume`).
"""

from __future__ import annotations

from collections.abc import Collection

from django.contrib.sessions.backends.base import SessionBase
from django.http import Http404
from django.utils.crypto import constant_time_compare

from studyapp.participation.models import Participant, Task
from studyapp.participation.selectors import participant_has_begun
from studyapp.participation.tokens import SEPARATOR, link_id_from_token

SESSION_KEY = "participant_links"
# Sessions from before link ids held whole tokens under this key; read (as link ids) and
# replaced at the next bind, so no session keeps a working link for long.
LEGACY_SESSION_KEY = "participant_tokens"
MAX_HELD = 20


def session_link_ids(session: SessionBase | None) -> list[str]:
    """The link ids of the participants this browser has opened, oldest first."""
    if session is None:
        return []
    held = list(session.get(SESSION_KEY, []))
    legacy = [value.split(SEPARATOR, 1)[0] for value in session.get(LEGACY_SESSION_KEY, [])]
    return list(dict.fromkeys([*legacy, *held]))


def session_bind_participant(session: SessionBase, participant: Participant) -> None:
    held = session_link_ids(session)
    if participant.link_id in held and LEGACY_SESSION_KEY not in session:
        return  # nothing to write: the session is not saved again on every page view
    session.pop(LEGACY_SESSION_KEY, None)
    if participant.link_id not in held:
        held.append(participant.link_id)
    session[SESSION_KEY] = held[-MAX_HELD:]


def session_holds_token(session: SessionBase | None, token: str) -> bool:
    """Whether this browser opened the participant behind `token` (an authentic one)."""
    link_id = link_id_from_token(token)
    return link_id is not None and link_id in session_link_ids(session)


def participant_may_resume(
    participant: Participant, *, held_link_ids: Collection[str], session_id: str
) -> bool:
    """Whether an entry link may hand this (existing) participant to this browser.

    The browser that holds them always may. Another one may before they have begun (nothing
    of theirs to see or delete yet, and a participant who switches device early is not
    locked out), or with the SESSION_ID stored at their entry: Prolific sends it whenever
    the participant opens the study from their Prolific account, and it is not guessable
    from the PID.
    """
    if participant.link_id in held_link_ids:
        return True
    if not participant_has_begun(participant):
        return True
    stored = participant.prolific_session_id
    return bool(stored and session_id) and constant_time_compare(stored, session_id)


def participant_get_by_token(token: str) -> Participant:
    """The participant behind a link, or 404 (also for forged, altered or malformed ones)."""
    link_id = link_id_from_token(token)
    if link_id is None:
        raise Http404("Unknown participant link")
    try:
        return Participant.objects.select_related("study", "arm", "arm__endpoint").get(
            link_id=link_id
        )
    except Participant.DoesNotExist as exc:
        raise Http404("Unknown participant link") from exc


def task_for_participant(participant: Participant, position: int) -> Task | None:
    return (
        Task.objects.select_related("scenario", "scenario__gold_disposition")
        .filter(participant=participant, position=position)
        .first()
    )
