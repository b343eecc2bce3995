"""The builder's blinding and translation pages in a real browser, at 1280 and 375 px: a
refused save shown beside its field, then saved. No sideways scroll, no CSP violation,
nothing serious for axe; SCREENSHOT_DIR keeps the screenshots to look at."""

from __future__ import annotations

import pytest

from studyapp.studies.models import Study, StudyTranslation
from tests.e2e.axe import audit, blocking, describe
from tests.e2e.conftest import fits_width, screenshot, sign_in
from tests.factories import (
    make_control_arm,
    make_endpoint,
    make_llm_arm,
    make_member,
    make_scenario,
    make_study,
    make_user,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-password-for-the-e2e-test"
SIZES = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 375, "height": 740}}


@pytest.fixture
def draft(live_asgi):
    user = make_user("alice", password=PASSWORD)
    study = make_study(
        "bilingual",
        status=Study.Status.DRAFT,
        title="Bilingual study",
        languages=["en", "de"],
        screening_question="Where do you live?",
        screening_options=[
            {"value": "uk", "label": "I live in the UK", "eligible": True},
            {"value": "other", "label": "I live elsewhere", "eligible": False},
        ],
        check_question="Which colour is the sky on a clear day? Choose the first option.",
        check_options=["Blue", "Purple"],
        check_answer="Blue",
    )
    make_member(study, user)
    make_llm_arm(study, make_endpoint(), key="llama", blinding_terms=["Llama", "Meta AI"])
    make_control_arm(study, key="own", participant_label="Your own sources")
    make_scenario(study, "s1")
    return study


@pytest.mark.parametrize("size", list(SIZES))
def test_the_blinding_and_translation_pages_work_at_each_width(live_asgi, browser, draft, size):
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    sign_in(page, live_asgi.url, "alice", PASSWORD)
    base = f"{live_asgi.url}/studies/{draft.slug}"

    page.goto(f"{base}/blinding/")
    page.check("input[name=blinding_action][value=flag]")
    page.fill("#id_blinding_replacement", "Meta AI")
    page.click("#blinding-save")
    page.wait_for_selector("#id_blinding_replacement-error")
    screenshot(page, f"blinding-refused-{size}")
    assert fits_width(page)
    assert not blocking(found := audit(page)), describe(page.url, found)
    page.fill("#id_blinding_replacement", "the helper")
    page.click("#blinding-save")
    page.wait_for_selector("text=Blinding saved.")
    draft.refresh_from_db()
    assert (draft.blinding_action, draft.blinding_replacement) == ("flag", "the helper")

    page.goto(f"{base}/translations/")
    screenshot(page, f"translations-{size}")
    assert fits_width(page)
    page.click("#translation-languages a")
    page.wait_for_selector("#translation-form")
    page.select_option("#id_method", "bilingual_team")
    page.fill("#id_translated_by", "B. Berg")
    page.fill("#id_public_title", "Gesundheitsstudie")
    page.fill("#id_disposition_question", "Welche Versorgung brauchen Sie?")
    page.fill("#id_conditions_question", "Warum?")
    page.fill("#id_screening_question", "Wo wohnen Sie?")
    page.fill("#id_screening_label_0", "Ich wohne im Vereinigten Königreich")
    page.fill("#id_check_label_1", "Lila")
    page.click("#translation-save")  # consent and instructions left empty: refused
    page.wait_for_selector("#id_consent_text-error")
    screenshot(page, f"translation-refused-{size}")
    assert fits_width(page)
    assert not blocking(found := audit(page)), describe(page.url, found)
    page.fill("#id_consent_text", "Sie stimmen der Teilnahme zu.")
    page.fill("#id_instructions_text", "Lesen Sie jedes Szenario.")
    page.click("#translation-save")
    page.wait_for_selector("text=The Deutsch translation is saved.")
    screenshot(page, f"translation-saved-{size}")
    assert fits_width(page)
    translation = StudyTranslation.objects.get(study=draft, language="de")
    assert translation.screening_labels == {"uk": "Ich wohne im Vereinigten Königreich"}
    assert translation.check_labels == {"Purple": "Lila"}
    context.close()
