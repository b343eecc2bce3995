"""Streamed downloads (exports), the same under WSGI and ASGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse

_END = object()


def _next_part(parts: Iterator[bytes]):
    return next(parts, _END)


async def _parts_async(parts: Iterator[bytes]) -> AsyncIterator[bytes]:
    # Under ASGI, Django reads a synchronous streaming iterator into a list before sending
    # it, which would hold a whole export in memory. Pulling one part at a time through
    # sync_to_async keeps it streamed; thread_sensitive keeps every pull on the request's
    # thread, so the database cursor stays on its connection.
    try:
        while True:
            part = await sync_to_async(_next_part, thread_sensitive=True)(parts)
            if part is _END:
                return
            yield part
    finally:
        close = getattr(parts, "close", None)
        if close is not None:
            await sync_to_async(close, thread_sensitive=True)()


def streaming_attachment(
    request, parts: Iterator[bytes], *, content_type: str, filename: str
) -> StreamingHttpResponse:
    """A download of `parts`, streamed (never held whole in memory), not cached."""
    content = _parts_async(parts) if isinstance(request, ASGIRequest) else parts
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
