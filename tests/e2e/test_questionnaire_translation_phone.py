"""A translated questionnaire in a real browser on a phone (375 by 667): a German
participant reads German items, the conditional item follows the German option, and the
answer is stored by value; the investigators' translation page fits the screen too."""

from __future__ import annotations

import pytest

from studyapp.questionnaires import services
from studyapp.questionnaires.models import ItemAnswer, Response
from tests.e2e.conftest import screenshot, sign_in
from tests.factories import (
    make_control_arm,
    make_member,
    make_scenario,
    make_study,
    make_translation,
    make_user,
)
from tests.questionnaires.conftest import add_baseline

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 667}


def fits_phone(page) -> bool:
    # Against 375 itself: a mobile browser widens its layout viewport to fit the content,
    # so comparing with window.innerWidth would pass a page that overflows.
    return page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def _study():
    study = make_study("q-de-phone")
    for key in ("one", "two"):
        make_scenario(study, key)
    make_control_arm(study)
    make_translation(study, "de")
    questionnaire = add_baseline(study)
    services.questionnaire_translation_save(
        questionnaire_id=questionnaire.pk,
        language="de",
        data={
            "method": "professional",
            "translated_by": "Übersetzungsbüro",
            "title": "Über Sie",
            "items": {
                "uses_llm": {
                    "text": "Nutzen Sie Chatbots für Gesundheitsfragen?",
                    "options": {"yes": "Ja", "no": "Nein"},
                },
                "how_often": {
                    "text": "Wie oft?",
                    "anchor_low": "Selten",
                    "anchor_high": "Täglich",
                },
                "age": {"text": "Ihr Alter"},
            },
        },
    )
    return study, questionnaire


def test_a_german_participant_answers_the_german_questionnaire_on_a_phone(live_asgi, browser):
    study, _questionnaire = _study()
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{live_asgi.url}/s/{study.slug}/?lang=de")
        page.locator("form button[type=submit]").first.click()
        page.locator("form button[type=submit]").first.click()  # consent
        page.wait_for_selector("#questionnaire-form")
        assert page.locator("h1").inner_text() == "Über Sie"
        how_often = page.locator("#item-how_often")
        assert not how_often.is_visible()
        page.get_by_label("Ja").check()
        assert how_often.is_visible() and "1 = Selten" in how_often.inner_text()
        how_often.get_by_text("4", exact=True).click()
        page.get_by_label("Ihr Alter").fill("44")
        assert fits_phone(page), "the German questionnaire scrolls sideways"
        screenshot(page, "questionnaire-german-375")
        page.locator("#questionnaire-form button[type=submit]").click()
        page.wait_for_url(lambda url: "questionnaire" not in url)
        assert errors == []
    finally:
        context.close()
    answer = ItemAnswer.objects.get(item__key="uses_llm")
    assert answer.text == "yes" and Response.objects.get().language == "de"


def test_the_translation_page_fits_a_phone(live_asgi, browser):
    study, questionnaire = _study()
    alice = make_user("alice")
    make_member(study, alice)
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        path = f"/studies/{study.slug}/questionnaires/{questionnaire.pk}/translations/de/"
        sign_in(page, live_asgi.url, "alice", "password-for-tests", next_path=path)
        page.wait_for_selector("#translation-form")
        assert "Do you use chatbots?" in page.content()
        assert fits_phone(page), "the translation page scrolls sideways"
        screenshot(page, "questionnaire-translation-375")
        page.get_by_label("Title").fill("Über Sie (neu)")
        page.get_by_role("button", name="Save the translation").click()
        page.wait_for_selector("#translation-saved")
        assert fits_phone(page)
    finally:
        context.close()
    assert questionnaire.translations.get(language="de").title == "Über Sie (neu)"
