"""The dashboard in a real browser: plotly draws every figure from the vendored file, the
filter form swaps the results in place (htmx), and the blinded view stays blinded."""

from __future__ import annotations

import pytest

from tests.analysis.scored import ARM_SECRETS
from tests.e2e.conftest import browser, live_asgi  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e

PASSWORD = "a-password-for-the-dashboard-test"
FIGURES = 6


def test_the_dashboard_draws_filters_and_blinds_in_a_browser(
    live_asgi,  # noqa: F811
    browser,  # noqa: F811
    alice,
    scored,
    monkeypatch,
):
    from django.core.cache import cache

    from studyapp.analysis import tasks

    cache.clear()  # another test may have scheduled scoring for a study with this id
    queued = []
    monkeypatch.setattr(tasks.conversation_scores_refresh_task, "delay", queued.append)
    alice.set_password(PASSWORD)
    alice.save()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{live_asgi.url}/accounts/login/?next=/studies/beta/analysis/")
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/studies/beta/analysis/")
    page.wait_for_function(
        f"document.querySelectorAll('[data-plotly] .main-svg').length >= {FIGURES}",
        timeout=20000,
    )
    assert "gptarmzq" in page.content()

    page.get_by_label("Blinded: arms as A, B, C").check()
    page.wait_for_selector("#dashboard-results.is-blinded", timeout=10000)
    page.wait_for_function(
        f"document.querySelectorAll('[data-plotly] .main-svg').length >= {FIGURES}",
        timeout=20000,
    )
    assert "blinded=1" in page.url  # the filters are in the address bar (htmx push)
    html = page.content()
    for secret in ARM_SECRETS:
        assert secret not in html
    # The figures were drawn again from the blinded data: their axes show letters.
    ticks = page.locator("#fig-accuracy-card .xtick text").all_text_contents()
    assert sorted(ticks) == ["A", "B"]

    page.locator("#task-list a").first.click()
    page.wait_for_selector("h2#chat-title")
    assert "blinded=1" in page.url
    for secret in ARM_SECRETS:
        assert secret not in page.content()
    assert errors == []
    assert queued == [scored.study.pk]  # its chats were not scored yet: a job was queued
    context.close()
