"""A participant takes part in one of their study's languages, chosen at entry
(participation.language): every page is shown in it and each answer records it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation

from studyapp.participation.language import study_language_for
from studyapp.participation.models import Answer
from studyapp.studies.models import Study
from tests.participation.conftest import Flow, enter, entry_url


@pytest.fixture
def bilingual(control_study: Study) -> Study:
    control_study.languages = ["en", "de"]
    control_study.save()
    return control_study


def text(response) -> str:
    return response.content.decode()


def test_the_study_language_follows_the_request_or_the_first():
    assert study_language_for(languages=["en", "de"], requested="de") == "de"
    assert study_language_for(languages=["en", "de"], requested="DE-at") == "de"
    assert study_language_for(languages=["en", "de"], requested="fr") == "en"
    assert study_language_for(languages=["de", "en"], requested="") == "de"
    # A code the site does not offer is ignored, even if the study lists it.
    assert study_language_for(languages=["xx", "de"], requested="xx") == "de"


def test_a_german_link_shows_every_step_in_german(bilingual: Study, client: Client):
    start = client.get(entry_url(bilingual), {"lang": "de"})
    assert start["Content-Language"] == "de"
    assert '<html lang="de">' in text(start)
    assert "Vielen Dank für Ihr Interesse an dieser Studie" in text(start)
    assert "Beginnen" in text(start)
    # Several languages: the start page offers the choice, German chosen.
    assert 'value="de" lang="de" checked' in text(start)
    response = client.post(entry_url(bilingual), {"lang": "de"})
    token = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    flow = Flow(client=client, participant=bilingual.participants.get())
    assert flow.participant.token == token
    assert flow.participant.language == "de"

    consent = flow.home()
    assert "Bevor Sie beginnen" in text(consent)
    assert "Ich bin mit der Teilnahme einverstanden" in text(consent)
    flow.post("consent", {"agree": "1"})
    instructions = text(flow.home())
    assert "Was Sie tun werden" in instructions
    assert "Sie sehen zwei Szenarien, eines nach dem anderen." in instructions
    assert "Beantworten Sie drei Fragen:" in instructions
    assert "Wie sicher sind Sie sich bei Ihrer Antwort?" in instructions
    assert "Von der Studie zurücktreten" in instructions
    flow.post("instructions")

    sources = text(flow.home())
    assert "Szenario 1 von 2" in sources
    assert "Welche Quellen haben Sie für dieses Szenario genutzt?" in sources
    missing = flow.post("sources", {"sources_text": ""}, position=1)
    assert "Ihre Quellen sind noch nicht gespeichert" in text(missing)
    assert "Bitte beschreiben Sie die Quellen" in text(missing)
    flow.post("sources", {"sources_text": "a website"}, position=1)
    answer_page = text(flow.home())
    assert "Antwort absenden" in answer_page
    assert "Es gibt keinen Startwert" in answer_page
    invalid = flow.post("answer", flow.answer_data(confidence=""), position=1)
    assert "Bitte geben Sie Ihre Sicherheit an" in text(invalid)
    flow.post("answer", flow.answer_data(), position=1)
    assert Answer.objects.get(task__position=1).language == "de"


def test_english_is_unchanged(bilingual: Study, client: Client):
    start = client.get(entry_url(bilingual))
    assert "Thank you for your interest in this study." in text(start)
    assert '<html lang="en">' in text(start)
    flow = enter(client, bilingual)
    assert flow.participant.language == "en"
    assert "I agree to take part" in text(flow.home())
    flow.post("consent", {"agree": "1"})
    assert "You will see two scenarios, one after the other." in text(flow.home())


def test_an_unsupported_language_falls_back_to_the_studys_first(
    control_study: Study, client: Client
):
    control_study.languages = ["de", "en"]
    control_study.save()
    start = client.get(entry_url(control_study), {"lang": "fr"})
    assert "Beginnen" in text(start)
    flow = enter(Client(), control_study, lang="fr")
    assert flow.participant.language == "de"


def test_a_study_in_one_language_offers_no_choice(control_study: Study, client: Client):
    start = client.get(entry_url(control_study), {"lang": "de"})
    assert 'id="language-choice"' not in text(start)
    assert "Thank you for your interest" in text(start)
    assert enter(client, control_study, lang="de").participant.language == "en"


def test_a_resumed_participant_keeps_their_language(bilingual: Study, client: Client):
    client.post(entry_url(bilingual), {"lang": "de"})
    participant = bilingual.participants.get()
    again = client.get(entry_url(bilingual), {"lang": "en"})
    assert again.status_code == 302
    assert "Bevor Sie beginnen" in text(client.get(again["Location"]))
    participant.refresh_from_db()
    assert participant.language == "de"


def test_messages_from_the_services_are_translated(bilingual: Study, client: Client):
    client.post(entry_url(bilingual), {"lang": "de"})
    flow = Flow(client=client, participant=bilingual.participants.get())
    response = flow.client.post(flow.url("consent"), {}, follow=True)
    assert "Bitte wählen Sie eine der beiden Schaltflächen." in text(response)
    # The request's language does not leak into the next one.
    assert translation.get_language() != "de"


def test_a_study_checks_its_languages(control_study: Study):
    from django.core.exceptions import ValidationError

    for bad in ([], ["fr"], ["de", "de"], "de"):
        control_study.languages = bad
        with pytest.raises(ValidationError) as exc:
            control_study.full_clean()
        assert "languages" in exc.value.error_dict
