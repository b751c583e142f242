"""Server-sent events of ``GET /stream`` and the pure verdict on whether a reply is finished.

The sync and async waiters feed events (or a polled transcript) to these functions and act on the
verdict; neither decides anything by itself.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypedDict, cast

from mix_provider.client.operations import Call
from mix_provider.client.scan import ScannedTranscript
from mix_provider.client.turns import (
    Reply,
    Turn,
    TurnKey,
    TurnMessage,
    assistant_ids_of,
    find_turn,
    finished_reply,
    runs_of,
    settled_reply,
    steps_of,
    tool_calls_of,
)
from mix_provider.client.usage import TurnTokens
from mix_provider.client.validation import positive_number
from mix_provider.errors import MixError, MixNotFoundError, MixReplyTimeoutError, is_retryable
from mix_provider.models import ExportSession, FinishReason, SessionTotals

if TYPE_CHECKING:
    from mix_provider.client.supervisor import Step, Supervisor

log = logging.getLogger("mix_provider.client")

#: Default seconds to wait for a reply, and between transcript polls when the stream is unavailable.
REPLY_TIMEOUT, POLL_INTERVAL = 3600.0, 1.0


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


#: How the real server words the ``error`` event that ends a cancelled run: ``agent.ErrRequestCancelled``
#: while a reply streams, Go's ``context.Canceled`` while the run's tools run.
CANCELLED_PREFIXES = ("request cancelled", "context canceled")
#: How the real server words the ``error`` event of a run stopped by ``max_steps``; it finishes the
#: last ``tool_use`` message as ``canceled`` (``agent.go`` ``processGeneration``).
STEP_LIMIT_PREFIX = "maximum iteration limit"


def reply_after(
    verdict: StreamVerdict, messages: Sequence[TurnMessage], key: TurnKey, session_id: str = ""
) -> Reply | None:
    """The reply once the stream said a run ended: from the transcript, or the stream's error.

    An error that arrives before our user message is stored, or while other runs overlap ours, cannot
    be told to be ours: the transcript decides then.
    """
    turn = find_turn(messages, key)
    if turn is None:
        return None
    reply = settled_reply(turn, session_id)
    if reply is None and verdict.error is not None and not turn.overlapped:
        cancelled = verdict.error.startswith((*CANCELLED_PREFIXES, STEP_LIMIT_PREFIX))
        return Reply(
            message_id=verdict.message_id or "",
            text=verdict.error,
            finish_reason=(FinishReason.CANCELED if cancelled else FinishReason.ERROR).value,
            tool_calls=tool_calls_of(turn),
            user_message_id=turn.user_message_id,
            steps=steps_of(turn),
            assistant_ids=assistant_ids_of(turn),
        )
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

    @property
    def passed(self) -> bool:
        """Whether no time is left."""
        return self.remaining() <= 0


class WaitOptions(TypedDict, total=False):
    """The keyword options of a reply wait, named once for the hook's sync and async twins."""

    timeout: float
    poll_interval: float
    supervisor: Supervisor | None
    answer: Call[Any] | None


