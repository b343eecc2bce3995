"""A client for OpenAI-compatible chat servers (vLLM, the scripted demo model).

Asynchronous only: it runs inside the consumer's event loop. All calls in one event loop
share one HTTP connection pool: building a fresh one costs ~25 ms of CPU (TLS context), which
at 50 simultaneous turns added over a second to every participant's wait. A stream closed
before its end closes its own connection, so the model server still sees a disconnect the
moment a participant leaves.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import ssl
import weakref
from collections.abc import AsyncIterator, Awaitable
from contextlib import suppress
from typing import Any

import httpx2  # the SDK's HTTP client (openai depends on it)
import openai

from studyapp.chat.llm.base import (
    PURPOSE_HEADER,
    ChatResult,
    EndpointConfig,
    LLMError,
    StreamEvent,
    Usage,
)

logger = logging.getLogger(__name__)

# Parameters the SDK takes as keyword arguments; anything else goes in the request body as is
# (vLLM accepts extra sampling parameters such as top_k).
_SDK_PARAMS = {
    "temperature",
    "top_p",
    "max_tokens",
    "max_completion_tokens",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "stop",
}

# Semaphores and connection pools are bound to an event loop, so keep one set per loop.
_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict] = (
    weakref.WeakKeyDictionary()
)
_http_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
    weakref.WeakKeyDictionary()
)


# SDK clients per loop and endpoint settings (they hold no connection of their own: they
# use the loop's pool above).
_sdk_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict] = (
    weakref.WeakKeyDictionary()
)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the trust store is the costly part of a new pool; do it once per process.
    return ssl.create_default_context()


def _shared_http_client() -> Any:
    """This loop's connection pool (concurrency is bounded per endpoint, not here)."""
    loop = asyncio.get_running_loop()
    client = _http_clients.get(loop)
    if client is None or client.is_closed:
        client = _http_clients[loop] = openai.DefaultAsyncHttpxClient(
            follow_redirects=False, verify=_ssl_context()
        )
    return client


def _endpoint_semaphore(config: EndpointConfig) -> asyncio.Semaphore:
    """At most max_concurrent_streams open streams per endpoint in this process."""
    per_loop = _semaphores.setdefault(asyncio.get_running_loop(), {})
    key = (config.endpoint_id, config.max_concurrent_streams)
    semaphore = per_loop.get(key)
    if semaphore is None:
        semaphore = per_loop[key] = asyncio.Semaphore(config.max_concurrent_streams)
    return semaphore


def sampling_kwargs(params: dict[str, Any] | None) -> dict[str, Any]:
    """SDK keyword arguments for sampling parameters; unknown ones travel in extra_body."""
    params = dict(params or {})
    kwargs = {k: v for k, v in params.items() if k in _SDK_PARAMS and v is not None}
    extra = {k: v for k, v in params.items() if k not in _SDK_PARAMS and v is not None}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


async def _before[T](deadline: float, awaitable: Awaitable[T]) -> T:
    """Await it, or raise TimeoutError once the loop's clock passes `deadline`.

    Each await of a stream gets its own timeout scope: a scope around the whole loop would
    also span the generator's yields, and fire into whatever the caller is awaiting then.
    """
    async with asyncio.timeout_at(deadline):
        return await awaitable


def status_error(status: int, detail: str) -> LLMError:
    """An HTTP error status as one LLMError code (as map_openai_error maps the SDK's)."""
    if status == 429:
        return LLMError("rate_limited", detail, status=status)
    if status >= 500:
        return LLMError("server_error", detail, status=status)
    return LLMError("bad_request", detail, status=status)


async def _error_detail(response: httpx2.Response) -> str:
    """An error response's message, short: the JSON body's error.message (OpenAI, vLLM),
    else its reason phrase. At most 64 KiB of the body is read."""
    body = b""
    with suppress(httpx2.HTTPError):
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > 65536:
                break
    message: Any = None
    with suppress(ValueError):
        data = json.loads(body)
        if isinstance(data, dict):
            error = data.get("error")
            message = error.get("message") if isinstance(error, dict) else error
            message = message or data.get("message") or data.get("detail")
    return str(message or response.reason_phrase or f"HTTP {response.status_code}")[:150]


def map_openai_error(exc: Exception) -> LLMError:
    """One LLMError, with a short code, for whatever the SDK raised."""
    if isinstance(exc, TimeoutError):
        return LLMError("timeout", "the reply exceeded its time limit")
    if isinstance(exc, openai.APITimeoutError):
        return LLMError("timeout", "request timed out")
    if isinstance(exc, openai.APIConnectionError):
        return LLMError("connection", "connection failed or broke")
    if isinstance(exc, openai.APIStatusError):
        detail = str(getattr(exc, "message", "") or type(exc).__name__)[:150]
        return status_error(exc.status_code, detail)
    if isinstance(exc, openai.APIError):
        # An error object inside an otherwise successful stream.
        return LLMError("server_error", str(exc.message)[:150])
    return LLMError("server_error", type(exc).__name__)


