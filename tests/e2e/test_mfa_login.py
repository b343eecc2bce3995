"""Two-factor authentication in a real browser: an analyst of a study that requires it is
sent to set up an authenticator app, does (the code computed from the secret the page
shows, as the app would), signs out, signs in with password and a code from the app, and
then, as if the phone were lost, with password and a recovery code."""

from __future__ import annotations

import time

import pytest
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.urls import reverse

from studyapp.studies.roles import Role
from tests.e2e.conftest import sign_in
from tests.factories import make_member, make_study, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-password-for-the-e2e-test"
PERIOD_S = 30  # MFA_TOTP_PERIOD's default


def totp_code(secret: str) -> str:
    """The code an authenticator app shows now; waits for the next period when this one
    ends within a few seconds, so the code is still valid when the server reads it."""
    if PERIOD_S - time.time() % PERIOD_S < 3:
        time.sleep(PERIOD_S - time.time() % PERIOD_S + 0.2)
    return format_hotp_value(hotp_value(secret, int(time.time()) // PERIOD_S))


def sign_in_with_code(page, base: str, second_factor: str) -> None:
    sign_in(page, base, "ana", PASSWORD, then="**/accounts/2fa/authenticate/")
    page.get_by_role("heading", name="Two-factor authentication").wait_for()
    page.fill("#mfa-authenticate input[name=code]", second_factor)
    page.locator("#mfa-authenticate button[type=submit]", has_text="Sign in").click()
    page.wait_for_url(lambda url: "/accounts/" not in url)


def sign_out(page) -> None:
    page.locator(".site-nav button", has_text="Sign out").click()
    page.wait_for_url("**/accounts/login/")


def test_an_analyst_sets_up_totp_and_signs_in_with_a_code_then_a_recovery_code(live_asgi, browser):
    user = make_user("ana", password=PASSWORD)
    study = make_study("guarded", title="Guarded study", require_mfa=True)
    make_member(study, user, Role.ANALYST)
    dashboard = live_asgi.url + reverse("analysis:dashboard", args=["guarded"])

    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    sign_in(page, live_asgi.url, "ana", PASSWORD)

    # The study refuses her until she has a second factor, and says where to set one up.
    response = page.goto(dashboard)
    assert response.status == 403
    assert "requires two-factor authentication" in page.locator("#mfa-required").inner_text()
    page.locator("#mfa-setup-link").click()
    # allauth asks for the password again before an authenticator is added.
    page.wait_for_url("**/accounts/reauthenticate/**")
    page.fill("#reauthenticate input[name=password]", PASSWORD)
    page.locator("#reauthenticate button[type=submit]").click()
    page.wait_for_url("**/accounts/2fa/totp/activate/")

    secret = page.locator("#authenticator-secret").inner_text().strip()
    assert page.locator("img.mfa-qr").evaluate("img => img.naturalWidth") > 0
    page.fill("#mfa-activate-totp input[name=code]", totp_code(secret))
    page.locator("#mfa-activate-totp button[type=submit]").click()
    page.wait_for_url("**/accounts/2fa/recovery-codes/")
    codes = [c.strip() for c in page.locator("#recovery-codes code").all_inner_texts()]
    assert len(codes) == 10

    sign_out(page)
    sign_in_with_code(page, live_asgi.url, totp_code(secret))
    assert page.goto(dashboard).status == 200

    # The phone is lost: a recovery code stands in for the app, once.
    sign_out(page)
    sign_in_with_code(page, live_asgi.url, codes[0])
    assert page.goto(dashboard).status == 200
    page.goto(f"{live_asgi.url}/accounts/2fa/")
    assert "9 of 10 recovery codes unused" in page.locator("#mfa-index").inner_text()

    sign_out(page)
    sign_in(page, live_asgi.url, "ana", PASSWORD, then="**/accounts/2fa/authenticate/")
    page.fill("#mfa-authenticate input[name=code]", codes[0])
    page.locator("#mfa-authenticate button[type=submit]", has_text="Sign in").click()
    assert page.locator("#mfa-authenticate .errorlist, #mfa-authenticate [role=alert]").count()
    assert "/accounts/2fa/authenticate/" in page.url
    context.close()
