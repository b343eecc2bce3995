"""The builder's scenario translation page in a real browser, at 1280 and 375 px: reached
from the Translations page, a refused save shown beside its field, then saved. No
sideways scroll, nothing serious for axe; SCREENSHOT_DIR keeps the screenshots."""

from __future__ import annotations

import pytest

from studyapp.studies.models import ScenarioTranslation, Study
from tests.e2e.axe import audit, blocking, describe
from tests.e2e.conftest import fits_width, screenshot, sign_in
from tests.factories import make_control_arm, make_member, make_scenario, make_study, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-password-for-the-e2e-test"
SIZES = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 375, "height": 740}}
LONG = (
    "You have had a pain low on the right side of your belly since yesterday evening; "
    "it started around your belly button and moved. Walking and coughing make it worse."
)


@pytest.fixture
def draft(live_asgi):
    user = make_user("alice", password=PASSWORD)
    study = make_study(
        "bilingual", status=Study.Status.DRAFT, title="Bilingual study", languages=["en", "de"]
    )
    make_member(study, user)
    make_control_arm(study, key="own", participant_label="Your own sources")
    make_scenario(
        study,
        "belly-pain-with-a-long-key",
        sections=[
            {"heading": "Your situation", "text": LONG},
            {"heading": "Medical history", "text": "No known allergies."},
        ],
    )
    return study


@pytest.mark.parametrize("size", list(SIZES))
def test_the_scenario_translation_page_works_at_each_width(live_asgi, browser, draft, size):
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    sign_in(page, live_asgi.url, "alice", PASSWORD)

    page.goto(f"{live_asgi.url}/studies/{draft.slug}/translations/")
    assert fits_width(page)
    page.click(".scenario-translations a")
    page.wait_for_selector("#translation-form")
    page.select_option("#id_method", "bilingual_team")
    page.fill("#id_translated_by", "B. Berg")
    page.fill("#id_title", "Bauchschmerzen")
    page.fill("#id_section_0_heading", "Ihre Lage")
    page.fill(
        "#id_section_0_text", "Sie haben seit gestern Abend Schmerzen im rechten Unterbauch."
    )
    page.fill("#id_section_1_heading", "Vorgeschichte")
    page.fill("#id_section_1_text", "Keine bekannten Allergien.")
    page.fill("#id_translated_on", "")
    page.click("#translation-save")  # no date: refused beside the field
    page.wait_for_selector("#id_translated_on-error")
    screenshot(page, f"scenario-translation-refused-{size}")
    assert fits_width(page)
    assert not blocking(found := audit(page)), describe(page.url, found)
    page.fill("#id_translated_on", "2026-11-01")
    page.click("#translation-save")
    page.wait_for_selector("text=The Deutsch translation of belly-pain-with-a-long-key is saved.")
    screenshot(page, f"scenario-translation-saved-{size}")
    assert fits_width(page)
    assert not blocking(found := audit(page)), describe(page.url, found)
    translation = ScenarioTranslation.objects.get(language="de")
    assert translation.title == "Bauchschmerzen" and translation.translated_by == "B. Berg"
    assert translation.sections[1] == {
        "heading": "Vorgeschichte",
        "text": "Keine bekannten Allergien.",
    }
    context.close()
