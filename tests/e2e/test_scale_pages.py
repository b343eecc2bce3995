"""The builder's disposition scale pages in a real browser, at 1280 and 375 px: from a
study's settings page to a new scale (rows added, moved and refused beside the row by
htmx, then saved back to the settings page), the scale chosen, and its editor read-only
once the study has a participant. No sideways scroll, no CSP violation, nothing serious
for axe; SCREENSHOT_DIR keeps the screenshots to look at."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from studyapp.studies.models import DispositionScale, Study
from tests.e2e.axe import audit, blocking, describe
from tests.e2e.conftest import fits_width, screenshot, sign_in
from tests.factories import make_member, make_participant, make_study, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-password-for-the-e2e-test"
SIZES = {"desktop": {"width": 1280, "height": 860}, "phone": {"width": 375, "height": 740}}


def checked(page, name: str) -> None:
    screenshot(page, name)
    assert fits_width(page), name
    assert not blocking(found := audit(page)), describe(page.url, found)


@pytest.mark.parametrize("size", list(SIZES))
def test_a_new_scale_from_the_settings_page_at_each_width(live_asgi, browser, size):
    user = make_user("alice", password=PASSWORD)
    study = make_study("draft", status=Study.Status.DRAFT, title="Draft study")
    make_member(study, user)
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    sign_in(page, live_asgi.url, "alice", PASSWORD)

    page.goto(f"{live_asgi.url}/studies/draft/settings/")
    page.click("#scale-new-link")
    page.wait_for_selector("#level-label-1")
    page.fill("#id_name", "Three levels")
    page.click("#level-add")  # htmx: the form comes back with a third row
    page.wait_for_selector("#level-label-2")
    page.fill("#level-label-0", "Stay home")
    page.fill("#level-label-1", "Emergency")
    page.fill("#level-label-2", "See a doctor")
    page.fill("#level-code-2", "not a code!")
    page.click("button[name=level_action][value='down-0']")  # Stay home goes last
    expect(page.locator("#level-label-0")).to_have_value("Emergency")
    page.click("button[name=level_action][value='down-1']")
    expect(page.locator("#level-label-2")).to_have_value("Stay home")
    page.click("#scale-save")
    page.wait_for_selector("#level-code-1-error")
    assert "Letters, digits" in page.inner_text("#level-code-1-error")
    checked(page, f"scale-new-refused-{size}")
    page.fill("#level-code-1", "doctor")
    page.click("#scale-save")
    page.wait_for_url(lambda url: urlsplit(url).path == "/studies/draft/settings/")
    scale = DispositionScale.objects.filter(owner__username="alice").first()
    assert scale is not None, list(DispositionScale.objects.values_list("slug", "owner_id"))
    assert scale.slug == "three-levels"
    assert list(scale.levels.order_by("-value").values_list("code", flat=True)) == [
        "emergency",
        "doctor",
        "stay-home",
    ]
    page.select_option("#id_disposition_scale", str(scale.pk))
    page.locator("#study-settings button[type=submit]").last.click()
    page.wait_for_selector(".flash li")
    study.refresh_from_db()
    assert study.disposition_scale == scale

    page.goto(f"{live_asgi.url}/studies/builder/scales/")
    checked(page, f"scales-{size}")
    page.goto(f"{live_asgi.url}/studies/builder/scales/{scale.pk}/")
    assert not page.is_visible("#scale-locked")
    checked(page, f"scale-edit-{size}")

    make_participant(study)  # someone entered: the scale is part of the study's data
    page.reload()
    assert page.is_visible("#scale-locked") and page.is_visible("#scale-copy-link")
    assert "draft" in page.inner_text("#scale-locked")
    checked(page, f"scale-locked-{size}")
    page.click("#scale-copy-link")
    page.wait_for_selector("#level-label-2")
    assert page.input_value("#id_name") == "Three levels (copy)"
    context.close()
