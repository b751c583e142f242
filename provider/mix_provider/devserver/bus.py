"""Per-session event buses fanning SSE events out to subscriber queues.

Like the real server, nothing is buffered or replayed: a subscriber only receives
events published after it subscribed. Event ids are not assigned here: the real
``SSEWriter`` counts them per connection (``sse_events.go`` ``WriteEvent``).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

_QUEUE_LIMIT = 10_000


@dataclass(frozen=True)
class Event:
    """One SSE event: ``event`` name and JSON-able ``data`` (published exactly as given)."""

    name: str
    data: dict[str, Any]


CLOSE = Event(name="", data={})
"""Sentinel put in a subscriber's queue to end its stream."""


class EventBus:
    """Fans events out to the subscribers of each session."""

    def __init__(self) -> None:
        self._subscribers: defaultdict[str, set[asyncio.Queue[Event]]] = defaultdict(set)

    def subscribe(self, session_id: str) -> asyncio.Queue[Event]:
        """Return a new queue receiving the session's events from now on."""
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=_QUEUE_LIMIT)
        self._subscribers[session_id].add(queue)
        return queue

    def unsubscribe(self, session_id: str, queue: asyncio.Queue[Event]) -> None:
        """Stop delivering events to ``queue``."""
        queues = self._subscribers.get(session_id)
        if queues is not None:
            queues.discard(queue)
            if not queues:
                del self._subscribers[session_id]

    def publish(self, session_id: str, name: str, data: dict[str, Any]) -> None:
        """Send an event to every current subscriber of the session.

        A subscriber that fell ``_QUEUE_LIMIT`` events behind is disconnected.
        """
        event = Event(name=name, data=data)
        for queue in list(self._subscribers.get(session_id, ())):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self.close_queue(session_id, queue)

    def close_queue(self, session_id: str, queue: asyncio.Queue[Event]) -> None:
        """End one subscriber's stream."""
        self.unsubscribe(session_id, queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(CLOSE)

    def close_session(self, session_id: str) -> None:
        """End every stream of a session (it was deleted)."""
        for queue in list(self._subscribers.get(session_id, ())):
            self.close_queue(session_id, queue)