# --- the stream's events, read without the SDK's typed objects -----------------------------

DONE = object()  # the stream's "data: [DONE]"


async def _body_chunks(response: httpx2.Response) -> AsyncIterator[bytes]:
    """The response's body as it arrives; a broken or timed-out transport as an LLMError."""
    try:
        async for chunk in response.aiter_bytes():
            yield chunk
    except httpx2.TimeoutException as exc:
        raise LLMError("timeout", "the stream stalled") from exc
    except (httpx2.RequestError, ssl.SSLError) as exc:
        raise LLMError("connection", "connection failed or broke") from exc


class SSELines:
    """A server-sent event stream's lines (ending in LF, CRLF or CR), from chunks that
    may end anywhere, even inside a line.

    Split here rather than by httpx's iter_lines, which decodes text and re-buffers per
    line: a token is about one chunk, so the whole-reply deadline is awaited once per
    network read instead of once per line (each timeout scope costs about 10 us).
    """

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self._rest + chunk if self._rest else chunk
        lines = data.splitlines()
        # An unterminated last line waits for its end (a CR whose LF comes in the next
        # chunk gives one extra blank line, which is only an event boundary).
        self._rest = b"" if data.endswith((b"\n", b"\r")) or not lines else lines.pop()
        return lines

    def close(self) -> list[bytes]:
        """The last line, when the stream ended without a line ending."""
        rest, self._rest = self._rest, b""
        return [rest] if rest else []


def sse_data(line: bytes) -> dict | object | None:
    """One line of a server-sent event stream: a chunk's JSON, DONE, or None (a blank
    line, a comment, an event name). Chat completions send one-line data fields."""
    if not line.startswith(b"data:"):
        return None
    payload = line[5:].strip()
    if payload == b"[DONE]":
        return DONE
    if not payload:
        return None
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise LLMError("server_error", "malformed stream data") from exc
    if not isinstance(data, dict):
        raise LLMError("server_error", "malformed stream data")
    return data


def chunk_events(data: dict) -> list[StreamEvent]:
    """The StreamEvents of one chat.completion.chunk (text, finish reason, usage)."""
    error = data.get("error")
    if error:
        # An error object inside an otherwise successful stream (vLLM, OpenAI).
        message = error.get("message") if isinstance(error, dict) else error
        raise LLMError("server_error", str(message or "error in stream")[:150])
    events: list[StreamEvent] = []
    usage = data.get("usage")
    if isinstance(usage, dict):
        events.append(
            StreamEvent(
                usage=Usage(
                    prompt_tokens=usage.get("prompt_tokens"),
                    completion_tokens=usage.get("completion_tokens"),
                )
            )
        )
    for choice in data.get("choices") or ():
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if isinstance(content, str) and content:
            events.append(StreamEvent(delta=content))
        if choice.get("finish_reason"):
            events.append(StreamEvent(finish_reason=str(choice["finish_reason"])))
    return events


