"""One wait for the reply to our message, written once as a sans-I/O generator and driven twice.

:func:`reply_flow` yields what to do next, in the manner of httpx's ``Auth.auth_flow``: execute a
:class:`~mix_provider.client.operations.Call`, read the transcript (:class:`Scan`), open, read or
close the SSE stream (:class:`OpenEvents`, :class:`NextEvent`, :class:`CloseEvents`), sleep
(:class:`Sleep`), or follow a sub-agent's stream beside it (:class:`Spawn`); and while a turn is under way its requests go first (:class:`Urgent`). A driver does it and sends the result back, or throws the error it raised into
the generator, which decides what that means. The loops that do so are in :mod:`.drivers`; the
clients (:mod:`.sync`, :mod:`.aio`) only say how each step is done. Tests drive the flow with
scripted results, without a transport.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Generator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypedDict, TypeVar, cast

from mix_provider.client import operations as ops
from mix_provider.client.operations import Call
from mix_provider.client.scan import ScannedTranscript
from mix_provider.client.stream import StreamEvent, StreamVerdict, judge_event, stream_refusal
from mix_provider.client.supervisor import Step, Supervisor
from mix_provider.client.turns import Reply, TurnKey, finished_reply, is_idle, reply_after
from mix_provider.client.usage import TurnTokens, UsageRead, budget_ids, running_tokens
from mix_provider.client.validation import positive_number
from mix_provider.errors import MixError, MixNotFoundError, MixReplyTimeoutError, MixTransportError, is_retryable
from mix_provider.models import SessionTotals

log = logging.getLogger("mix_provider.client")
T = TypeVar("T")

#: Default seconds to wait for a reply, and between transcript polls when the stream is unavailable.
REPLY_TIMEOUT, POLL_INTERVAL = 3600.0, 1.0
#: How far the client's clock may be behind the server's for :func:`second_fence` to shorten its pause.
CLOCK_SKEW = 0.25


def second_fence(transcript: ScannedTranscript, now: float, key: TurnKey) -> float:
    """Seconds to wait before sending so that our user message is stored in a later second than the
    last message read (0: that second is over, or a run is still in progress).

    The server stamps messages in whole seconds and lists one second's messages in no defined order
    (``messages.sql`` ``ListMessagesBySession``): a turn sent in the second the one before it ended in
    is listed interleaved with it, and no rewind can then drop exactly one of them
    (:mod:`mix_provider.client.rewind`). Waiting ``1 + CLOCK_SKEW`` seconds after the read always
    suffices, whatever the clocks say; the local clock only shortens that when the second is long over.
    Only after a finished turn: while a run is in progress ours overlaps it anyway, and a pause would
    only gather concurrent senders at the moment that second ends, into one second.
    """
    last = transcript.messages[-1].created_at if transcript.messages else None
    if last is None or not is_idle(transcript, key=key):
        return 0.0
    return min(1 + CLOCK_SKEW, max(0.0, last.timestamp() + 1 + CLOCK_SKEW - now))


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


class SendOptions(TypedDict, total=False):
    """The keyword options of sending a message and waiting for its reply (the hook's ``send_and_wait``
    twins): our message's key (by default built from the session's user message count now), then
    what a wait takes, but no earlier answer."""

    turn: TurnKey | None
    timeout: float
    poll_interval: float
    supervisor: Supervisor | None


def split_turn(options: SendOptions) -> tuple[TurnKey | None, WaitOptions]:
    """The turn key of ``options`` (if any), and the rest: what the wait for the reply takes."""
    rest = {key: value for key, value in options.items() if key != "turn"}
    return options.get("turn"), cast("WaitOptions", rest)


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
    #: Errors raised beside this wait, by the watch of a sub-agent (:class:`Spawn`); the first is raised.
    side_errors: list[MixError] = dataclasses.field(default_factory=list, compare=False)

    @classmethod
    def start(
        cls, session_id: str, turn: TurnKey, timeout: float, poll_interval: float, supervisor: Supervisor | None = None
    ) -> Wait:
        """Check ``timeout`` and ``poll_interval`` and start the clock."""
        timeout = positive_number("timeout", timeout)
        interval = positive_number("poll_interval", poll_interval)
        return cls(session_id, turn, Deadline.after(timeout), interval, supervisor)

    def before_send(self, transcript: ScannedTranscript) -> None:
        """The transcript read just before sending: its last second's messages are not ours."""
        self.turn.pins.remember(transcript.messages)

    def observe(self, event: StreamEvent) -> None:
        """Pin what ``event`` says of our turn by id (:meth:`TurnKey.observe`)."""
        self.turn.observe(event)

    def supervise(self, event: StreamEvent) -> Step | None:
        """What the supervisor makes of ``event`` (an answer to send, totals to read, an error), if any."""
        return None if self.supervisor is None else self.supervisor.on_event(event)

    def after_usage(self, totals: SessionTotals, tokens: TurnTokens | None) -> Step:
        """The supervisor's next step once the usage it asked for is read."""
        return cast("Supervisor", self.supervisor).after_usage(totals, tokens)  # only a supervisor asks for it

    def raise_side_error(self) -> None:
        """Raise what a sub-agent's watch raised (its supervisor stopped the run), if it did."""
        if self.side_errors:
            raise self.side_errors[0]

    def not_answered(self, answer: Call[Any], exc: MixError) -> None:
        """An answer found nothing waiting for it: the supervisor logs it and the turn goes on."""
        if self.supervisor is not None:
            self.supervisor.not_answered(answer.path, exc)

    def stream_read_timeout(self, stream_timeout: float) -> float:
        """The silence tolerated on the stream: the client's stream timeout, at most the whole wait."""
        return min(self.deadline.total, stream_timeout)

    def checked(self, transcript: ScannedTranscript) -> Reply | None:
        """Our reply in a polled transcript, if it finished (with the session's totals read with it)."""
        return self._pinned(finished_reply(transcript.messages, self.turn, self.session_id), transcript)

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
        return self._pinned(reply_after(verdict, transcript.messages, self.turn, self.session_id), transcript)

    def _pinned(self, reply: Reply | None, transcript: ScannedTranscript) -> Reply | None:
        """``reply`` with the session's totals read with it; its final message is pinned as ours."""
        if reply is not None and reply.message_id:
            self.turn.pins.reply_id = reply.message_id
        return reply if reply is None else dataclasses.replace(reply, totals=transcript.totals)

    def dropped(self, exc: BaseException) -> None:
        """Following the stream stopped (dropped, or the deadline passed): the transcript decides."""
        log.warning("Mix stream for session %s ended (%r); polling the transcript", self.session_id, exc)

    def before_poll(self) -> None:
        """Raise :class:`~mix_provider.errors.MixReplyTimeoutError` when another poll would end past the deadline."""
        if self.deadline.remaining() < self.poll_interval:
            raise MixReplyTimeoutError(self.session_id, self.deadline.total)


