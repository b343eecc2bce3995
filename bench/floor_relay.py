"""The floor for bench/relay.py: a chat turn without studyapp's layers.

A raw ASGI app (no Django, no Channels) that the relay bench serves with the same uvicorn
and the same options as studyapp, and drives with the same client code. It speaks the
chat socket's frame shapes closely enough for that client (studyapp/chat/consumers.py):

  connect  -> history {"messages": [], ...}
  send     -> ack {"client_id", "seq", "duplicate": false}   once the message is stored
           -> start {"seq"}, delta {"seq", "html"} ..., end {"seq", "status", ...}

and does the same work a turn needs, in the plainest way that still does it:

- before the ack, one transaction on the same database: insert the user message, select
  the conversation (FOR UPDATE on PostgreSQL), insert the streaming assistant row; after
  the stream, one update of that row (text, status, tokens): four statements per turn;
  PostgreSQL through async psycopg and a pool of persistent connections (the sizes of
  studyapp's Django pool, DB_POOL_MIN_SIZE / DB_POOL_MAX_SIZE), SQLite through the
  sqlite3 module on one persistent connection in one thread (WAL, BEGIN IMMEDIATE, as
  studyapp's settings);
- one shared openai.AsyncOpenAI client for the process, streaming chat.completions with
  stream_options include_usage, the arm's sampling parameters as the bench sets them;
- the deltas escaped and coalesced into frames by studyapp's own DeltaFramer
  (studyapp/chat/framing.py, loaded from its file so that no Django is imported), with
  the same interval (CHAT_FRAME_INTERVAL_S).

Environment: FLOOR_MODEL_URL (the model's base URL, ".../v1"), FLOOR_MODEL (model name),
DATABASE_URL (PostgreSQL) or else SQLITE_PATH, CHAT_FRAME_INTERVAL_S.

    uvicorn bench.floor_relay:app --lifespan off
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import importlib.util
import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import openai

ROOT = Path(__file__).resolve().parent.parent


def _load_framer() -> type:
    # The module by its file: importing the studyapp package would pull in Celery and
    # Django settings, which the floor is without.
    path = ROOT / "studyapp" / "chat" / "framing.py"
    spec = importlib.util.spec_from_file_location("floor_framing", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DeltaFramer


DeltaFramer = _load_framer()

MODEL_URL = os.environ.get("FLOOR_MODEL_URL", "http://127.0.0.1:8001/v1")
MODEL = os.environ.get("FLOOR_MODEL", "scripted-demo")
SYSTEM_PROMPT = os.environ.get("FLOOR_SYSTEM_PROMPT", "You are a helpful assistant.")
SAMPLING = {"temperature": 0.8, "top_p": 0.9, "max_tokens": 256}  # the bench arm's
FRAME_INTERVAL_S = float(os.environ.get("CHAT_FRAME_INTERVAL_S") or 0.025)
DATABASE_URL = os.environ.get("DATABASE_URL", "")
SQLITE_PATH = os.environ.get("SQLITE_PATH", str(ROOT / "db.sqlite3"))

TURNS = {"turns_used": 1, "max_turns": 20, "min_turns": 1, "can_finish": True}

# --- the database ---------------------------------------------------------------------

PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS bench_floor_conversation (
    id bigserial PRIMARY KEY, token text UNIQUE NOT NULL, created_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS bench_floor_message (
    id bigserial PRIMARY KEY,
    conversation_id bigint NOT NULL REFERENCES bench_floor_conversation (id),
    role text NOT NULL, text text NOT NULL, status text NOT NULL, client_id text,
    completion_tokens integer, created_at timestamptz NOT NULL, completed_at timestamptz
);
CREATE INDEX IF NOT EXISTS bench_floor_message_conv ON bench_floor_message (conversation_id);
"""
SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS bench_floor_conversation (
    id integer PRIMARY KEY, token text UNIQUE NOT NULL, created_at text NOT NULL
);
CREATE TABLE IF NOT EXISTS bench_floor_message (
    id integer PRIMARY KEY,
    conversation_id integer NOT NULL REFERENCES bench_floor_conversation (id),
    role text NOT NULL, text text NOT NULL, status text NOT NULL, client_id text,
    completion_tokens integer, created_at text NOT NULL, completed_at text
);
CREATE INDEX IF NOT EXISTS bench_floor_message_conv ON bench_floor_message (conversation_id);
"""


class PostgresStore:
    def __init__(self, url: str) -> None:
        from psycopg_pool import AsyncConnectionPool

        self.pool = AsyncConnectionPool(
            url,
            min_size=int(os.environ.get("DB_POOL_MIN_SIZE") or 2),
            max_size=int(os.environ.get("DB_POOL_MAX_SIZE") or 20),
            timeout=float(os.environ.get("DB_POOL_TIMEOUT_S") or 10),
            kwargs={"autocommit": True},
            open=False,
        )
        self._opened: asyncio.Lock | None = None
        self._open = False

    async def _ready(self) -> None:
        if self._open:
            return
        if self._opened is None:
            self._opened = asyncio.Lock()
        async with self._opened:
            if not self._open:
                await self.pool.open(wait=True)
                async with self.pool.connection() as conn:
                    await conn.execute(PG_SCHEMA)
                self._open = True

    async def conversation(self, token: str) -> int:
        await self._ready()
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "INSERT INTO bench_floor_conversation (token, created_at) VALUES (%s, now()) "
                "ON CONFLICT (token) DO UPDATE SET token = EXCLUDED.token RETURNING id",
                (token,),
            )
            return (await cur.fetchone())[0]

    async def begin_turn(self, conversation_id: int, text: str, client_id: str) -> tuple:
        """Three statements in one transaction: the user row, the conversation, the
        assistant row. Returns (user id, assistant id)."""
        await self._ready()
        async with self.pool.connection() as conn, conn.transaction():
            cur = await conn.execute(
                "INSERT INTO bench_floor_message (conversation_id, role, text, status, "
                "client_id, created_at) VALUES (%s, 'user', %s, 'complete', %s, now()) "
                "RETURNING id",
                (conversation_id, text, client_id),
            )
            user_id = (await cur.fetchone())[0]
            cur = await conn.execute(
                "SELECT id, token FROM bench_floor_conversation WHERE id = %s FOR UPDATE",
                (conversation_id,),
            )
            await cur.fetchone()
            cur = await conn.execute(
                "INSERT INTO bench_floor_message (conversation_id, role, text, status, "
                "created_at) VALUES (%s, 'assistant', '', 'streaming', now()) RETURNING id",
                (conversation_id,),
            )
            return user_id, (await cur.fetchone())[0]

    async def finish_turn(self, message_id: int, text: str, status: str, tokens: int) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE bench_floor_message SET text = %s, status = %s, completion_tokens = %s,"
                " completed_at = now() WHERE id = %s",
                (text, status, tokens, message_id),
            )


class SqliteStore:
    """One connection in one thread: SQLite has one writer anyway."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="floor-db")
        self.db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self.db is None:
            db = sqlite3.connect(self.path, timeout=20, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SQLITE_SCHEMA)
            self.db = db
        return self.db

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _conversation(self, token: str) -> int:
        db = self._conn()
        db.execute(
            "INSERT OR IGNORE INTO bench_floor_conversation (token, created_at) "
            "VALUES (?, datetime('now'))",
            (token,),
        )
        return db.execute(
            "SELECT id FROM bench_floor_conversation WHERE token = ?", (token,)
        ).fetchone()[0]

    def _begin_turn(self, conversation_id: int, text: str, client_id: str) -> tuple:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            user_id = db.execute(
                "INSERT INTO bench_floor_message (conversation_id, role, text, status, "
                "client_id, created_at) VALUES (?, 'user', ?, 'complete', ?, datetime('now'))",
                (conversation_id, text, client_id),
            ).lastrowid
            db.execute(
                "SELECT id, token FROM bench_floor_conversation WHERE id = ?", (conversation_id,)
            ).fetchone()
            reply_id = db.execute(
                "INSERT INTO bench_floor_message (conversation_id, role, text, status, "
                "created_at) VALUES (?, 'assistant', '', 'streaming', datetime('now'))",
                (conversation_id,),
            ).lastrowid
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return user_id, reply_id

    def _finish_turn(self, message_id: int, text: str, status: str, tokens: int) -> None:
        self._conn().execute(
            "UPDATE bench_floor_message SET text = ?, status = ?, completion_tokens = ?, "
            "completed_at = datetime('now') WHERE id = ?",
            (text, status, tokens, message_id),
        )

    async def conversation(self, token: str) -> int:
        return await self._run(self._conversation, token)

    async def begin_turn(self, conversation_id: int, text: str, client_id: str) -> tuple:
        return await self._run(self._begin_turn, conversation_id, text, client_id)

    async def finish_turn(self, message_id: int, text: str, status: str, tokens: int) -> None:
        await self._run(self._finish_turn, message_id, text, status, tokens)


