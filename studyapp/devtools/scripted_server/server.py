"""The scripted model over HTTP (aiohttp): the OpenAI routes, the control routes, and a
thread that runs it on a free loopback port."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
from typing import Any

from aiohttp import web

from studyapp.chat.llm import PURPOSE_HEADER
from studyapp.devtools.scripted_server.config import ScriptedConfig
from studyapp.devtools.scripted_server.replies import Plan, message_text, plan_reply
from studyapp.devtools.scripted_server.state import RequestRecord, ScriptedState

_ROLES = {"system", "developer", "user", "assistant", "tool"}
_ERROR_TYPES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    405: "MethodNotAllowedError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
    500: "InternalServerError",
    502: "BadGatewayError",
    503: "ServiceUnavailableError",
    504: "GatewayTimeoutError",
}


STATE_KEY = web.AppKey("state", ScriptedState)


class ScriptedError(Exception):
    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


def error_response(status: int, message: str, param: str | None = None) -> web.Response:
    body = {
        "error": {
            "message": message,
            "type": _ERROR_TYPES.get(status, "Error"),
            "param": param,
            "code": status,
        }
    }
    return web.json_response(body, status=status)


@web.middleware
async def _json_errors(request: web.Request, handler):
    try:
        return await handler(request)
    except ScriptedError as exc:
        return error_response(exc.status, exc.message, exc.param)
    except web.HTTPException as exc:
        if exc.status >= 400:
            return error_response(exc.status, exc.reason)
        raise


def _validated_request(body: Any, config: ScriptedConfig) -> tuple[list[dict], int | None, dict]:
    if not isinstance(body, dict):
        raise ScriptedError(400, "The request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ScriptedError(400, "'messages' must be a non-empty list.", "messages")
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            raise ScriptedError(400, "Each message needs a valid 'role'.", "messages")
        content = m.get("content")
        if not (content is None or isinstance(content, str | list)):
            raise ScriptedError(400, "Message 'content' must be a string or a list.", "messages")
    model = body.get("model")
    if model is not None and model != config.model and model not in config.personas:
        raise ScriptedError(404, f"The model `{model}` does not exist.", "model")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        raise ScriptedError(400, "'max_tokens' must be a positive integer.", "max_tokens")
    if body.get("n", 1) != 1:
        raise ScriptedError(400, "Only n=1 is supported.", "n")
    stream_options = body.get("stream_options") or {}
    if not isinstance(stream_options, dict):
        raise ScriptedError(400, "'stream_options' must be an object.", "stream_options")
    if stream_options and not body.get("stream"):
        raise ScriptedError(
            400, "Stream options can only be defined when `stream=True`.", "stream_options"
        )
    return messages, max_tokens, stream_options


def _chunk(record: RequestRecord, model: str, created: int, choices: list, usage_key: bool):
    chunk: dict[str, Any] = {
        "id": record.request_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
    }
    if usage_key:
        chunk["usage"] = None
    return chunk


def _sse(payload: dict | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    state: ScriptedState = request.app[STATE_KEY]
    # In flight from the request's arrival to its handler's end: for a reply in one
    # response, before the client can have read it; for a stream, once its end is written.
    state.request_started()
    try:
        return await _answer(request, state)
    finally:
        state.request_ended()


async def _answer(request: web.Request, state: ScriptedState) -> web.StreamResponse:
    config = state.config
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ScriptedError(400, "The request body is not valid JSON.") from exc
    stream = bool(body.get("stream")) if isinstance(body, dict) else False
    record = state.new_record(stream=stream)
    record.purpose = request.headers.get(PURPOSE_HEADER)
    if isinstance(body, dict):
        record.params = {k: v for k, v in body.items() if k not in ("messages", "model")}
    try:
        messages, max_tokens, stream_options = _validated_request(body, config)
    except ScriptedError as exc:
        record.status = exc.status
        record.ended_at = time.monotonic()
        raise
    config = config.for_request(model=body.get("model") or config.model, purpose=record.purpose)
    record.model = config.model
    record.max_tokens = max_tokens
    if config.record_messages:
        record.messages = [
            {"role": m["role"], "content": message_text(m.get("content"))} for m in messages
        ]
    plan = plan_reply(messages, config, max_tokens)
    if plan.fail_status is not None:
        record.status = plan.fail_status
        record.ended_at = time.monotonic()
        return error_response(plan.fail_status, f"Injected failure ({plan.fail_status}).")
    if not stream:
        return await _complete(request, record, plan, config.model)
    return await _stream(request, record, plan, config.model, stream_options)


async def _complete(
    request: web.Request, record: RequestRecord, plan: Plan, model: str
) -> web.Response:
    try:
        await asyncio.sleep(plan.ttft_s + plan.token_delay_s * max(len(plan.tokens) - 1, 0))
    except asyncio.CancelledError:
        record.aborted = True
        record.ended_at = time.monotonic()
        raise
    text = "".join(plan.tokens)
    now = time.monotonic()
    record.first_token_at = now
    record.tokens_sent = len(plan.tokens)
    record.finish_reason = plan.finish_reason
    record.completed = True
    record.ended_at = now
    return web.json_response(
        {
            "id": record.request_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": plan.finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": plan.prompt_tokens,
                "completion_tokens": len(plan.tokens),
                "total_tokens": plan.prompt_tokens + len(plan.tokens),
            },
        }
    )


async def _stream(
    request: web.Request, record: RequestRecord, plan: Plan, model: str, stream_options: dict
) -> web.StreamResponse:
    include_usage = bool(stream_options.get("include_usage"))
    created = int(time.time())
    response = web.StreamResponse(
        status=200,
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
    )
    # Headers go out at once, as vLLM does; the first token follows after the TTFT.
    await response.prepare(request)
    try:
        await asyncio.sleep(plan.ttft_s)
        role = {"index": 0, "delta": {"role": "assistant", "content": ""}}
        role |= {"logprobs": None, "finish_reason": None}
        await response.write(_sse(_chunk(record, model, created, [role], include_usage)))
        for i, token in enumerate(plan.tokens):
            if plan.cut_after is not None and i >= plan.cut_after:
                record.cut = True
                record.ended_at = time.monotonic()
                # close() flushes what was written, then drops the connection without the
                # end of the chunked body: the client sees a broken stream, as on a crash.
                if request.transport is not None:
                    request.transport.close()
                return response
            if i > 0 and plan.token_delay_s:
                await asyncio.sleep(plan.token_delay_s)
            choice = {"index": 0, "delta": {"content": token}, "logprobs": None}
            choice["finish_reason"] = None
            await response.write(_sse(_chunk(record, model, created, [choice], include_usage)))
            now = time.monotonic()
            if record.first_token_at is None:
                record.first_token_at = now
            record.token_times.append(now)
            record.tokens_sent += 1
        final = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": plan.finish_reason}
        await response.write(_sse(_chunk(record, model, created, [final], include_usage)))
        record.finish_reason = plan.finish_reason
        if include_usage:
            usage_chunk = _chunk(record, model, created, [], False)
            usage_chunk["usage"] = {
                "prompt_tokens": plan.prompt_tokens,
                "completion_tokens": len(plan.tokens),
                "total_tokens": plan.prompt_tokens + len(plan.tokens),
            }
            await response.write(_sse(usage_chunk))
        await response.write(_sse("[DONE]"))
        await response.write_eof()
        record.completed = True
    except (asyncio.CancelledError, ConnectionResetError):
        # The client closed the connection (handler cancellation) or it broke under us.
        record.aborted = not record.completed
        raise
    finally:
        record.ended_at = record.ended_at or time.monotonic()
    return response


async def _models(request: web.Request) -> web.Response:
    state: ScriptedState = request.app[STATE_KEY]
    return web.json_response(
        {
            "object": "list",
            "data": [
                {
                    "id": state.config.model,
                    "object": "model",
                    "created": 0,
                    "owned_by": "studyapp-scripted",
                    "root": state.config.model,
                    "parent": None,
                    "max_model_len": 8192,
                }
            ],
        }
    )


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].stats())


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"ok": True})


async def _configure(request: web.Request) -> web.Response:
    try:
        changes = await request.json()
    except json.JSONDecodeError as exc:
        raise ScriptedError(400, "The request body is not valid JSON.") from exc
    if not isinstance(changes, dict):
        raise ScriptedError(400, "The request body must be a JSON object.")
    try:
        config = request.app[STATE_KEY].configure(**changes)
    except (TypeError, ValueError) as exc:
        raise ScriptedError(400, str(exc)) from exc
    return web.json_response(dataclasses.asdict(config))


def make_app(state: ScriptedState) -> web.Application:
    app = web.Application(middlewares=[_json_errors])
    app[STATE_KEY] = state
    app.router.add_post("/v1/chat/completions", _chat_completions)
    app.router.add_get("/v1/models", _models)
    app.router.add_get("/_scripted/stats", _stats)
    app.router.add_post("/_scripted/reset", _reset)
    app.router.add_post("/_scripted/config", _configure)
    return app


async def start_site(state: ScriptedState, host: str, port: int) -> tuple[web.AppRunner, int]:
    # handler_cancellation: a client that disconnects cancels its handler at once, so the
    # stats show the abort without waiting for the next token to fail.
    runner = web.AppRunner(make_app(state), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets if site._server is not None else []  # type: ignore[attr-defined]
    bound_port = sockets[0].getsockname()[1] if sockets else port
    return runner, bound_port


class ScriptedServerThread:
    """The scripted server on 127.0.0.1 (a free port) in a thread with its own event loop."""

    def __init__(self, config: ScriptedConfig | None = None, host: str = "127.0.0.1") -> None:
        self.state = ScriptedState(config or ScriptedConfig(record_messages=True))
        self.host = host
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("the scripted server is not running")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def model(self) -> str:
        return self.state.config.model

    def start(self) -> ScriptedServerThread:
        self._thread = threading.Thread(target=self._run, name="scripted-model", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("the scripted server did not start")
        if self._error is not None:
            raise RuntimeError("the scripted server failed to start") from self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._runner, self.port = loop.run_until_complete(start_site(self.state, self.host, 0))
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self.port = None

    def stats(self) -> dict:
        return self.state.stats()

    def requests(self) -> list[dict]:
        return self.state.stats()["requests"]

    def reset(self) -> None:
        self.state.reset()

    def configure(self, **changes: Any) -> ScriptedConfig:
        return self.state.configure(**changes)

    def __enter__(self) -> ScriptedServerThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