@dataclass(frozen=True)
class Scan:
    """Read the session's transcript, keeping the texts ``turn`` needs (result: a ``ScannedTranscript``)."""

    session_id: str
    turn: TurnKey


@dataclass(frozen=True)
class OpenEvents:
    """Open the session's SSE stream, tolerating ``read_timeout`` seconds of silence (result: None)."""

    session_id: str
    read_timeout: float


@dataclass(frozen=True)
class NextEvent:
    """Read the next SSE event (result: it, or None once the stream ended); ``timeout`` bounds the wait
    for it where the driver can cut a read (asyncio), None: unbounded."""

    timeout: float | None = None


@dataclass(frozen=True)
class CloseEvents:
    """Close the SSE stream, if open (result: None)."""


@dataclass(frozen=True)
class Urgent:
    """From now on (``on``) or no longer, the requests made go first: the turn is under way and its
    answers, totals and final transcript should not queue behind turns starting (result: None)."""

    on: bool


@dataclass(frozen=True)
class Sleep:
    """Sleep ``seconds`` (result: None)."""

    seconds: float


@dataclass(frozen=True)
class Spawn:
    """Follow, beside this flow and until the wait ends, the sub-agent that tool call ``call_id`` starts
    (:func:`~mix_provider.client.subagents.watch_flow`, on its own stream); what it raises goes to
    :attr:`Wait.side_errors` (result: None)."""

    call_id: str


#: What a flow asks its driver to do.
Command = Call[Any] | Scan | OpenEvents | NextEvent | CloseEvents | Urgent | Sleep | Spawn
#: A sans-I/O flow returning ``T``: yields commands, receives their results.
Flow = Generator[Command, Any, T]


