"""Issue 14's "done means": an investigator with only an account, on an empty database,
builds a two-arm study in the browser (its quota asked with it, settings, two scenarios with
sections and a gold standard, a control arm and an LLM arm on a model endpoint they make and
test, a post-task questionnaire with a conditional item), led by the study page's list of
what is still to do, previews both arms, launches it (the checklist finds nothing left), and
a participant completes it; the investigator then sees one completed participant, the
previews not counted. No admin page and no command line: the only Python setup is the
user account (and what the migrations make).

The model is the scripted OpenAI-compatible server (a real HTTP server on loopback).
Allocation is random, so participants enter until one meets the LLM arm (each has a 1/2
chance; 20 tries leave about 1e-6 of never meeting it); those allocated to control leave
at once, so exactly one participant completes.
"""

from __future__ import annotations

import contextlib
import re
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from studyapp.chat.models import Message
from studyapp.participation.models import Answer, Participant
from studyapp.questionnaires.models import ItemAnswer
from tests.e2e.conftest import fits_width, screenshot, sign_in
from tests.factories import make_user

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 667}
PASSWORD = "a-password-for-the-first-study"
SLUG = "first-study"


class Visits:
    """Every request the browser contexts make (documents, htmx, sockets' handshakes),
    to show afterwards that none went to the admin."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def watch(self, context) -> None:
        context.on("request", lambda request: self.paths.append(urlsplit(request.url).path))

    def admin(self) -> list[str]:
        return [p for p in self.paths if p.startswith("/admin")]


def shoot(page, name: str) -> None:
    """The investigator's page at desktop and phone widths (SCREENSHOT_DIR), and it fits
    a phone's width."""
    screenshot(page, f"{name}-1280")
    page.set_viewport_size(PHONE)
    # The page is laid out again at the new width; the charts (Plotly) redraw themselves
    # a moment after the window's resize event.
    with contextlib.suppress(PlaywrightTimeoutError):
        page.wait_for_function(
            "() => document.documentElement.scrollWidth <= window.innerWidth", timeout=3000
        )
    screenshot(page, f"{name}-375")
    assert fits_width(page), f"{name} scrolls sideways at 375 px: {too_wide(page)}"
    page.set_viewport_size(DESKTOP)


def too_wide(page) -> list[str]:
    """The elements that reach past the right edge of the window (to name in a failure)."""
    return page.evaluate(
        """() => [...document.querySelectorAll('body *')]
          .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
          .filter(el => {  // not inside a box that scrolls or clips it (a .table-wrap)
            for (let up = el.parentElement; up; up = up.parentElement) {
              if (getComputedStyle(up).overflowX !== 'visible') return false;
            }
            return true;
          })
          .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
               + (el.className && typeof el.className === 'string'
                  ? '.' + el.className.trim().split(/\\s+/).join('.') : ''))
          .slice(0, 12)"""
    )


def field(scope, label: str):
    """The form field labelled exactly `label` (Django's labels end in a colon)."""
    return scope.get_by_label(re.compile(rf"^{re.escape(label)}:?$"))


def flash(page) -> str:
    return page.locator(".flash").inner_text()


# --- The investigator's steps --------------------------------------------------------


def create_study(page) -> None:
    page.get_by_role("link", name="New study").first.click()
    page.wait_for_url("**/studies/builder/new/")
    form = page.locator("#study-new")
    field(form, "Title").fill("Chest pain and headaches")
    field(form, "Slug").fill(SLUG)
    # "Other languages" never offers the first language again (languages_field.js).
    others = form.locator("#id_new-other_languages")
    assert others.inner_text().split() == ["Deutsch"]
    field(form, "First language").select_option(label="Deutsch")
    assert others.inner_text().split() == ["English"]
    field(form, "First language").select_option(label="English")
    assert others.inner_text().split() == ["Deutsch"]
    # The quota is asked here, with what it counts, not first met at the launch.
    quota = form.locator("p.field", has=page.locator("#id_new-quota_per_arm"))
    assert "HELPMed" in quota.inner_text()
    field(quota, "Responses per arm").fill("40")
    field(form, "Consent text").fill("You take part freely and may stop at any time.")
    field(form, "Instructions text").fill("Read each scenario and say what you would do.")
    shoot(page, "01-study-new")
    form.get_by_role("button", name="Create the study (draft)").click()
    page.wait_for_url(f"**/studies/{SLUG}/settings/")
    assert f"Study {SLUG} created as a draft" in flash(page)


