"""The participant's chat socket: checks access, hands turns to services, sends frames.

Frames from the browser:
  {"type": "send", "client_id": "<1-64 of A-Za-z0-9_->", "text": "..."}
  {"type": "retry"}            answer the last participant message again (after a failure)
  {"type": "history"}          send the history frame again
Frames to the browser:
  history  {"messages": [{"seq", "role", "html", "status", "client_id"?}], "turns_used",
            "max_turns", "min_turns", "can_finish", "can_retry", "in_flight", "active"}
  ack      {"client_id", "seq", "duplicate"}      the message is stored
  start    {"seq"}                                 a reply begins
  delta    {"seq", "html"}                         escaped text to append
  end      {"seq", "status", "turns_used", "max_turns", "can_finish", "can_retry",
            "error_message"?}
  error    {"code", "message", "client_id"?}       refused or failed; message is for people
A socket that may not chat is accepted, sent an error frame, and closed with 4403 or 4404,
so the browser can tell "stop reconnecting" from a network drop.

No channel layer on this path: the reply streams straight from the model client to this
socket. Nothing a participant or model wrote is logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from contextlib import aclosing
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils.html import escape

from studyapp.chat.access import ChatDenied, chat_open_for_socket
from studyapp.chat.framing import DeltaFramer
from studyapp.chat.models import Message
from studyapp.chat.selectors import ConversationSnapshot, conversation_snapshot
from studyapp.chat.services import (
    ChatRefused,
    message_retry,
    message_store_user,
    reply_stream,
)
from studyapp.core import metrics

logger = logging.getLogger(__name__)

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

REPLY_ERROR_MESSAGES = {
    "timeout": "The assistant took too long to answer. Please try again.",
    "rate_limited": "The assistant is busy right now. Please wait a moment and try again.",
    "busy": "The assistant is busy right now. Please wait a moment and try again.",
    "server_error": "The assistant is not available right now. Please try again.",
    "connection": "The assistant is not available right now. Please try again.",
    "bad_request": "The assistant could not answer this message. Please try again.",
    "incomplete": "The reply was cut off. Please try again.",
    "empty": "The assistant sent an empty reply. Please try again.",
    "": "The reply was interrupted. Please try again.",
}
_INTERNAL = "Something went wrong on our side. Please try again."
_BAD_FRAME = "The page sent something unexpected. Please reload the page."
_TOO_FAST = "Please slow down a little."


class FrameBudget:
    """A token bucket per socket: `burst` frames at once, then `per_s` a second.

    The page sends a frame per message and polls history every 2 s at most; a script that
    floods frames (each one a database read) is refused instead of served.
    """

    def __init__(self, *, burst: float, per_s: float) -> None:
        self.burst = burst
        self.per_s = per_s
        self.tokens = burst
        self.at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_s)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def reply_error_message(error_code: str) -> str:
    return REPLY_ERROR_MESSAGES.get(error_code, REPLY_ERROR_MESSAGES["server_error"])


def history_frame(snapshot: ConversationSnapshot) -> dict[str, Any]:
    messages = []
    for m in snapshot.messages:
        item: dict[str, Any] = {
            "seq": m.sequence,
            "role": m.role,
            "html": escape(m.text),
            "status": m.status,
        }
        if m.role == Message.Role.USER and m.client_message_id:
            item["client_id"] = m.client_message_id
        messages.append(item)
    turns = snapshot.turns
    return {
        "type": "history",
        "messages": messages,
        "turns_used": turns.turns_used,
        "max_turns": turns.max_turns,
        "min_turns": turns.min_turns,
        "can_finish": turns.can_finish,
        "can_retry": snapshot.can_retry,
        "in_flight": snapshot.in_flight,
        "active": snapshot.task_active,
    }


class ChatConsumer(AsyncJsonWebsocketConsumer):
    # No channel layer: nothing is ever sent to this consumer through one, and subscribing
    # would tie every chat socket to Redis (a blocking read per socket, and a dropped socket
    # whenever Redis restarts or a read times out). An alias that names no configured layer
    # makes channels skip it (get_channel_layer returns None).
    channel_layer_alias = "chat-uses-no-channel-layer"

    conversation_id: int | None = None
    reply_task: asyncio.Task | None = None
    budget: FrameBudget
    counted = False

    async def connect(self) -> None:
        kwargs = self.scope["url_route"]["kwargs"]
        try:
            grant = await database_sync_to_async(chat_open_for_socket)(
                session=self.scope.get("session"),
                token=kwargs["token"],
                position=kwargs["position"],
            )
        except ChatDenied as denied:
            logger.info("chat: socket refused (%s)", denied.code)
            await self.accept()
            await self.send_json({"type": "error", "code": denied.code, "message": denied.message})
            await self.close(code=denied.close_code)
            return
        self.conversation_id = grant.conversation_id
        self.budget = FrameBudget(
            burst=settings.CHAT_FRAME_BURST, per_s=settings.CHAT_FRAMES_PER_S
        )
        await self.accept()
        metrics.socket_opened()
        self.counted = True
        await self._send_history()

    async def disconnect(self, code: int) -> None:
        if self.counted:
            self.counted = False
            metrics.socket_closed()
        task = self.reply_task
        if task is not None and not task.done():
            # The reply service stores the partial text as interrupted and closes the
            # upstream stream; wait for that so nothing is left half-written.
            task.cancel()
            await asyncio.wait({task}, timeout=15)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kw):
        limit = settings.CHAT_MAX_MESSAGE_CHARS * 6 + 1024  # escaped JSON of a maximal message
        if self.conversation_id is None or text_data is None or len(text_data) > limit:
            await self._error("bad_frame", _BAD_FRAME)
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._error("bad_frame", _BAD_FRAME)
            return
        if not self.budget.take():
            client_id = content.get("client_id") if isinstance(content, dict) else None
            valid = isinstance(client_id, str) and _CLIENT_ID.match(client_id)
            await self._error("too_fast", _TOO_FAST, client_id=client_id if valid else None)
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "send":
            await self._on_send(content)
        elif kind == "retry":
            await self._on_retry()
        elif kind == "history":
            await self._send_history()
        else:
            await self._error("bad_frame", _BAD_FRAME)

    # --- handlers ----------------------------------------------------------------------

    async def _on_send(self, content: dict) -> None:
        client_id = content.get("client_id")
        text = content.get("text")
        if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
            await self._error("bad_frame", _BAD_FRAME)
            return
        if not isinstance(text, str):
            await self._error("bad_frame", _BAD_FRAME, client_id=client_id)
            return
        if self._replying():
            await self._refused(ChatRefused("in_flight"), client_id=client_id)
            return
        try:
            stored = await database_sync_to_async(message_store_user)(
                conversation_id=self.conversation_id, text=text, client_message_id=client_id
            )
        except ChatRefused as refused:
            await self._refused(refused, client_id=client_id)
            return
        await self.send_json(
            {
                "type": "ack",
                "client_id": client_id,
                "seq": stored.sequence,
                "duplicate": stored.duplicate,
            }
        )
        if stored.needs_reply:
            self._start_reply(stored.message_id)

    async def _on_retry(self) -> None:
        if self._replying():
            await self._refused(ChatRefused("in_flight"))
            return
        try:
            user_message_id = await database_sync_to_async(message_retry)(
                conversation_id=self.conversation_id
            )
        except ChatRefused as refused:
            await self._refused(refused)
            return
        self._start_reply(user_message_id)

    # --- the reply ---------------------------------------------------------------------

    def _replying(self) -> bool:
        return self.reply_task is not None and not self.reply_task.done()

    def _start_reply(self, user_message_id: int) -> None:
        # Its own task: the socket keeps reading frames (and refusing a second send) while
        # the model streams.
        self.reply_task = asyncio.create_task(self._relay_reply(user_message_id))

    async def _relay_reply(self, user_message_id: int) -> None:
        assert self.conversation_id is not None
        sequence = 0

        async def send_delta(html: str) -> None:
            await self.send_json({"type": "delta", "seq": sequence, "html": html})

        framer = DeltaFramer(send_delta, interval_s=settings.CHAT_FRAME_INTERVAL_S)
        try:
            stream = reply_stream(
                conversation_id=self.conversation_id, user_message_id=user_message_id
            )
            async with aclosing(stream) as events:
                async for event in events:
                    if event.kind == "start":
                        sequence = event.sequence
                        await self.send_json({"type": "start", "seq": sequence})
                    elif event.kind == "delta":
                        # Model output is untrusted: escape every piece (escaping is per
                        # character, so escaped pieces concatenate to the escaped whole).
                        await framer.push(escape(event.text))
                    elif event.kind == "end":
                        await framer.flush()
                        await self.send_json(self._end_frame(event))
        except ChatRefused as refused:
            await self._refused(refused)
        except Exception:  # CancelledError is not an Exception: a cancel propagates
            logger.exception("chat: reply relay failed in conversation %s", self.conversation_id)
            await self._error("internal", _INTERNAL)
        finally:
            framer.cancel()

    @staticmethod
    def _end_frame(event) -> dict[str, Any]:
        turns = event.turns
        frame: dict[str, Any] = {
            "type": "end",
            "seq": event.sequence,
            "status": event.status,
            "turns_used": turns.turns_used,
            "max_turns": turns.max_turns,
            "min_turns": turns.min_turns,
            "can_finish": turns.can_finish,
            "can_retry": event.status != Message.Status.COMPLETE,
        }
        if event.status != Message.Status.COMPLETE:
            frame["error_message"] = reply_error_message(event.error_code)
        return frame

    # --- frames ------------------------------------------------------------------------

    async def _send_history(self) -> None:
        snapshot = await database_sync_to_async(conversation_snapshot)(
            conversation_id=self.conversation_id
        )
        frame = history_frame(snapshot)
        # This socket's own reply counts as in flight even before its row exists.
        frame["in_flight"] = frame["in_flight"] or self._replying()
        await self.send_json(frame)

    async def _refused(self, refused: ChatRefused, *, client_id: str | None = None) -> None:
        await self._error(refused.code, refused.message, client_id=client_id)

    async def _error(self, code: str, message: str, *, client_id: str | None = None) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if client_id is not None:
            frame["client_id"] = client_id
        await self.send_json(frame)