def reply_flow(wait: Wait, stream_timeout: float, send: Call[Any] | None, answer: Call[Any] | None) -> Flow[Reply]:
    """The wait for our reply (see :meth:`MixClient.wait_for_reply <mix_provider.client.MixClient.wait_for_reply>`).

    The SSE stream is opened first; then the transcript is read (what it holds is not ours) and
    ``send`` (if given) is executed, otherwise ``answer`` is sent and the transcript is checked once
    (the reply may already be there). Events are read until the
    run ended; if the stream cannot open or drops, the transcript is polled instead.
    """
    streaming = yield from _open(wait, stream_timeout)
    if send is not None:
        if wait.turn.after_user_messages:  # an empty session holds nothing that could be taken for ours
            transcript = yield Scan(wait.session_id, wait.turn)
            wait.before_send(transcript)
            if pause := second_fence(transcript, time.time(), wait.turn):
                yield Sleep(pause)
        yield send
    else:
        if answer is not None:
            yield from act(wait, Step(answer=answer))
        if reply := wait.checked((yield Scan(wait.session_id, wait.turn))):
            return reply
    if streaming and (reply := (yield from _follow(wait))):
        return reply
    yield CloseEvents()
    while not (reply := wait.checked((yield Scan(wait.session_id, wait.turn)))):
        wait.before_poll()
        yield Sleep(wait.poll_interval)
    return reply


def _open(wait: Wait, stream_timeout: float) -> Flow[bool]:
    """Open the stream and read up to ``connected``; False when it could not be (poll instead)."""
    try:
        yield OpenEvents(wait.session_id, wait.stream_read_timeout(stream_timeout))
        while (event := (yield NextEvent())) is not None:
            if wait.connected(event):
                return True
    except MixError as exc:
        wait.unavailable(exc)
    return False


def _follow(wait: Wait) -> Flow[Reply | None]:
    """Read the events of a turn under way, its requests going first (:class:`Urgent`)."""
    yield Urgent(True)
    reply = yield from _read(wait)
    yield Urgent(False)
    return reply


def _read(wait: Wait) -> Flow[Reply | None]:
    """Read events until our reply finished, checking the deadline after each one.

    A blocking read cannot be cut at the deadline; it is bounded by the stream's read timeout.
    """
    try:
        while (event := (yield NextEvent(max(wait.deadline.remaining(), 0.0)))) is not None:
            wait.observe(event)
            if (step := wait.supervise(event)) is not None:
                yield from act(wait, step)
            wait.raise_side_error()
            if (ended := wait.run_ended(event)) and (
                reply := wait.after_event(ended, (yield Scan(wait.session_id, wait.turn)))
            ):
                wait.raise_side_error()
                return reply
            if wait.deadline.passed:
                break
    except (MixTransportError, TimeoutError) as exc:
        wait.dropped(exc)
    return None


def act(wait: Wait, step: Step) -> Flow[None]:
    """Execute a supervisor's step: follow a sub-agent, read totals, send an answer, or cancel the run and raise."""
    if step.watch is not None:
        yield Spawn(step.watch)
    if step.usage is not None:
        step = wait.after_usage(*(yield from read_usage(wait, step.usage)))
    if step.answer is not None:
        try:
            yield step.answer
        except MixNotFoundError as exc:
            wait.not_answered(step.answer, exc)
    if step.error is not None:
        if step.cancel:
            with suppress(MixError):  # the run may have ended by itself; the supervisor's error is what matters
                yield ops.cancel_session(wait.session_id)
        raise step.error


def read_usage(wait: Wait, read: UsageRead) -> Flow[tuple[SessionTotals, TurnTokens | None]]:
    """The turn's usage so far: the session's totals and, if ``read.tokens``, the tokens of the assistant
    messages our run holds in any tie order (:func:`~mix_provider.client.usage.budget_ids`, read from
    the transcript as a reply is, then summed from ``GET .../messages``)."""
    if not read.tokens:
        return (yield ops.get_session(wait.session_id)), None
    transcript: ScannedTranscript = yield Scan(wait.session_id, wait.turn)
    totals = transcript.totals or (yield ops.get_session(wait.session_id))
    rows = yield ops.get_messages(wait.session_id)
    return totals, running_tokens(rows, budget_ids(transcript.messages, wait.turn))
