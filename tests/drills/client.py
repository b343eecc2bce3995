"""A participant as the drills see one: a browser's cookie jar over HTTPS through nginx, the
participant pages' forms (the study link's Start included), and the chat socket spoken as
static/js/chat.js speaks it."""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import yarl

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FORM_RE = re.compile(r'<form method="post" action="([^"]+)"')
WS_PATH_RE = re.compile(r'data-ws-path="([^"]+)"')
HIDDEN_RE = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


TOKEN_RE = re.compile(r"/p/([^/?]+)/")
# Every PID, SESSION_ID and link token the drills used: none may appear in any log.
SECRETS: set[str] = set()


class SocketClosed(Exception):
    """The chat socket closed (or broke) while we were reading it."""


_addresses = itertools.count(1)


def next_source_ip() -> str:
    """A loopback address of its own for each browser (all of 127/8 reaches loopback), so
    nginx and the app see separate clients, as they would separate people."""
    n = next(_addresses)
    return f"127.0.{n // 250 % 250 + 1}.{n % 250 + 1}"


@dataclass
class Browser:
    base: str
    # The address this browser's connections come from.
    source_ip: str = field(default_factory=next_source_ip)
    session: aiohttp.ClientSession = field(init=False)

    def __post_init__(self) -> None:
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            connector=aiohttp.TCPConnector(ssl=False, local_addr=(self.source_ip, 0), limit=0),
            timeout=aiohttp.ClientTimeout(total=60),
        )

    async def close(self) -> None:
        await self.session.close()

    async def get(self, path: str) -> tuple[int, str, str]:
        async with self.session.get(self.base + path) as response:
            return response.status, str(response.url), await response.text()

    async def post_form(
        self, page_html: str, page_url: str, **fields: str
    ) -> tuple[int, str, str]:
        action = FORM_RE.search(page_html)
        token = CSRF_RE.search(page_html)
        assert action and token, "no form on the page"
        data = {"csrfmiddlewaretoken": token.group(1), **fields}
        headers = {"Origin": self.base, "Referer": page_url}
        async with self.session.post(
            self.base + html.unescape(action.group(1)), data=data, headers=headers
        ) as response:
            return response.status, str(response.url), await response.text()


@dataclass
class Participant:
    """Enters a study, consents, reads the instructions and reaches the chat."""

    browser: Browser
    pid: str
    ws_path: str = ""
    page: str = ""
    # What each failed request of advance() gave: an HTTP status, or an exception's name.
    failed: list = field(default_factory=list)

    async def enter(self, slug: str, **params: str) -> int:
        """Open the study link and press Start: the link's page enrols nobody; its form
        POSTs the link's parameters back (a browser holding the participant is sent
        straight back to them instead)."""
        query = urlencode({"PROLIFIC_PID": self.pid, **params}) if self.pid else urlencode(params)
        status, url, self.page = await self.browser.get(f"/s/{slug}/?{query}")
        if status == 200 and f'<form method="post" action="/s/{slug}/"' in self.page:
            fields = {
                name: html.unescape(value)
                for name, value in HIDDEN_RE.findall(self.page)
                if name != "csrfmiddlewaretoken"
            }
            status, url, self.page = await self.browser.post_form(self.page, url, **fields)
        self.url = url
        SECRETS.update(v for v in (self.pid, params.get("SESSION_ID")) if v)
        token = TOKEN_RE.search(url)
        if token:
            SECRETS.add(token.group(1))
        return status

    def at_task(self) -> bool:
        """On a scenario: the chat (LLM arm) or the sources form (control arm)."""
        action = FORM_RE.search(self.page)
        return bool(WS_PATH_RE.search(self.page)) or bool(action and "/tasks/" in action.group(1))

    async def advance(self, slug: str, *, attempts: int = 40, **params: str) -> int:
        """Take each step the page shows (consent, instructions) until the task page, the
        way a person would: after a failed request (a server restarting), wait and reload
        from the study link. Returns the number of failed requests on the way."""
        failures = 0
        for _ in range(attempts):
            try:
                status = await self.enter(slug, **params)
                while status == 200 and not self.at_task():
                    action = FORM_RE.search(self.page)
                    if action is None:
                        raise AssertionError("a page with neither a form nor a task")
                    fields = {"agree": "1"} if "/consent" in action.group(1) else {}
                    status, self.url, self.page = await self.browser.post_form(
                        self.page, self.url, **fields
                    )
                if status == 200:
                    found = WS_PATH_RE.search(self.page)
                    self.ws_path = html.unescape(found.group(1)) if found else ""
                    return failures
                self.failed.append(status)
            except (TimeoutError, aiohttp.ClientError) as exc:
                self.failed.append(type(exc).__name__)
            failures += 1
            await asyncio.sleep(0.5)
        raise AssertionError(f"{self.pid} never reached the task ({failures} failures)")

    async def begin(self, slug: str, **params: str) -> None:
        """Entry, consent and instructions; afterwards the task page and its socket path."""
        status = await self.enter(slug, **params)
        assert status == 200, f"entry gave {status}"
        status, self.url, self.page = await self.browser.post_form(self.page, self.url, agree="1")
        assert status == 200, f"consent gave {status}"
        status, self.url, self.page = await self.browser.post_form(self.page, self.url)
        assert status == 200, f"instructions gave {status}"
        found = WS_PATH_RE.search(self.page)
        assert found, "no chat on the task page"
        self.ws_path = html.unescape(found.group(1))


