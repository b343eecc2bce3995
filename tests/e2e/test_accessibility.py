"""Accessibility checked by a machine: axe-core on every participant page, in both arms, at
desktop and phone widths, with no serious or critical violation.

Every page a participant meets in the demo study is audited as they meet it: the start page,
consent, instructions, the task (chat with a reply in it, the Finish confirmation open; or
the sources step), the answer form (also as the server sends it back with errors), the
completion page and the withdrawal page.
"""

from __future__ import annotations

import pytest

from studyapp.studies.demo import demo_seed
from tests.e2e.axe import audit, blocking, describe

pytestmark = pytest.mark.e2e

WIDTHS = {
    "desktop": {"viewport": {"width": 1280, "height": 860}},
    "phone": {
        "viewport": {"width": 375, "height": 740},
        "is_mobile": True,
        "has_touch": True,
    },
}


class Auditor:
    def __init__(self, label: str) -> None:
        self.label = label
        self.pages: list[str] = []
        self.failures: list[str] = []

    def check(self, page, where: str) -> None:
        found = blocking(audit(page))
        self.pages.append(where)
        if found:
            self.failures.append(describe(f"{self.label}, {where} ({page.url})", found))


def enter(
    browser, url: str, kind: str, options: dict, auditor: Auditor, *, who: str, tries: int = 20
):
    """New participants through the start, consent and instructions pages until one is
    allocated to `kind` (the first one's pages are audited)."""
    for attempt in range(tries):
        context = browser.new_context(**options)
        page = context.new_page()
        page.goto(f"{url}/s/demo/?PROLIFIC_PID={who}-{kind}-{attempt}&STUDY_ID=st&SESSION_ID=se")
        first = attempt == 0
        if first:
            auditor.check(page, "start page")
        page.get_by_role("button", name="Start", exact=True).click()
        page.wait_for_selector("form[action*='consent']")
        if first:
            auditor.check(page, "consent")
        page.get_by_role("button", name="I agree to take part").click()
        page.get_by_role("button", name="Start the first scenario").wait_for()
        if first:
            auditor.check(page, "instructions")
        page.get_by_role("button", name="Start the first scenario").click()
        page.wait_for_selector("#chat, #sources-form", state="attached")
        if (page.locator("#chat").count() == 1) == (kind == "llm"):
            return context, page
        context.close()
    raise AssertionError(f"nobody was allocated to the {kind} arm in {tries} tries")


def show_tab(page, name: str) -> None:
    """On a phone the task page has tabs; on a desktop everything is on screen."""
    tab = page.get_by_role("tab", name=name)
    if tab.count() and tab.first.is_visible():
        tab.first.click()


def chat_step(page, auditor: Auditor) -> None:
    show_tab(page, "Chat")
    auditor.check(page, "chat, empty")
    page.wait_for_selector("[data-chat-input]:not([disabled])")
    page.fill("[data-chat-input]", "I have a headache and feel sick. What should I do?")
    page.locator("[data-chat-send]").click()
    page.wait_for_function(
        """() => document.querySelectorAll('.msg-assistant').length === 1
             && !document.querySelector('.msg-streaming')""",
        timeout=15000,
    )
    auditor.check(page, "chat with a reply")
    page.wait_for_selector("[data-chat-finish-button]:not([disabled])")
    page.locator("[data-chat-finish-button]").click()
    page.get_by_role("button", name="Yes, finish the chat").wait_for()
    auditor.check(page, "finish confirmation")
    page.get_by_role("button", name="Yes, finish the chat").click()


def sources_step(page, auditor: Auditor) -> None:
    show_tab(page, "Your sources")
    auditor.check(page, "sources")
    page.fill("#id_sources_text", "The NHS website and a friend who is a nurse")
    page.get_by_role("button", name="Continue to the questions").click()


def answer_step(page, auditor: Auditor, *, with_errors: bool) -> None:
    page.wait_for_selector("#answer-form", state="attached")
    show_tab(page, "Questions")
    auditor.check(page, "answer form")
    if with_errors:
        # Sent without the conditions: the server sends the form back with its errors
        # (the browser's own check is bypassed, as an old browser would).
        page.locator("#answer-form").evaluate("form => form.setAttribute('novalidate', '')")
        page.get_by_label("A&E", exact=False).first.check()
        page.get_by_role("button", name="Submit answer").click()
        page.wait_for_selector("#answer-form", state="attached")
        auditor.check(page, "answer form with errors")
    page.get_by_label("A&E", exact=False).first.check()
    page.fill("#id_conditions_text", "Migraine")
    page.locator("#id_confidence").fill("60")
    page.get_by_role("button", name="Submit answer").click()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", list(WIDTHS))
def test_every_participant_page_passes_axe_in_both_arms(live_asgi, browser, scripted, width):
    scripted.configure(ttft_s=0.02, token_delay_s=0.002)
    demo_seed(
        scripted_model_url=scripted.base_url,
        investigator_password="a-password-for-the-e2e-test",
        password_is_explicit=True,
    )
    failures: list[str] = []
    audited = 0
    for kind in ("llm", "control"):
        auditor = Auditor(f"{width}, {kind} arm")
        context, page = enter(browser, live_asgi.url, kind, WIDTHS[width], auditor, who="a11y")
        for position in (1, 2):
            if kind == "llm":
                chat_step(page, auditor)
            else:
                sources_step(page, auditor)
            answer_step(page, auditor, with_errors=position == 1)
        page.wait_for_selector(".completion-code")
        auditor.check(page, "completion")
        context.close()
        # The withdrawal page, from a participant part-way through.
        context, page = enter(
            browser, live_asgi.url, kind, WIDTHS[width], Auditor("-"), who="leaver"
        )
        page.get_by_role("link", name="Withdraw from the study").first.click()
        page.wait_for_selector("form[action*='withdraw']")
        auditor.check(page, "withdraw")
        context.close()
        failures += auditor.failures
        audited += len(auditor.pages)
    assert audited >= 2 * 10, audited
    assert not failures, "\n\n".join(failures)


@pytest.mark.django_db(transaction=True)
def test_the_audit_finds_what_it_must_refuse(live_asgi, browser, scripted):
    demo_seed(
        scripted_model_url=scripted.base_url,
        investigator_password="a-password-for-the-e2e-test",
        password_is_explicit=True,
    )
    context = browser.new_context(**WIDTHS["desktop"])
    page = context.new_page()
    page.goto(f"{live_asgi.url}/s/demo/?PROLIFIC_PID=probe&STUDY_ID=st&SESSION_ID=se")
    assert blocking(audit(page)) == []
    # A button with no name and an image with no text: what a screen reader cannot read.
    page.evaluate(
        """() => {
          document.querySelector("main").append(
            document.createElement("button"), document.createElement("img"));
        }"""
    )
    found = {v["id"] for v in blocking(audit(page))}
    context.close()
    assert {"button-name", "image-alt"} <= found
