"""``GET /stream?sessionId=``: the session's events as server-sent events.

First event is ``connected``; then whatever the session publishes from that moment on
(no buffering, no ``Last-Event-ID`` replay), plus ``heartbeat`` events.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from mix_provider.devserver.backend import MixBackend, blocking
from mix_provider.devserver.bus import CLOSE, Event, EventBus

RETRY_MS = 3000


def to_sse(event: Event) -> ServerSentEvent:
    """Return the wire form of an event: ``id``, ``event``, one-line JSON ``data``, ``retry``."""
    data = json.dumps(event.data, separators=(",", ":"))
    return ServerSentEvent(id=str(event.id), event=event.name, data=data, retry=RETRY_MS, sep="\n")


async def _events(bus: EventBus, session_id: str) -> AsyncIterator[ServerSentEvent]:
    """Yield ``connected`` then the session's events until the stream is closed."""
    queue = bus.subscribe(session_id)
    try:
        yield to_sse(Event(bus.next_id(), "connected", {"type": "connected", "sessionId": session_id}))
        while (event := await queue.get()) is not CLOSE:
            yield to_sse(event)
    finally:
        bus.unsubscribe(session_id, queue)


async def stream_events(request: Request) -> Response:
    """Open the SSE stream of a session (404 unknown session, plain 400 without id).

    :raises ApiError: 404 when the session does not exist.
    """
    backend: MixBackend = request.app.state.backend
    session_id = request.query_params.get("sessionId", "")
    if not session_id:
        return PlainTextResponse("sessionId query parameter is required\n", status_code=400)
    await blocking(backend.store.get_session, session_id)
    bus = backend.bus

    def heartbeat() -> ServerSentEvent:
        return to_sse(Event(bus.next_id(), "heartbeat", {"type": "ping"}))

    return EventSourceResponse(
        _events(bus, session_id),
        ping=backend.settings.heartbeat_s,
        ping_message_factory=heartbeat,
        sep="\n",
    )
