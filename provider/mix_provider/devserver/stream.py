"""``GET /stream?sessionId=``: the session's events as server-sent events.

Follows ``sse.go`` ``HandleSSEStream`` and ``sse_events.go`` ``SSEWriter``: the first
event is ``connected``; then whatever the session publishes from that moment on (no
buffering, no ``Last-Event-ID`` replay), plus ``heartbeat`` events. Event ids count per
connection from 1; ``retry`` is 30000 ms, 45000 for heartbeats and 750 for errors
(``getRetryInterval``: ``500 * 1.5^1``). An unknown session gets 200 and one ``error``
event (``Invalid session ID: <id>``), then the stream closes.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response

from mix_provider.devserver.backend import MixBackend, blocking
from mix_provider.devserver.bus import CLOSE, EventBus
from mix_provider.devserver.errors import ApiError

RETRY_MS = 30_000
HEARTBEAT_RETRY_MS = 45_000
ERROR_RETRY_MS = 750
HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "Cache-Control",
}
"""The headers ``sse.go`` ``HandleSSEStream`` sets, and only those."""

Writer = Callable[[str, dict[str, Any]], ServerSentEvent]


def sse_writer() -> Writer:
    """Return a per-connection writer numbering its events from 1, like ``SSEWriter``."""
    ids = itertools.count(1)

    def write(name: str, data: dict[str, Any]) -> ServerSentEvent:
        retry = {"heartbeat": HEARTBEAT_RETRY_MS, "error": ERROR_RETRY_MS}.get(name, RETRY_MS)
        body = json.dumps(data, separators=(",", ":"))
        return ServerSentEvent(id=str(next(ids)), event=name, data=body, retry=retry, sep="\n")

    return write


async def _events(bus: EventBus, session_id: str, write: Writer) -> AsyncIterator[ServerSentEvent]:
    """Yield ``connected`` then the session's events until the stream is closed."""
    queue = bus.subscribe(session_id)
    try:
        yield write("connected", {"sessionId": session_id})
        while (event := await queue.get()) is not CLOSE:
            yield write(event.name, event.data)
    finally:
        bus.unsubscribe(session_id, queue)


async def _invalid_session(session_id: str, write: Writer) -> AsyncIterator[ServerSentEvent]:
    """Yield the one ``error`` event the real server sends for an unknown session."""
    yield write("error", {"error": f"Invalid session ID: {session_id}"})


def _sse_response(events: AsyncIterator[ServerSentEvent], **options: Any) -> EventSourceResponse:
    """Return an SSE response with exactly :data:`HEADERS` (sse-starlette's own
    ``X-Accel-Buffering: no`` is dropped: the real server does not send it)."""
    response = EventSourceResponse(events, headers=HEADERS, sep="\n", **options)
    del response.headers["X-Accel-Buffering"]
    return response


async def stream_events(request: Request) -> Response:
    """Open the SSE stream of a session (a bare 400 without ``sessionId``, after the SSE headers
    were set, like ``HandleSSEStream``)."""
    backend: MixBackend = request.app.state.backend
    session_id = request.query_params.get("sessionId", "")
    if not session_id:
        return Response(status_code=400, headers=HEADERS)
    write = sse_writer()
    try:
        await blocking(backend.store.get_session, session_id)
    except ApiError:
        return _sse_response(_invalid_session(session_id, write))
    return _sse_response(
        _events(backend.bus, session_id, write),
        ping=backend.settings.heartbeat_s,
        ping_message_factory=lambda: write("heartbeat", {"type": "ping"}),
    )