@dataclass(frozen=True)
class Wait:
    """The budget of one wait for a reply, its arguments checked once for both clients.

    :param session_id: the session waited on.
    :param turn: our message's key.
    :param deadline: when the wait gives up.
    :param poll_interval: seconds between transcript polls.
    :param supervisor: answers permissions and notifications, watches the budget (see
        :mod:`~mix_provider.client.supervisor`); without one, events are only judged for the end of the run.
    """

    session_id: str
    turn: TurnKey
    deadline: Deadline
    poll_interval: float
    supervisor: Supervisor | None = None

    @classmethod
    def start(
        cls, session_id: str, turn: TurnKey, timeout: float, poll_interval: float, supervisor: Supervisor | None = None
    ) -> Wait:
        """Check ``timeout`` and ``poll_interval`` and start the clock."""
        timeout = positive_number("timeout", timeout)
        interval = positive_number("poll_interval", poll_interval)
        return cls(session_id, turn, Deadline.after(timeout), interval, supervisor)

    def supervise(self, event: StreamEvent) -> Step | None:
        """What the supervisor makes of ``event`` (an answer to send, totals to read, an error), if any."""
        return None if self.supervisor is None else self.supervisor.on_event(event)

    def after_usage(self, totals: SessionTotals, tokens: TurnTokens | None) -> Step:
        """The supervisor's next step once the usage it asked for is read."""
        return cast("Supervisor", self.supervisor).after_usage(totals, tokens)  # only a supervisor asks for it

    def not_answered(self, answer: Call[Any], exc: MixError) -> None:
        """An answer found nothing waiting for it: the supervisor logs it and the turn goes on."""
        if self.supervisor is not None:
            self.supervisor.not_answered(answer.path, exc)

    def stream_read_timeout(self, stream_timeout: float) -> float:
        """The silence tolerated on the stream: the client's stream timeout, at most the whole wait."""
        return min(self.deadline.total, stream_timeout)

    def checked(self, transcript: ScannedTranscript) -> Reply | None:
        """Our reply in a polled transcript, if it finished (with the session's totals read with it)."""
        return _with_totals(finished_reply(transcript.messages, self.turn, self.session_id), transcript)

    def connected(self, event: StreamEvent) -> bool:
        """Whether an opening event is ``connected``; the stream's refusal of an unknown session is raised."""
        if event.event == "connected":
            return True
        if refusal := stream_refusal(self.session_id, event):
            raise refusal
        return False

    def unavailable(self, exc: MixError) -> None:
        """The stream could not be opened: poll instead if ``exc`` may pass by itself, else re-raise it."""
        if not is_retryable(exc):
            raise exc
        log.warning("Mix stream for session %s unavailable (%s); polling instead", self.session_id, exc)

    @staticmethod
    def run_ended(event: StreamEvent) -> StreamVerdict | None:
        """The event's verdict when it ends a run (see :func:`judge_event`), else None: keep reading."""
        verdict = judge_event(event)
        return verdict if verdict.done else None

    def after_event(self, verdict: StreamVerdict, transcript: ScannedTranscript) -> Reply | None:
        """Our reply once the stream said a run ended (see :func:`reply_after`)."""
        return _with_totals(reply_after(verdict, transcript.messages, self.turn, self.session_id), transcript)

    def dropped(self, exc: BaseException) -> None:
        """Following the stream stopped (dropped, or the deadline passed): the transcript decides."""
        log.warning("Mix stream for session %s ended (%r); polling the transcript", self.session_id, exc)

    def before_poll(self) -> None:
        """Raise :class:`~mix_provider.errors.MixReplyTimeoutError` when another poll would end past the deadline."""
        if self.deadline.remaining() < self.poll_interval:
            raise MixReplyTimeoutError(self.session_id, self.deadline.total)


def _with_totals(reply: Reply | None, transcript: ScannedTranscript) -> Reply | None:
    return reply if reply is None else dataclasses.replace(reply, totals=transcript.totals)


#: How long a run may wait for the assistant message after its tool results before it counts as ended.
#: The server starts the next round as soon as the results are stored; a run cancelled while its
#: tools ran stores its (error) results and nothing after them (``agent.go`` ``processGeneration``).
STALLED_AFTER = timedelta(seconds=30)


def has_ended(run: Turn, now: datetime) -> bool:
    """Whether ``run`` is over: finished, or stalled after its tool results for :data:`STALLED_AFTER`."""
    if run.finished:
        return True
    last = run.messages[-1] if run.messages else None
    stored = last and (last.updated_at or last.created_at)
    return bool(last and last.role == "tool" and stored and now - stored >= STALLED_AFTER)


def finished_turns(messages: Sequence[TurnMessage]) -> list[str]:
    """The final assistant message ids of the transcript's finished runs, in the order runs started.

    Runs are rebuilt as :func:`~mix_provider.client.turns.runs_of` does, so a run that finishes after
    a later one (the server runs messages concurrently) is reported too.
    """
    return [run.messages[-1].id for run in runs_of(messages) if run.finished]


def is_idle(export: ExportSession | ScannedTranscript, now: datetime | None = None) -> bool:
    """Whether no run is in progress: every run of the transcript has ended (see :func:`has_ended`)."""
    moment = now or datetime.now(timezone.utc)
    return all(has_ended(run, moment) for run in runs_of(export.messages))
