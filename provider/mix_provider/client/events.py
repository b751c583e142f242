"""Server-sent events of ``GET /stream`` and the pure verdict on whether a reply is finished.

The sync and async waiters feed events (or a polled transcript) to these functions and act on the
verdict; neither decides anything by itself.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from mix_provider.models import ExportSession, FinishReason

#: Finish reasons that leave the turn unfinished (the agent goes on after a tool).
NON_TERMINAL_FINISH = frozenset({FinishReason.TOOL_USE.value})


@dataclass(frozen=True)
class StreamEvent:
    """One SSE event: its name, its JSON data (``{}`` when not JSON) and its id."""

    event: str
    data: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    @classmethod
    def parse(cls, event: str, data: str, event_id: str | None) -> StreamEvent:
        """Build an event from the wire fields; non-object data is kept under ``"raw"``."""
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


def _will_retry(data: dict[str, Any]) -> bool:
    """An ``error`` event announcing a retry (``attempt`` < ``maxAttempts``) does not end the run."""
    attempt, most = data.get("attempt"), data.get("maxAttempts")
    return isinstance(attempt, int) and isinstance(most, int) and attempt < most


@dataclass(frozen=True)
class Reply:
    """The assistant's answer to one user message, read from the transcript."""

    message_id: str
    text: str
    finish_reason: str | None
    tool_calls: int


def finished_reply(export: ExportSession, baseline_user_messages: int) -> Reply | None:
    """The reply to the message sent after ``baseline_user_messages`` user messages, once it is final.

    Final means the transcript holds more user messages than the baseline and ends with an assistant
    message whose finish reason is terminal (anything but ``tool_use``).
    """
    users = sum(1 for m in export.messages if m.role == "user")
    if users <= baseline_user_messages or not export.messages:
        return None
    last = export.messages[-1]
    if last.role != "assistant" or not last.finish_reason or last.finish_reason in NON_TERMINAL_FINISH:
        return None
    return Reply(
        message_id=last.id,
        text=last.content,
        finish_reason=last.finish_reason,
        tool_calls=len(last.tool_calls or ()),
    )


def reply_after(verdict: StreamVerdict, export: ExportSession, baseline_user_messages: int) -> Reply | None:
    """The reply once the stream said the run ended: from the transcript, or the stream's error."""
    reply = finished_reply(export, baseline_user_messages)
    if reply is None and verdict.error is not None:
        return Reply(message_id=verdict.message_id or "", text=verdict.error, finish_reason="error", tool_calls=0)
    return reply


@dataclass(frozen=True)
class Deadline:
    """A wall-clock budget: ``total`` seconds, ending at monotonic time ``at``."""

    total: float
    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """A deadline ``seconds`` from now."""
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - time.monotonic()


def last_finished_turn(export: ExportSession) -> str | None:
    """The id of the last assistant message if the session is idle (its last turn finished), else None.

    A session with no messages is idle but has no finished turn (``None`` too); use :func:`is_idle`.
    """
    if not export.messages:
        return None
    last = export.messages[-1]
    if last.role == "assistant" and last.finish_reason and last.finish_reason not in NON_TERMINAL_FINISH:
        return last.id
    return None


def is_idle(export: ExportSession) -> bool:
    """Whether no run is in progress: no messages, or the last turn has finished."""
    return not export.messages or last_finished_turn(export) is not None