def edit_settings(page) -> None:
    form = page.locator("#study-settings")
    field(form, "Public title").fill("Health questions study")
    field(form, "Disposition question").fill("What would you do?")
    shoot(page, "02-settings")
    with page.expect_navigation():  # back to the same address, with the message
        form.get_by_role("button", name="Save").click()
    assert "Settings saved." in flash(page)


def current_tab(page) -> str:
    """The builder tab marked current: the page's own ("page"), or the tab a page within
    it belongs to ("true": an arm, a scenario)."""
    return page.locator(".builder-nav [aria-current]").inner_text()


def todo(page) -> list[str]:
    """What the study page lists as still to do before the launch (the checklist's
    problems that need no model endpoint asked)."""
    page.locator("#study-todo").wait_for()
    return [li.get_attribute("data-problem") for li in page.locator("#todo-list li").all()]


def add_scenario(page, *, key: str, title: str, sections, gold: str, conditions: str) -> None:
    page.get_by_role("link", name="Add a scenario").click()
    page.wait_for_url(f"**/studies/{SLUG}/scenarios/new/")
    assert current_tab(page) == "Scenarios"
    form = page.locator("#scenario-form")
    field(form, "Key").fill(key)
    field(form, "Title").fill(title)
    for i, (heading, text) in enumerate(sections):
        if i:
            # The row buttons post the form back (htmx) and it comes back with a new row.
            form.get_by_role("button", name="Add a section").click()
            page.locator(f"#section-heading-{i}").wait_for()
        page.locator(f"#section-heading-{i}").fill(heading)
        page.locator(f"#section-text-{i}").fill(text)
    field(form, "Gold disposition").select_option(label=gold)
    field(form, "Gold conditions").fill(conditions)
    if key == "chest-pain":
        shoot(page, "04-scenario-edit")
    page.locator("#scenario-save").click()
    page.wait_for_url(f"**/studies/{SLUG}/scenarios/")
    assert f"Scenario {key} saved." in flash(page)
    assert page.locator(f'#scenarios-table tr[data-scenario="{key}"]').is_visible()


def add_arm(page, *, key: str, kind: str, label: str, endpoint: str = "") -> None:
    page.get_by_role("link", name="Add an arm").click()
    page.wait_for_url(f"**/studies/{SLUG}/arms/new/")
    assert current_tab(page) == "Arms"
    form = page.locator("#arm-form")
    field(form, "Key").fill(key)
    field(form, "Kind").select_option(label=kind)
    field(form, "Participant label").fill(label)
    if endpoint:
        field(form, "Endpoint").select_option(label=endpoint)
        field(form, "System prompt").fill("You are a helpful assistant for health questions.")
        shoot(page, "07-arm-edit-llm")
    form.get_by_role("button", name="Save the arm").click()
    page.wait_for_url(f"**/studies/{SLUG}/arms/")
    assert page.locator(f'#arms-table tr[data-arm="{key}"]').is_visible()


def add_endpoint_and_test_it(page, scripted) -> None:
    page.locator(".site-nav").get_by_role("link", name="Model endpoints").click()
    page.wait_for_url("**/endpoints/")
    page.get_by_role("link", name="New endpoint").click()
    page.wait_for_url("**/endpoints/new/")
    form = page.locator("#endpoint-form")
    field(form, "Name").fill("Scripted model")
    field(form, "Base URL").fill(scripted.base_url)
    field(form, "Model").fill("scripted-demo")
    field(form, "Is scripted").check()
    shoot(page, "05-endpoint-new")
    form.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r".*/endpoints/\d+/$"))
    page.get_by_role("button", name="Test connection").click()
    page.locator("#ttft").wait_for(timeout=15000)
    assert re.fullmatch(r"\d+ ms", page.locator("#ttft").inner_text())
    assert page.locator("#first-words").inner_text().strip()
    assert "lists scripted-demo among its models" in page.locator("#models-result").inner_text()
    shoot(page, "06-endpoint-tested")


