"""The chat socket writes its texts in the participant's language (Participant.language),
whatever language the server process is in."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import translation

from studyapp.participation.models import Participant
from tests.chat.conftest import Cast, frames_until, make_cast, open_chat, send

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