STORE = PostgresStore(DATABASE_URL) if DATABASE_URL else SqliteStore(SQLITE_PATH)

# --- the model ------------------------------------------------------------------------

_client: openai.AsyncOpenAI | None = None


def model_client() -> openai.AsyncOpenAI:
    """One client (one connection pool) for the whole process."""
    global _client
    if _client is None:
        _client = openai.AsyncOpenAI(
            base_url=MODEL_URL, api_key="floor", timeout=30, max_retries=0
        )
    return _client


# --- the socket -----------------------------------------------------------------------


async def _send_json(send, frame: dict[str, Any]) -> None:
    await send({"type": "websocket.send", "text": json.dumps(frame)})


async def _turn(send, conversation_id: int, content: dict) -> None:
    client_id = str(content.get("client_id") or "")
    text = str(content.get("text") or "")
    user_id, reply_id = await STORE.begin_turn(conversation_id, text, client_id)
    await _send_json(
        send, {"type": "ack", "client_id": client_id, "seq": user_id, "duplicate": False}
    )
    seq = reply_id
    await _send_json(send, {"type": "start", "seq": seq})

    async def send_delta(piece: str) -> None:
        await _send_json(send, {"type": "delta", "seq": seq, "html": piece})

    framer = DeltaFramer(send_delta, interval_s=FRAME_INTERVAL_S)
    parts: list[str] = []
    tokens = 0
    status = "interrupted"
    try:
        stream = await model_client().chat.completions.create(
            model=MODEL,
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": text},
            ],
            stream=True,
            stream_options={"include_usage": True},
            **SAMPLING,
        )
        async with stream:
            async for chunk in stream:
                if chunk.usage is not None:
                    tokens = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    if choice.delta is not None and choice.delta.content:
                        parts.append(choice.delta.content)
                        await framer.push(html.escape(choice.delta.content))
        await framer.flush()
        status = "complete"
    except openai.OpenAIError:
        status = "error"
    finally:
        framer.cancel()
        await asyncio.shield(STORE.finish_turn(reply_id, "".join(parts), status, tokens))
    frame = {"type": "end", "seq": seq, "status": status, **TURNS}
    frame |= {"can_retry": status != "complete", "technical_exit": False}
    await _send_json(send, frame)


