"""Server-sent events of ``GET /stream``: the event model and the pure verdict on one event.

A waiter reads events through :class:`StreamEvent` and asks :func:`judge_event` whether a run ended;
neither decides anything about the transcript (see :mod:`.turns`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mix_provider.errors import MixNotFoundError

#: The events a supervisor reads (:mod:`~mix_provider.client.supervisor`): requests, tool progress, the end.
SUPERVISED_EVENTS = frozenset(
    {"permission", "notification", "tool_use_start", "tool_execution_start", "tool_execution_complete", "complete"}
)
#: The events a waiter acts on: only their data is decoded; the others (content and thinking deltas,
#: the bulk of a stream, heartbeats) are told apart by name and keep ``{}``.
DECODED_EVENTS = frozenset({"connected", "complete", "error", "user_message_created"}) | SUPERVISED_EVENTS


@dataclass(frozen=True)
class StreamEvent:
    """One SSE event: its name, its JSON data (``{}`` when not JSON, or not in :data:`DECODED_EVENTS`) and its id."""

    event: str
    data: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    @classmethod
    def parse(cls, event: str, data: str, event_id: str | None) -> StreamEvent:
        """Build an event from the wire fields; non-object data is kept under ``"raw"``."""
        if event not in DECODED_EVENTS:
            return cls(event=event or "message", id=event_id or None)
        try:
            payload = json.loads(data) if data else {}
        except ValueError:
            payload = {"raw": data}
        if not isinstance(payload, dict):
            payload = {"raw": payload}
        return cls(event=event or "message", data=payload, id=event_id or None)

    @property
    def nested(self) -> bool:
        """Whether the event belongs to a sub-agent (it carries ``parentToolCallId``)."""
        return bool(self.data.get("parentToolCallId"))


@dataclass(frozen=True)
class StreamVerdict:
    """What one SSE event means for a waiter: keep reading, reply finished, or run failed."""

    done: bool = False
    error: str | None = None
    message_id: str | None = None


CONTINUE = StreamVerdict()


def judge_event(event: StreamEvent) -> StreamVerdict:
    """Judge one event: the first top-level ``complete`` finishes, a final top-level ``error`` fails.

    Nested sub-agent events and event names this client does not know are ignored.
    """
    if event.nested:
        return CONTINUE
    if event.event == "complete":
        return StreamVerdict(done=True, message_id=event.data.get("messageId"))
    if event.event == "error" and not _will_retry(event.data):
        return StreamVerdict(done=True, error=str(event.data.get("error") or event.data or "unknown error"))
    return CONTINUE


#: What the real server sends instead of ``connected`` when the session does not exist (``sse.go``).
UNKNOWN_SESSION_PREFIX = "Invalid session ID"


def stream_refusal(session_id: str, event: StreamEvent) -> MixNotFoundError | None:
    """The error to raise when the stream answered an ``error`` instead of ``connected``, if it is one.

    The real server answers ``GET /stream`` for an unknown session with 200 and one ``error`` event.
    """
    text = str(event.data.get("error") or "")
    if event.event == "error" and text.startswith(UNKNOWN_SESSION_PREFIX):
        message = f"Session with ID '{session_id}' not found (the stream said: {text})"
        return MixNotFoundError(404, "not_found", message, "GET", "/stream")
    return None


def _will_retry(data: dict[str, Any]) -> bool:
    """An ``error`` event announcing a retry (``attempt`` < ``maxAttempts``) does not end the run."""
    attempt, most = data.get("attempt"), data.get("maxAttempts")
    return isinstance(attempt, int) and isinstance(most, int) and attempt < most
