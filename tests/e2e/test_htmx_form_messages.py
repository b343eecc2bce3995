"""A form sent back with its messages (HTTP 400) shows them in the browser, where htmx swaps
it in: htmx leaves 4xx responses unswapped unless told (base.html's responseHandling)."""

from __future__ import annotations

import pytest

from studyapp.questionnaires.models import Placement
from studyapp.questionnaires.services import questionnaire_create
from tests.e2e.conftest import sign_in
from tests.factories import make_member, make_study, make_user

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 860}
PASSWORD = "a-password-for-the-e2e-test"


def test_an_invalid_item_shows_its_messages_without_a_reload(live_asgi, browser):
    study = make_study("htmx-forms")
    make_member(study, make_user("owner", password=PASSWORD))
    questionnaire = questionnaire_create(
        study=study, key="after", title="Afterwards", placement=Placement.END
    )
    context = browser.new_context(viewport=DESKTOP)
    try:
        page = context.new_page()
        sign_in(page, live_asgi.url, "owner", PASSWORD)
        page.goto(f"{live_asgi.url}/studies/htmx-forms/questionnaires/{questionnaire.pk}/")
        page.evaluate("window.__same_page = true")
        with page.expect_response(lambda r: "/items/" in r.url and r.status == 400):
            page.locator("#item-add button[type=submit]").click()
        # The swapped-in list carries the form's messages; the page was not reloaded.
        page.locator("#items .errorlist").first.wait_for(state="visible", timeout=5000)
        assert page.evaluate("window.__same_page === true")
    finally:
        context.close()
