"""The chat socket writes its texts in the participant's language (Participant.language),
whatever language the server process is in."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import translation

from studyapp.chat.consumers import browser_language
from studyapp.participation.models import Participant
from tests.chat.conftest import (
    Cast,
    closed_with,
    communicator,
    frames_until,
    make_cast,
    open_chat,
    send,
    session_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def speaks(cast: Cast, language: str) -> None:
    cast.participant.language = language
    await database_sync_to_async(cast.participant.save)(update_fields=["language"])


async def test_a_german_participant_reads_the_chat_errors_in_german(cast, scripted):
    await speaks(cast, "de")
    scripted.configure(fail_status=500)
    comm, _ = await open_chat(cast)
    await send(comm, "   ", client_id="blank")
    empty = await comm.receive_json_from(timeout=5)
    await send(comm, "Mein Knie tut weh")
    end = (await frames_until(comm, "end"))[-1]
    await comm.disconnect(timeout=5)
    assert empty["message"] == "Bitte tippen Sie zuerst eine Nachricht."
    assert end["error_message"] == (
        "Der Assistent ist gerade nicht erreichbar. Bitte versuchen Sie es erneut."
    )
    # The socket's language stays with the socket.
    assert translation.get_language() != "de"


async def test_an_english_participant_reads_them_in_english(cast, scripted):
    scripted.configure(fail_status=500)
    comm, _ = await open_chat(cast)
    await send(comm, "My knee hurts")
    end = (await frames_until(comm, "end"))[-1]
    await comm.disconnect(timeout=5)
    assert end["error_message"] == "The assistant is not available right now. Please try again."


def test_the_chat_page_and_its_script_texts_are_in_german(cast: Cast):
    Participant.objects.filter(pk=cast.participant.pk).update(language="de")
    page = Client().get(reverse("participation:home", kwargs={"token": cast.token}))
    html = page.content.decode()
    assert "Senden" in html and "Beenden und die Fragen beantworten" in html
    assert "0 von" in html and "Nachrichten verwendet" in html
    # The technical exit's question (asked in place) and its note for a failed reply.
    assert "Die Studie verlassen?" in html and "Ja, die Studie verlassen" in html
    assert "In der Studie bleiben" in html
    assert 'data-failed-note="Wenn es weiterhin nicht klappt' in html
    # The scripts' catalogue, a JSON data block (no inline script under the CSP).
    assert '<script id="participant-texts" type="application/json">' in html
    assert "Verbindung unterbrochen. Neue Verbindung wird aufgebaut" in html


def test_finishing_too_early_is_refused_in_german():
    cast = make_cast("http://127.0.0.1:9/v1", min_turns=2)
    Participant.objects.filter(pk=cast.participant.pk).update(language="de")
    client = Client()
    response = client.post(reverse("chat:finish", kwargs={"token": cast.token, "position": 1}))
    [message] = list(get_messages(response.wsgi_request))
    assert str(message).startswith("Bitte chatten Sie zuerst mit dem Assistenten")
    assert "mindestens 2 weitere Nachrichten" in str(message)


GERMAN_NOT_YOURS = (
    "Dieser Chat konnte nicht geöffnet werden. Bitte laden Sie die Seite über Ihren "
    "Studienlink neu."
)
ENGLISH_NOT_YOURS = "This chat could not be opened. Please reload the page from your study link."


async def refusal(path: str, session_key: str | None, accept_language: str | None) -> dict:
    comm = communicator(path, session_key, accept_language=accept_language)
    connected, _ = await comm.connect(timeout=5)
    assert connected  # accepted only to say why, then closed
    frames, code = await closed_with(comm)
    assert code == 4403 and frames[0]["type"] == "error"
    return frames[0]


async def test_a_socket_refused_before_it_knows_whose_it_is_speaks_the_browsers_language(cast):
    # No session holding the token: the participant is never looked up.
    no_session = await database_sync_to_async(session_for)()
    german = await refusal(cast.path(), no_session, "de-AT,de;q=0.9,en;q=0.5")
    assert (german["code"], german["message"]) == ("forbidden", GERMAN_NOT_YOURS)
    # A language no study offers, or no header at all: the default.
    french = await refusal(cast.path(), no_session, "fr-FR,fr;q=0.9")
    assert french["message"] == ENGLISH_NOT_YOURS
    assert (await refusal(cast.path(), no_session, None))["message"] == ENGLISH_NOT_YOURS
    assert translation.get_language() != "de"


async def test_a_known_participant_is_refused_in_their_own_language(cast):
    # Known from here on: their language (part of the study's design), not the browser's.
    await database_sync_to_async(Participant.objects.filter(pk=cast.participant.pk).update)(
        status=Participant.Status.COMPLETED
    )
    english = await refusal(cast.path(), cast.session_key, "de")
    assert english["code"] == "finished" and english["message"].startswith("This part")
    await speaks(cast, "de")
    german = await refusal(cast.path(), cast.session_key, "en-GB,en")
    assert german["message"].startswith("Dieser Teil der Studie ist abgeschlossen")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de", "de"),
        ("de-CH", "de"),
        ("fr;q=1.0, de;q=0.5", "de"),
        ("en-US,en;q=0.9,de;q=0.8", "en"),
        ("fr, *;q=0.1", "en-gb"),
        ("", "en-gb"),
        ("not a header ;;; q=x", "en-gb"),
    ],
)
def test_the_browsers_language_is_one_of_settings_languages(header, expected):
    scope = {"headers": [(b"host", b"x"), (b"accept-language", header.encode())]}
    assert browser_language(scope) == expected
    assert browser_language({"headers": []}) == "en-gb"