async def _socket(scope, receive, send) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    # /ws/p/<token>/tasks/<position>/chat/ as studyapp's route; the token names the
    # conversation.
    parts = scope["path"].strip("/").split("/")
    token = parts[2] if len(parts) > 2 else "anonymous"
    conversation_id = await STORE.conversation(token)
    await send({"type": "websocket.accept"})
    await _send_json(
        send,
        {
            "type": "history",
            "messages": [],
            **TURNS,
            "can_retry": False,
            "in_flight": False,
            "active": True,
            "technical_exit": False,
        },
    )
    task: asyncio.Task | None = None
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if message["type"] != "websocket.receive" or not message.get("text"):
                continue
            try:
                content = json.loads(message["text"])
            except ValueError:
                content = None
            if not isinstance(content, dict) or content.get("type") != "send":
                await _send_json(send, {"type": "error", "code": "bad_frame", "message": ""})
                continue
            if task is not None and not task.done():
                await _send_json(send, {"type": "error", "code": "in_flight", "message": ""})
                continue
            # Its own task, as the consumer's relay: the socket keeps reading meanwhile.
            task = asyncio.create_task(_turn(send, conversation_id, content))
    finally:
        if task is not None and not task.done():
            task.cancel()


async def _http(scope, receive, send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok\n"})


async def app(scope, receive, send) -> None:
    if scope["type"] == "websocket":
        await _socket(scope, receive, send)
    elif scope["type"] == "http":
        await _http(scope, receive, send)
    elif scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