def build_questionnaire(page) -> None:
    go_to(page, "Questionnaires", f"**/studies/{SLUG}/questionnaires/")
    form = page.locator("#questionnaire-new")
    field(form, "Key").fill("after")
    field(form, "Title").fill("A few questions")
    field(form, "Placement").select_option(label="At the end, before the completion code")
    form.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(rf".*/studies/{SLUG}/questionnaires/\d+/$"))

    add = page.locator("#item-add")
    field(add, "Key").fill("ease")
    field(add, "Kind").select_option(label="Likert scale")
    field(add, "Text").fill("How easy was it to decide what to do?")
    field(add, "Scale points").fill("5")
    field(add, "Anchor low").fill("Very hard")
    field(add, "Anchor high").fill("Very easy")
    add.get_by_role("button", name="Add the item").click()
    page.locator("#items li", has_text="ease").first.wait_for()

    # Asked only of those who found it hard (1 or 2 on the scale).
    add = page.locator("#item-add")
    field(add, "Key").fill("hard_why")
    field(add, "Kind").select_option(label="Free text")
    field(add, "Text").fill("What made it hard?")
    field(add, "Show only if").select_option(label="ease: How easy was it to decide what to do?")
    field(add, "…is one of").fill("1, 2")
    add.get_by_role("button", name="Add the item").click()
    page.locator("#items li", has_text="shown only if").wait_for()
    shoot(page, "08-questionnaire")


def open_study(page) -> None:
    page.locator(".site-nav").get_by_role("link", name="Studies").click()
    page.wait_for_url("**/studies/")
    page.get_by_role("link", name="Chest pain and headaches").click()
    page.wait_for_url(f"**/studies/{SLUG}/")


def go_to(page, link: str, url_glob: str) -> None:
    """Follow the link named `link` (the builder's tabs name the page, other links add
    an arrow)."""
    page.get_by_role("link", name=re.compile(rf"^{re.escape(link)}( →)?$")).first.click()
    page.wait_for_url(url_glob)


# --- The participant's pages, shared by the previews and the participant -------------


def answer(page, *, level: str, conditions: str) -> None:
    page.wait_for_selector("#answer-form")
    page.get_by_label(level, exact=False).first.check()
    page.fill("#id_conditions_text", conditions)
    page.locator("#id_confidence").fill("70")
    page.get_by_role("button", name="Submit answer").click()


def chat(page, text: str, *, phone: bool = False, see_it_stream: bool = False) -> None:
    if phone:  # the scenario comes first; the chat is its other tab
        page.get_by_role("button", name="Go to the chat").click()
    assert page.locator(".scripted-badge").inner_text() == "Scripted demo model — not an AI"
    page.wait_for_selector("[data-chat-input]:not([disabled])")
    page.fill("[data-chat-input]", text)
    page.locator("[data-chat-send]").click()
    if see_it_stream:  # first a growing message, then a complete one
        page.wait_for_selector(".msg-assistant.msg-streaming", timeout=15000)
    page.wait_for_function(
        """() => document.querySelectorAll('.msg-assistant').length === 1
             && !document.querySelector('.msg-streaming')""",
        timeout=15000,
    )
    assert page.locator(".msg-assistant").inner_text().strip()
    page.wait_for_selector("[data-chat-finish-button]:not([disabled])")
    page.locator("[data-chat-finish-button]").click()
    page.get_by_role("button", name="Yes, finish the chat").click()


def preview(page, *, arm: str) -> None:
    form = page.locator("#preview-form")
    field(form, "Arm").select_option(label=arm)
    field(form, "Scenario").select_option(label="chest-pain v1: Chest pain at work")
    form.get_by_role("button", name="Preview as a participant →").click()
    banner = page.locator("#preview-banner")
    banner.wait_for()
    assert "Preview — not recorded" in banner.inner_text()
    page.get_by_role("button", name="Start the first scenario").click()
    page.wait_for_selector("#chat, #sources-form", state="attached")
    assert "Preview — not recorded" in page.locator("#preview-banner").inner_text()


