"""A real ASGI server (uvicorn, in a thread of the test process so it sees the test database)
and a real browser (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import require

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveASGIServer:
    def __init__(self) -> None:
        import uvicorn
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        from studyapp.asgi import application

        # pytest runs with DEBUG off, so asgi.py does not serve static files; the browser
        # needs the real CSS and JS, so serve them here as the development server does.
        application = ASGIStaticFilesHandler(application)

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            application, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def screenshot(page, name: str) -> None:
    """A full-page screenshot into SCREENSHOT_DIR when set (to look at by eye)."""
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def sign_in(
    page, base_url: str, username: str, password: str, *, next_path: str = "", then=None
) -> None:
    """Sign in through the login form as a person would; waits until the browser has left
    the login page, or for the URL `then` (a glob or a predicate) when given."""
    page.goto(f"{base_url}/accounts/login/" + (f"?next={next_path}" if next_path else ""))
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", password)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(then or (lambda url: "/accounts/login/" not in url))


def fits_width(page) -> bool:
    """The page does not scroll sideways."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def paste_is_refused(page, selector: str) -> bool:
    """Dispatch a real paste event (with clipboard data) at the element; True when the
    page's handler cancelled it."""
    return page.evaluate(
        """selector => {
          const el = document.querySelector(selector);
          const data = new DataTransfer();
          data.setData('text/plain', 'pasted scenario text');
          const event = new ClipboardEvent('paste',
            {clipboardData: data, bubbles: true, cancelable: true});
          el.dispatchEvent(event);
          return event.defaultPrevented;
        }""",
        selector,
    )


# Every page opened by a browser test reports what its Content-Security-Policy blocked
# (chromium also logs it), and the test fails on any: a policy that silently breaks a
# script, a style or a socket must not pass unnoticed.
_REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => console.error(
  `Content Security Policy violation: ${event.effectiveDirective} blocked ` +
  `${event.blockedURI || "an inline resource"} (${event.sourceFile}:${event.lineNumber})`));
"""
CSP_VIOLATIONS: list[str] = []


class CSPCheckedBrowser:
    """The browser, whose new contexts record every CSP violation of their pages."""

    def __init__(self, browser) -> None:
        self._browser = browser

    def new_context(self, **kwargs):
        context = self._browser.new_context(**kwargs)
        context.add_init_script(_REPORT_CSP_VIOLATIONS)
        context.on("console", self._record)
        return context

    @staticmethod
    def _record(message) -> None:
        if "Content Security Policy" in message.text:
            page = message.page.url if message.page else "?"
            CSP_VIOLATIONS.append(f"{page}: {message.text}")

    def __getattr__(self, name: str):
        return getattr(self._browser, name)


@pytest.fixture
def live_asgi(transactional_db, settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    server = LiveASGIServer()
    server.start()
    CSP_VIOLATIONS.clear()
    yield server
    server.stop()
    violations = list(CSP_VIOLATIONS)
    CSP_VIOLATIONS.clear()
    if violations:
        pytest.fail("the Content-Security-Policy blocked:\n" + "\n".join(violations))


@pytest.fixture(scope="module")
def browser():
    require(os.path.exists(CHROMIUM), f"chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    # While Playwright's sync API is alive it keeps an event loop in this thread, and Django
    # refuses ORM calls from a thread with an event loop (the test body and the database
    # teardown make such calls). The flag lives exactly as long as the browser.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield CSPCheckedBrowser(browser)
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
