"""The demo exactly as `make run` seeds it, taken in German in a real browser, in each arm:
every page, the scenarios (our translation) and the care levels are German, and the answers
are stored with the source's values and the language. The scripted demo model answers a
German message with its German canned reply (labelled as a script)."""

from __future__ import annotations

import pytest

from studyapp.participation.models import Answer, Participant
from studyapp.studies import demo_content_de as german
from studyapp.studies.demo import demo_seed
from studyapp.studies.models import Study

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 860}


def enter_until_arm(browser, url: str, kind: str, *, tries: int = 20):
    for attempt in range(tries):
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        page.goto(
            f"{url}/s/demo/?lang=de&PROLIFIC_PID=de-{kind}-{attempt}&STUDY_ID=s&SESSION_ID=x"
        )
        assert page.locator("html").get_attribute("lang") == "de"
        assert page.locator("h1").inner_text() == german.STUDY_TEXTS["public_title"]
        page.get_by_role("button", name="Beginnen", exact=True).click()
        assert "Dies ist eine Demonstration von studyapp" in page.locator("main").inner_text()
        page.get_by_role("button", name="Ich bin mit der Teilnahme einverstanden").click()
        instructions = page.locator("main").inner_text()
        assert german.STUDY_TEXTS["disposition_question"] in instructions
        page.get_by_role("button", name="Erstes Szenario beginnen").click()
        page.wait_for_selector("#chat, #sources-form")
        if (page.locator("#chat").count() == 1) == (kind == "llm"):
            return context, page
        context.close()
    raise AssertionError(f"no participant was allocated to the {kind} arm in {tries} tries")


def scenario_is_german(page) -> None:
    title = page.locator("#scenario-panel h2").inner_text()
    translated = {text["title"]: text for text in german.SCENARIOS.values()}
    assert title in translated, title
    first = translated[title]["sections"][0]
    assert page.locator("#scenario-panel h3").first.inner_text() == first["heading"]


@pytest.mark.django_db(transaction=True)
def test_the_demo_runs_in_german_in_both_arms(live_asgi, browser, scripted):
    scripted.configure(ttft_s=0.05, token_delay_s=0.005)
    demo_seed(
        scripted_model_url=scripted.base_url,
        investigator_password="a-password-for-the-e2e-test",
        password_is_explicit=True,
    )
    study = Study.objects.get(slug="demo")
    ambulance = german.LEVELS["ambulance"]["label"]

    for kind in ("llm", "control"):
        context, page = enter_until_arm(browser, live_asgi.url, kind)
        for position in (1, 2):
            assert page.locator(".progress-note").inner_text() == f"Szenario {position} von 2"
            scenario_is_german(page)
            if kind == "llm":
                assert page.locator(".chat-label strong").inner_text() == "KI-Assistent"
                page.fill("[data-chat-input]", "Ich habe Schmerzen in der Brust. Was tun?")
                page.locator("[data-chat-send]").click()
                page.wait_for_function(
                    """() => document.querySelectorAll('.msg-assistant').length === 1
                         && !document.querySelector('.msg-streaming')""",
                    timeout=15000,
                )
                reply = page.locator(".msg-assistant").inner_text()
                assert "[Geskriptetes Demo-Modell — keine KI]" in reply
                page.wait_for_selector("[data-chat-finish-button]:not([disabled])")
                page.locator("[data-chat-finish-button]").click()
                page.get_by_role("button", name="Ja, Chat beenden").click()
            else:
                assert (
                    german.ARMS["control"]["control_instructions"][:40]
                    in page.locator("#sources-form").inner_text()
                )
                page.fill("#id_sources_text", "Die NHS-Website und eine Freundin")
                page.get_by_role("button", name="Weiter zu den Fragen").click()
            page.wait_for_selector("#answer-form")
            form = page.locator("#answer-form").inner_text()
            assert german.STUDY_TEXTS["conditions_question"] in form
            page.get_by_label(ambulance, exact=False).first.check()
            page.fill("#id_conditions_text", "Herzinfarkt")
            page.locator("#id_confidence").fill("80")
            page.get_by_role("button", name="Antwort absenden").click()
        page.wait_for_selector(".completion-code")
        context.close()

    completed = Participant.objects.filter(study=study, status=Participant.Status.COMPLETED)
    assert sorted(completed.values_list("arm__kind", flat=True)) == ["control", "llm"]
    assert set(completed.values_list("language", flat=True)) == {"de"}
    answers = Answer.objects.filter(task__participant__in=completed)
    assert answers.count() == 4
    assert set(answers.values_list("language", "disposition__code")) == {("de", "ambulance")}
    # "Herzinfarkt" is the German name of the paving-slabs scenario's gold condition.
    for answer in answers.select_related("task__scenario"):
        named = answer.task.scenario.key == "paving-slabs"
        assert answer.conditions_correct == named, answer.task.scenario.key