def launch(page) -> None:
    """Everything the study page listed as still to do is done (the quota was asked with
    the study), so the launch checklist finds nothing: "Launch"."""
    page.get_by_role("link", name=re.compile(r"^Launch checklist")).click()
    page.wait_for_url(f"**/studies/{SLUG}/launch/")
    page.locator("#launch-ready").wait_for()
    assert page.locator("#launch-problems").count() == 0
    shoot(page, "10-launch-ready")
    page.get_by_role("button", name="Launch", exact=True).click()
    page.wait_for_url(f"**/studies/{SLUG}/")
    assert "The study is live" in flash(page)
    assert page.locator("h1 .status-badge").inner_text().startswith("Live")


def participate(browser, link: str, visits: Visits, errors: list[str], *, tries: int = 20) -> int:
    """New participants open the link until one is allocated to the LLM arm, who then
    completes the study (the others leave on the first scenario's page). Returns how many
    opened the link."""
    for attempt in range(1, tries + 1):
        context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        visits.watch(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(link)
        assert page.locator("h1").inner_text() == "Health questions study"
        page.get_by_role("button", name="Start", exact=True).click()
        agree = page.get_by_role("button", name="I agree to take part")
        agree.wait_for()
        assert "You take part freely" in page.locator("main").inner_text()
        agree.click()
        first = page.get_by_role("button", name="Start the first scenario")
        first.wait_for()
        assert "Read each scenario" in page.locator("main").inner_text()
        first.click()
        page.wait_for_selector("#chat, #sources-form", state="attached")
        assert page.locator("#preview-banner").count() == 0
        if page.locator("#chat").count() == 0:
            context.close()
            continue
        for position in (1, 2):
            assert page.locator(".progress-note").inner_text() == f"Scenario {position} of 2"
            chat(page, f"Scenario {position}: what should I do?", phone=True)
            assert "What would you do?" in page.locator("#answer-form").inner_text()
            answer(page, level="A&E", conditions="Heart attack")
        page.wait_for_selector("#questionnaire-form")
        hard_why = page.locator("#item-hard_why")
        hard_why.wait_for(state="hidden")  # questionnaire.js hides it (a deferred script)
        page.locator("#item-ease").get_by_text("2", exact=True).click()
        hard_why.get_by_role("textbox").fill("Deciding between A&E and an ambulance.")
        page.get_by_role("button", name="Continue").click()
        page.get_by_role("heading", name="Thank you — you have finished").wait_for()
        assert fits_width(page)
        context.close()
        return attempt
    raise AssertionError(f"no participant was allocated to the LLM arm in {tries} tries")


@pytest.mark.django_db(transaction=True)
def test_an_investigator_builds_previews_and_launches_a_study_a_participant_completes(
    live_asgi, browser, scripted
):
    # Slow enough that the reply is seen streaming, fast enough for the test.
    scripted.configure(ttft_s=0.05, token_delay_s=0.01)
    make_user("ines", password=PASSWORD)
    base = live_asgi.url
    visits = Visits()
    errors: list[str] = []

    context = browser.new_context(viewport=DESKTOP)
    visits.watch(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.on("pageerror", lambda error: errors.append(str(error)))

    sign_in(page, base, "ines", PASSWORD)
    page.wait_for_url("**/studies/")
    shoot(page, "00-studies-empty")
    create_study(page)
    edit_settings(page)

    # The study page says what is still to do, each with the page that does it: no quota
    # among them (the new-study form asked for it).
    open_study(page)
    assert todo(page) == ["no_arms", "too_few_scenarios"]
    shoot(page, "02-study-todo")
    fix = page.locator('#todo-list li[data-problem="too_few_scenarios"]')
    fix.get_by_role("link", name="Fix it →").click()
    page.wait_for_url(f"**/studies/{SLUG}/scenarios/")
    add_scenario(
        page,
        key="chest-pain",
        title="Chest pain at work",
        sections=[
            ("At work", "You are 58 and feel a crushing pain in your chest at your desk."),
            ("Since then", "The pain spreads to your left arm and you are sweating."),
        ],
        gold="Ambulance",
        conditions="Heart attack\nAngina",
    )
    add_scenario(
        page,
        key="headache",
        title="A headache after a fall",
        sections=[("Yesterday", "You fell off your bike and hit your head; now it aches.")],
        gold="A&E",
        conditions="Concussion",
    )
    shoot(page, "03-scenarios")

    go_to(page, "Arms", f"**/studies/{SLUG}/arms/")
    add_arm(page, key="control", kind="Control (own sources)", label="Your own sources")

    add_endpoint_and_test_it(page, scripted)

    open_study(page)
    go_to(page, "Settings", f"**/studies/{SLUG}/settings/")
    go_to(page, "Arms", f"**/studies/{SLUG}/arms/")
    add_arm(
        page,
        key="assistant",
        kind="Chat with an LLM",
        label="AI assistant",
        endpoint="Scripted model",
    )
    shoot(page, "07-arms")

    open_study(page)
    build_questionnaire(page)

    # Preview both arms from the study page; neither is recorded.
    open_study(page)
    assert todo(page) == []
    assert "Nothing in the design" in page.locator("#todo-done").inner_text()
    shoot(page, "09-study-draft")
    preview(page, arm="control: Control (own sources)")
    page.fill("#id_sources_text", "The NHS website")
    page.get_by_role("button", name="Continue to the questions").click()
    answer(page, level="Ambulance", conditions="Heart attack")
    page.wait_for_selector("#questionnaire-form")
    page.locator("#preview-banner").get_by_role("link", name="Back to the study").click()
    page.wait_for_url(f"**/studies/{SLUG}/")
    preview(page, arm="assistant: Chat with an LLM")
    chat(page, "I have chest pain. What should I do?", see_it_stream=True)
    page.locator("#preview-banner").get_by_role("link", name="Back to the study").click()
    page.wait_for_url(f"**/studies/{SLUG}/")

    scripted.configure(token_delay_s=0.003)  # the participant's replies: fast
    launch(page)
    link = page.locator("#participant-link").input_value()
    assert link.startswith(base) and link.endswith(f"/s/{SLUG}/")

    # A participant: a browser of their own, the link, consent, every step, the end.
    entered = participate(browser, link, visits, errors)

    # Back as the investigator: one participant finished; the previews are not counted.
    page.locator(".site-nav").get_by_role("link", name="Studies").click()
    row = page.locator("tr", has_text="Chest pain and headaches")
    assert row.locator('[data-count="finished"]').inner_text() == "1"
    assert row.locator('[data-count="opened"]').inner_text() == str(entered)
    shoot(page, "11-studies")
    page.get_by_role("link", name="Chest pain and headaches").click()
    page.wait_for_url(f"**/studies/{SLUG}/")
    shoot(page, "12-study-live")
    assistant = page.locator("#study-figures #arm-assistant td")
    assert assistant.nth(0).inner_text() == "AI assistant"
    assert assistant.nth(4).inner_text() == "2"  # answers: two scenarios, completed
    # Where participants are now: one finished (in the All column); the total is those who
    # opened the link, without the two previews.
    assert page.locator('#study-figures tr[data-state="finished"] td').last.inner_text() == "1"
    assert page.locator("#participants-total").inner_text() == str(entered)

    context.close()
    assert errors == []
    assert visits.admin() == [], f"the browser went to the admin: {visits.admin()}"
    assert Participant.objects.filter(is_preview=True).count() == 2
    finished = Participant.objects.get(is_preview=False, status=Participant.Status.COMPLETED)
    assert finished.arm.key == "assistant"
    assert Answer.objects.filter(task__participant=finished).count() == 2
    replies = Message.objects.filter(
        conversation__task__participant=finished, role=Message.Role.ASSISTANT
    )
    assert [m.status for m in replies] == [Message.Status.COMPLETE] * 2
    given = ItemAnswer.objects.filter(response__participant=finished)
    assert {a.item.key: (a.number, a.text) for a in given} == {
        "ease": (2, ""),
        "hard_why": (None, "Deciding between A&E and an ambulance."),
    }
