"""The scripted demo model's canned reply: labelled as a script, in German to a German
message (the demo runs in German too), in English otherwise."""

from __future__ import annotations

import pytest

from studyapp.devtools.scripted_server.personas import demo_reply, looks_german


@pytest.mark.parametrize(
    ("text", "german"),
    [
        ("Ich habe Schmerzen in der Brust. Was soll ich tun?", True),
        ("Mir ist übel", True),
        ("I have chest pain. What should I do?", False),
        ("Die", False),  # one common word is not enough
        ("", False),
    ],
)
def test_a_german_message_is_recognised(text, german):
    assert looks_german(text) is german


def test_the_reply_follows_the_language_and_says_it_is_a_script():
    german = demo_reply("Ich habe Schmerzen in der Brust", 2)
    assert german.startswith("[Geskriptetes Demo-Modell — keine KI]")
    assert "Ihre Nachricht 2 hatte 6 Wörter" in german
    english = demo_reply("I have chest pain", 1)
    assert english.startswith("[Scripted demo model — not an AI]")
    assert "Your message 1 had 4 words" in english
