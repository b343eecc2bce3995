"""A German participant in a real browser: the pages and the chat script's own texts (read
from the page's JSON catalogue) are German, and the chat's refusals come back in German."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import paste_is_refused
from tests.factories import make_endpoint, make_llm_arm, make_scenario, make_study

pytestmark = pytest.mark.e2e


def test_a_german_participant_chats_in_german(live_asgi, browser, scripted):
    study = make_study("sprache", scenarios_per_participant=1, languages=["en", "de"])
    make_scenario(study, "one")
    endpoint = make_endpoint(scripted.base_url, model="scripted-demo", timeout_s=5)
    make_llm_arm(study, endpoint, participant_label="Assistent", min_turns=1, max_turns=5)

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live_asgi.url}/s/sprache/?lang=de")
        assert page.locator("html").get_attribute("lang") == "de"
        page.get_by_role("button", name="Beginnen", exact=True).click()
        page.get_by_role("button", name="Ich bin mit der Teilnahme einverstanden").click()
        page.get_by_role("button", name="Erstes Szenario beginnen").click()
        page.wait_for_selector("text=Noch keine Nachrichten")
        assert page.locator("[data-chat-turns]").inner_text() == "0 von 5 Nachrichten verwendet"
        assert paste_is_refused(page, "[data-chat-input]")
        assert "Einfügen ist ausgeschaltet" in page.locator("[data-chat-status]").inner_text()
        page.locator("[data-chat-input]").fill("Mein Bauch tut weh")
        page.locator("[data-chat-send]").click()
        page.wait_for_function(
            """() => document.querySelectorAll('.msg-assistant').length === 1
                 && !document.querySelector('.msg-streaming')""",
            timeout=10000,
        )
        assert page.locator("[data-chat-turns]").inner_text() == "1 von 5 Nachrichten verwendet"
    finally:
        context.close()