class OpenAICompatibleClient:
    def __init__(self, config: EndpointConfig) -> None:
        self.config = config

    def _sdk_client(self) -> openai.AsyncOpenAI:
        """This loop's SDK client for the endpoint's settings, built once: building one
        per turn cost the chat's hot path a few milliseconds each time."""
        config = self.config
        key = (config.base_url, config.api_key, config.timeout_s, str(config.purpose))
        per_loop = _sdk_clients.setdefault(asyncio.get_running_loop(), {})
        client = per_loop.get(key)
        http_client = _shared_http_client()
        if client is None or client._client is not http_client:
            # What the requests are for; real servers ignore the header (see
            # PURPOSE_HEADER). A participant's chat sends none.
            headers = {PURPOSE_HEADER: str(config.purpose)} if config.purpose else None
            client = per_loop[key] = openai.AsyncOpenAI(
                base_url=config.base_url,
                api_key=config.api_key,
                timeout=config.timeout_s,
                # A retry would silently double a participant's wait; failures are shown.
                max_retries=0,
                http_client=http_client,
                default_headers=headers,
            )
        return client

    async def list_models(self) -> list[str]:
        """The model ids the server lists (GET {base_url}/models), within the endpoint's
        timeout; an LLMError as for a chat otherwise."""
        try:
            async with asyncio.timeout(self.config.timeout_s):
                page = await self._sdk_client().models.list()
        except Exception as exc:  # the SDK's errors, a timeout, a body that is not a list
            raise map_openai_error(exc) from exc
        return [model.id for model in page.data]

    async def _acquire(self) -> asyncio.Semaphore:
        semaphore = _endpoint_semaphore(self.config)
        try:
            async with asyncio.timeout(self.config.timeout_s):
                await semaphore.acquire()
        except TimeoutError as exc:
            logger.warning("llm: endpoint %s saturated", self.config.endpoint_id)
            raise LLMError("busy", "too many concurrent streams in this process") from exc
        return semaphore

    async def stream_chat(
        self, messages: list[dict[str, str]], params: dict[str, Any] | None = None
    ) -> AsyncIterator[StreamEvent]:
        """Stream a reply: StreamEvents with text deltas, then the finish reason and usage.

        Use it with contextlib.aclosing(): when the consumer stops early or is cancelled,
        the upstream response is closed and the model server sees the disconnect.
        """
        loop = asyncio.get_running_loop()
        # One deadline for the whole reply: the SDK's timeout applies to each read, so a
        # server that drips a token every few seconds would otherwise never time out.
        deadline = loop.time() + self.config.timeout_s
        semaphore = await self._acquire()
        response: httpx2.Response | None = None
        try:
            try:
                # The request is built and sent here, not by the SDK: its request building
                # (typed-dict transforms, retries, headers) cost about as much CPU as the
                # turn's whole database transaction, on the event loop every turn waits
                # on; and its typed chunk objects cost most of the CPU a relayed token
                # took, so the stream's events are read here too (SSELines, sse_data).
                response = await _before(deadline, self._send_stream(messages, params))
                chunks = aiter(_body_chunks(response))
                splitter = SSELines()
                ended = False
                while not ended:
                    try:
                        lines = splitter.feed(await _before(deadline, anext(chunks)))
                    except StopAsyncIteration:
                        lines, ended = splitter.close(), True
                    for line in lines:
                        data = sse_data(line)
                        if data is None:
                            continue
                        if data is DONE:
                            ended = True
                            break
                        for event in chunk_events(data):
                            yield event
            except (TimeoutError, LLMError) as exc:
                error = exc if isinstance(exc, LLMError) else map_openai_error(exc)
                # Code and status only: a server's message may quote the prompt.
                logger.info(
                    "llm: endpoint %s stream failed: %s (HTTP %s)",
                    self.config.endpoint_id,
                    error.code,
                    error.status,
                )
                if error is exc:
                    raise
                raise error from exc
        finally:
            try:
                # Shielded: a second cancellation must not leave the connection open.
                if response is not None:
                    await asyncio.shield(response.aclose())
            finally:
                semaphore.release()

    async def _send_stream(
        self, messages: list[dict[str, str]], params: dict[str, Any] | None
    ) -> httpx2.Response:
        """POST /chat/completions with stream=true on this loop's connection pool: the
        open response, or an LLMError as map_openai_error names the SDK's (an HTTP error
        status with the server's own message, a connection or timeout failure)."""
        config = self.config
        kwargs = sampling_kwargs(params)
        extra = kwargs.pop("extra_body", {})
        body = {
            "model": config.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            **kwargs,
            **extra,
        }
        headers = {
            "Content-Type": "application/json",
            "Accept": "text/event-stream",
            "Authorization": f"Bearer {config.api_key}",
        }
        if config.purpose:
            # What the request is for; real servers ignore it (PURPOSE_HEADER). A
            # participant's chat sends none.
            headers[PURPOSE_HEADER] = str(config.purpose)
        http = _shared_http_client()
        request = http.build_request(
            "POST",
            config.base_url.rstrip("/") + "/chat/completions",
            content=json.dumps(body).encode(),
            headers=headers,
            timeout=config.timeout_s,
        )
        try:
            response = await http.send(request, stream=True)
        except httpx2.TimeoutException as exc:
            raise LLMError("timeout", "request timed out") from exc
        except (httpx2.RequestError, ssl.SSLError) as exc:
            raise LLMError("connection", "connection failed or broke") from exc
        if response.status_code >= 400:
            try:
                detail = await _error_detail(response)
            finally:
                await response.aclose()
            raise status_error(response.status_code, detail)
        return response

    async def complete(
        self, messages: list[dict[str, str]], params: dict[str, Any] | None = None
    ) -> ChatResult:
        """A whole reply in one response (no streaming), for batch evaluations."""
        semaphore = await self._acquire()
        client = self._sdk_client()
        try:
            try:
                completion = await asyncio.wait_for(
                    client.chat.completions.create(
                        model=self.config.model,
                        messages=messages,  # type: ignore[arg-type]
                        **sampling_kwargs(params),
                    ),
                    self.config.timeout_s,
                )
            except (openai.OpenAIError, TimeoutError) as exc:
                raise map_openai_error(exc) from exc
        finally:
            semaphore.release()
        choice = completion.choices[0] if completion.choices else None
        usage = completion.usage
        return ChatResult(
            text=(choice.message.content or "") if choice else "",
            finish_reason=choice.finish_reason if choice else None,
            usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage else None,
        )
