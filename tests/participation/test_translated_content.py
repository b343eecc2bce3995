"""A participant reads the study in their language: its own texts (consent, instructions,
questions, options, care levels, arm texts) and its scenarios come from the language's
translation, while what they submit stays the source's values (studies.translations)."""

from __future__ import annotations

import pytest
from django.test import Client

from studyapp.participation.models import Answer, Participant
from studyapp.studies.models import Study
from tests.factories import make_translation
from tests.participation.conftest import enter, entry_url


@pytest.fixture
def translated(control_study: Study) -> Study:
    control_study.screening_question = "Where do you live?"
    control_study.screening_options = [
        {"value": "uk", "label": "In the UK", "eligible": True},
        {"value": "elsewhere", "label": "Elsewhere", "eligible": False},
    ]
    control_study.check_question = "Which colour is the sky?"
    control_study.check_options = ["Green", "Blue"]
    control_study.check_answer = "Blue"
    control_study.save()
    make_translation(control_study, "de")
    return control_study


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_a_german_participant_reads_the_german_version_and_answers_in_source_values(
    translated: Study, client: Client
):
    start = page(client.get(entry_url(translated), {"lang": "de"}))
    assert "[de] Health scenarios study" in start
    flow = enter(client, translated, lang="de")
    assert "[de] You agree to take part." in page(flow.home())
    flow.post("consent", {"agree": "1"})

    screening = page(flow.home())
    assert "[de] Where do you live?" in screening
    assert "[de] In the UK" in screening and 'value="uk"' in screening
    flow.post("screening", {"answer": "uk"})
    assert flow.refresh().screening_answer == "uk"

    instructions = page(flow.home())
    assert "[de] Read each scenario and answer the questions." in instructions
    # The generated guide quotes the translated questions.
    assert "[de] What healthcare service do you need?" in instructions
    flow.post("instructions")

    check = page(flow.home())
    assert "[de] Which colour is the sky?" in check
    assert "[de] Blue" in check and 'value="Blue"' in check
    flow.post("check", {"answer": "Blue"})
    assert flow.refresh().check_passed_at is not None

    sources = page(flow.home())
    task = flow.participant.tasks.get(position=1)
    assert f"[de] Scenario {task.scenario.key}" in sources
    assert f"[de] You are playing the part of someone ({task.scenario.key})." in sources
    assert "[de] Use any methods you might ordinarily use at home" in sources
    flow.post("sources", {"sources_text": "eine Website"}, position=1)

    answer_page = page(flow.home())
    assert "[de] What healthcare service do you need?" in answer_page
    assert "[de] A&amp;E" in answer_page
    assert "[de] Why did you make the choice you did?" in answer_page
    flow.post("answer", flow.answer_data(level_code="ae"), position=1)
    answer = Answer.objects.get(task=task)
    assert (answer.disposition.code, answer.language) == ("ae", "de")
    # Scored against the one gold standard of the scenario version.
    assert answer.disposition_outcome == "exact"


def test_a_form_error_keeps_the_translated_options(translated: Study, client: Client):
    flow = enter(client, translated, lang="de")
    flow.post("consent", {"agree": "1"})
    response = page(flow.post("screening", {"answer": "nowhere"}))
    assert "[de] In the UK" in response and "Bitte wählen Sie eine der Möglichkeiten." in response


def test_an_english_participant_of_the_same_study_reads_the_source(
    translated: Study, client: Client
):
    flow = enter(client, translated)
    consent = page(flow.home())
    assert "You agree to take part." in consent and "[de]" not in consent


def test_a_language_can_be_the_allocation_stratum(translated: Study):
    translated.allocation_method = Study.AllocationMethod.STRATIFIED_BLOCKS
    translated.stratum_source = Study.StratumSource.LANGUAGE
    translated.full_clean()
    translated.save()
    for language in ("de", "en", "de"):
        flow = enter(Client(), translated, lang=language)
        assert flow.participant.stratum == language
    assert sorted(Participant.objects.values_list("stratum", flat=True)) == ["de", "de", "en"]


def test_stratifying_by_language_needs_two_languages(control_study: Study):
    control_study.allocation_method = Study.AllocationMethod.STRATIFIED_BLOCKS
    control_study.stratum_source = Study.StratumSource.LANGUAGE
    with pytest.raises(Exception) as exc:
        control_study.full_clean()
    assert "stratum_source" in exc.value.error_dict


def test_a_broken_link_speaks_the_browsers_language(client: Client):
    response = client.get("/p/not-a-token/", headers={"accept-language": "de-DE,de;q=0.9"})
    assert response.status_code == 404
    assert 'lang="de"' in response.content.decode()


def test_a_missing_page_of_a_participant_is_explained_in_their_language(
    translated: Study, client: Client
):
    flow = enter(client, translated, lang="de")
    response = client.post(flow.url("sources", position=9), {"sources_text": "x"})
    assert response.status_code == 404
    assert '<html lang="de">' in response.content.decode()
