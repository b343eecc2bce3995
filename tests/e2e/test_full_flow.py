"""The whole product in a real browser: the demo study exactly as `make run` seeds it, a
participant completing it in each arm, and the investigator reading the result.

Allocation is random (the allocation issue makes it seeded), so the test enrols
participants until it has met both arms; each new participant has a 1/2 chance of the arm
still missing, so 20 tries leave a chance of about 2e-6 of never meeting it.
"""

from __future__ import annotations

import pytest

from studyapp.chat.models import Message
from studyapp.participation.models import Answer, Participant
from studyapp.studies.demo import demo_seed
from studyapp.studies.models import Study
from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 860}
PASSWORD = "a-password-for-the-e2e-test"


def enter_until_arm(browser, url: str, kind: str, *, tries: int = 20):
    """Open the entry link as new participants until one is allocated to `kind`."""
    for attempt in range(tries):
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        page.goto(f"{url}/s/demo/?PROLIFIC_PID=pid-{kind}-{attempt}&STUDY_ID=st&SESSION_ID=se")
        page.get_by_role("button", name="Start", exact=True).click()
        page.get_by_role("button", name="I agree to take part").click()
        page.get_by_role("button", name="Start the first scenario").click()
        page.wait_for_selector("#chat, #sources-form")
        is_llm = page.locator("#chat").count() == 1
        if is_llm == (kind == "llm"):
            return context, page
        context.close()
    raise AssertionError(f"no participant was allocated to the {kind} arm in {tries} tries")


def answer(page, *, level_label: str, conditions: str, confidence: int) -> None:
    page.wait_for_selector("#answer-form")
    # The scenario stays visible while answering.
    assert page.locator("#scenario-panel h2").is_visible()
    page.get_by_label(level_label, exact=False).first.check()
    page.fill("#id_conditions_text", conditions)
    page.locator("#id_confidence").fill(str(confidence))
    page.get_by_role("button", name="Submit answer").click()


def chat_once(page, text: str) -> None:
    assert page.locator(".scripted-badge").inner_text() == "Scripted demo model — not an AI"
    page.wait_for_selector("[data-chat-input]:not([disabled])")
    page.fill("[data-chat-input]", text)
    page.locator("[data-chat-send]").click()
    page.wait_for_function(
        """() => document.querySelectorAll('.msg-assistant').length === 1
             && !document.querySelector('.msg-streaming')""",
        timeout=15000,
    )
    page.wait_for_selector("[data-chat-finish-button]:not([disabled])")
    page.locator("[data-chat-finish-button]").click()
    page.get_by_role("button", name="Yes, finish the chat").click()


@pytest.mark.django_db(transaction=True)
def test_participants_complete_both_arms_and_the_investigator_sees_them(
    live_asgi, browser, scripted
):
    scripted.configure(ttft_s=0.05, token_delay_s=0.005)
    demo_seed(
        scripted_model_url=scripted.base_url,
        investigator_password=PASSWORD,
        password_is_explicit=True,
    )
    study = Study.objects.get(slug="demo")

    for kind in ("llm", "control"):
        context, page = enter_until_arm(browser, live_asgi.url, kind)
        for position in (1, 2):
            assert page.locator(".progress-note").inner_text() == f"Scenario {position} of 2"
            if kind == "llm":
                chat_once(page, f"I feel unwell, scenario {position}. What should I do?")
            else:
                page.fill("#id_sources_text", "NHS website and a friend who is a nurse")
                page.get_by_role("button", name="Continue to the questions").click()
            answer(page, level_label="A&E", conditions="Heart attack\nangina", confidence=70)
        page.wait_for_selector(".completion-code")
        assert page.locator(".completion-code").inner_text().strip() == study.completion_code
        # Reloading the completion page keeps the participant where they are.
        page.reload()
        assert page.locator(".completion-code").inner_text().strip() == study.completion_code
        context.close()

    completed = Participant.objects.filter(study=study, status=Participant.Status.COMPLETED)
    assert sorted(completed.values_list("arm__kind", flat=True)) == ["control", "llm"]
    answers = Answer.objects.filter(task__participant__in=completed)
    assert answers.count() == 4
    assert set(answers.values_list("disposition__code", flat=True)) == {"ae"}
    assert set(answers.values_list("confidence", flat=True)) == {70}
    llm_participant = completed.get(arm__kind="llm")
    replies = Message.objects.filter(
        conversation__task__participant=llm_participant, role=Message.Role.ASSISTANT
    )
    assert replies.count() == 2
    assert all(m.status == Message.Status.COMPLETE for m in replies)
    assert all(m.time_to_first_token_ms and m.completion_tokens for m in replies)

    # The investigator logs in and sees both completed participants on the study page.
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, live_asgi.url, "investigator", PASSWORD)
    page.goto(f"{live_asgi.url}/studies/demo/")
    for arm_key, label in (("assistant", "AI assistant"), ("control", "Your own sources")):
        cells = page.locator(f"#study-figures #arm-{arm_key} td")
        assert cells.nth(0).inner_text() == label
        assert cells.nth(4).inner_text() == "2"  # answers: two scenarios, completed
    context.close()
