"""Security keys (allauth.mfa's WebAuthn) in a real browser, under the real
Content-Security-Policy and Permissions-Policy: an analyst of a study that requires two-factor
authentication adds a key from the page that refuses her, which lets her in; she signs out,
signs in with password and key; and without the key she is refused, with a message that
says so.

The key is Chrome's virtual authenticator (DevTools Protocol, WebAuthn domain): a CTAP2
USB key that is always present and touched. WebAuthn needs a secure context and a domain
as the relying party's id (never an IP address), so the browser opens the live server as
http://localhost, which the server (allauth takes the RP id from the Host header) and
fido2 (which accepts that origin over http) both take as they would https in production.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from studyapp.studies.roles import Role
from tests.e2e.conftest import fits_width, screenshot, sign_in
from tests.factories import make_member, make_study, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-password-for-the-e2e-test"
SECURITY_KEY = {
    "protocol": "ctap2",
    "transport": "usb",
    "hasResidentKey": True,
    "hasUserVerification": True,
    "isUserVerified": True,
    "automaticPresenceSimulation": True,
}


def sign_in_with_password(page, base: str) -> None:
    sign_in(page, base, "ana", PASSWORD)


def sign_out(page) -> None:
    page.locator(".site-nav button", has_text="Sign out").click()
    page.wait_for_url("**/accounts/login/")


def test_an_analyst_adds_a_security_key_and_signs_in_with_it(live_asgi, browser):
    user = make_user("ana", password=PASSWORD)
    study = make_study("guarded", title="Guarded study", require_mfa=True)
    make_member(study, user, Role.ANALYST)
    base = live_asgi.url.replace("127.0.0.1", "localhost")
    dashboard = base + reverse("analysis:dashboard", args=["guarded"])

    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    key = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": SECURITY_KEY})[
        "authenticatorId"
    ]

    sign_in_with_password(page, base)
    # The study refuses her until she has a second factor; a security key is one way.
    assert page.goto(dashboard).status == 403
    page.locator("#mfa-webauthn-link").click()
    page.wait_for_url("**/accounts/reauthenticate/**")
    page.fill("#reauthenticate input[name=password]", PASSWORD)
    page.locator("#reauthenticate button[type=submit]").click()
    page.wait_for_url("**/accounts/2fa/webauthn/add/")
    assert fits_width(page)
    screenshot(page, "webauthn-add")
    page.fill("#mfa-add-webauthn input[name=name]", "Desk key")
    page.locator("#mfa_webauthn_add").click()
    # The key made a credential, the server verified it and, as for an authenticator app,
    # made her recovery codes.
    page.wait_for_url("**/accounts/2fa/recovery-codes/")
    assert page.locator("#recovery-codes code").count() == 10
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": key})["credentials"]
    assert len(credentials) == 1
    assert credentials[0]["rpId"] == "localhost"
    page.goto(f"{base}/accounts/2fa/")
    assert "1 security key added" in page.locator("#webauthn-status").inner_text()
    page.locator("#manage-webauthn").click()
    assert "Desk key" in page.locator("#security-keys").inner_text()
    assert fits_width(page)

    # The key is a second factor: the study lets her in.
    assert page.goto(dashboard).status == 200

    # Signing in again: password, then the key.
    sign_out(page)
    sign_in_with_password(page, base)
    assert "/accounts/2fa/authenticate/" in page.url
    assert fits_width(page)
    screenshot(page, "webauthn-authenticate")
    page.locator("#mfa_webauthn_authenticate").click()
    page.wait_for_url(lambda url: "/accounts/" not in url)
    assert page.goto(dashboard).status == 200
    page.goto(f"{base}/accounts/2fa/webauthn/")
    assert "last used" in page.locator("#security-keys").inner_text()

    # Without her key (the key present holds no credential of hers) she is refused, and
    # told why, on the same page, where a code would still do.
    sign_out(page)
    cdp.send("WebAuthn.clearCredentials", {"authenticatorId": key})
    sign_in_with_password(page, base)
    page.locator("#mfa_webauthn_authenticate").click()
    error = page.locator("#security-key-error")
    error.wait_for(state="visible")
    assert "No security key of this account answered" in error.inner_text()
    screenshot(page, "webauthn-refused")
    assert "/accounts/2fa/authenticate/" in page.url
    # Half signed in, the study is not hers: the sign-in sends her back to the key.
    page.goto(dashboard)
    assert "/accounts/2fa/authenticate/" in page.url

    # Nothing was blocked: no CSP or Permissions-Policy message about what the keys use,
    # and no script error (allauth logs a failed key's exception unless a page handles
    # it, as ours does). The 403 above is logged as a failed load; nothing else may be.
    problems = [
        m
        for m in console
        if "Content Security Policy" in m
        or "publickey-credentials" in m
        or (m.startswith("error:") and "Failed to load resource" not in m)
    ]
    assert problems == []
    context.close()


def test_a_key_answer_the_server_does_not_accept_is_refused_with_a_message(live_asgi, browser):
    """A key's answer the server cannot verify (here: signed over a challenge the server
    never issued, as a replayed answer would be) comes back to the sign-in page with the
    reason next to the button, not an error page."""
    make_user("ana", password=PASSWORD)
    base = live_asgi.url.replace("127.0.0.1", "localhost")
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": SECURITY_KEY})

    sign_in_with_password(page, base)
    page.goto(f"{base}/accounts/2fa/webauthn/add/")
    page.fill("#reauthenticate input[name=password]", PASSWORD)
    page.locator("#reauthenticate button[type=submit]").click()
    page.wait_for_url("**/accounts/2fa/webauthn/add/")
    page.locator("#mfa_webauthn_add").click()
    page.wait_for_url("**/accounts/2fa/recovery-codes/")
    sign_out(page)

    sign_in_with_password(page, base)
    authenticate_url = page.url
    page.evaluate(
        """challenge => {
          const script = document.getElementById('js_data');
          const data = JSON.parse(script.textContent);
          data.request_options.publicKey.challenge = challenge;
          script.textContent = JSON.stringify(data);
        }""",
        "A" * 43,  # 32 zero bytes, base64url
    )
    with page.expect_navigation():
        page.locator("#mfa_webauthn_authenticate").click()
    error = page.locator("#security-key-error")
    error.wait_for(state="visible")
    assert "was not accepted" in error.inner_text()
    assert page.url == authenticate_url
    context.close()