@dataclass
class Chat:
    """One chat socket, reconnectable; frames as the page's script handles them."""

    participant: Participant
    ws: aiohttp.ClientWebSocketResponse | None = None
    closes: int = 0

    async def connect(self) -> dict:
        browser = self.participant.browser
        url = browser.base.replace("https://", "wss://") + self.participant.ws_path
        self.ws = await browser.session.ws_connect(url, origin=browser.base, heartbeat=None)
        frame = await self.recv()
        assert frame["type"] == "history", frame
        return frame

    async def connect_to_worker(self, port: int) -> dict:
        """Straight to one web worker, past nginx (as nginx may hand a reconnect to any
        worker): the browser's cookies go along by hand, since they are Secure."""
        browser = self.participant.browser
        cookies = browser.session.cookie_jar.filter_cookies(yarl.URL(browser.base))
        header = "; ".join(f"{name}={morsel.value}" for name, morsel in cookies.items())
        url = f"ws://127.0.0.1:{port}{self.participant.ws_path}"
        self.ws = await browser.session.ws_connect(
            url, origin="http://127.0.0.1", headers={"Cookie": header}, heartbeat=None
        )
        frame = await self.recv()
        assert frame["type"] == "history", frame
        return frame

    async def reconnect(self, *, within: float = 30) -> dict:
        deadline = time.monotonic() + within
        while True:
            try:
                return await self.connect()
            except (aiohttp.ClientError, SocketClosed, OSError):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.25)

    async def recv(self, within: float = 60) -> dict:
        assert self.ws is not None
        # Not receive(timeout=...): aiohttp restarts that timeout at every ping it answers,
        # and uvicorn pings an idle socket every 20 s, so it would never fire.
        async with asyncio.timeout(within):
            message = await self.ws.receive()
        if message.type != aiohttp.WSMsgType.TEXT:
            self.closes += 1
            raise SocketClosed(f"{message.type.name} {self.ws.close_code}")
        return json.loads(message.data)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send_str(json.dumps(frame))

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()


@dataclass
class Reply:
    """What the participant saw of one reply."""

    seq: int | None = None
    text: str = ""
    status: str = ""
    error: str = ""
    started_at: float | None = None
    ended_at: float | None = None


async def read_reply(chat: Chat, reply: Reply, *, within: float = 90) -> Reply:
    """Frames until this reply's end (or the socket drops: SocketClosed, reply kept)."""
    while True:
        frame = await chat.recv(within)
        kind = frame["type"]
        if kind == "start":
            reply.seq, reply.started_at = frame["seq"], time.monotonic()
            if frame.get("resumed"):
                # Joined late (a reconnect): the text so far comes with the start.
                reply.text = html.unescape(frame["html"])
        elif kind == "delta" and frame["seq"] == reply.seq:
            reply.text += html.unescape(frame["html"])
        elif kind == "end" and frame["seq"] == reply.seq:
            reply.status, reply.ended_at = frame["status"], time.monotonic()
            reply.error = frame.get("error_message", "")
            return reply
        elif kind == "error":
            reply.status, reply.error = "refused:" + frame["code"], frame["message"]
            return reply


async def send_and_read(chat: Chat, text: str, client_id: str, *, within: float = 90) -> Reply:
    await chat.send_frame({"type": "send", "client_id": client_id, "text": text})
    reply = Reply()
    ack = await chat.recv(within)
    if ack["type"] == "error":
        reply.status, reply.error = "refused:" + ack["code"], ack["message"]
        return reply
    assert ack["type"] == "ack", ack
    return await read_reply(chat, reply, within=within)


def last_assistant(history: dict) -> dict | None:
    items = [m for m in history["messages"] if m["role"] == "assistant"]
    return items[-1] if items else None
