"""The blocking Mix client: executes call descriptions with retries and waits for replies."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import ExitStack, contextmanager, suppress
from types import TracebackType
from typing import Any, TypeVar

import httpx
import tenacity

from mix_provider.client import operations as ops
from mix_provider.client._http import SyncHTTP
from mix_provider.client.config import ClientConfig
from mix_provider.client.drivers import drive
from mix_provider.client.operations import Call, Plan, Stepper
from mix_provider.client.retry import RetryPlan
from mix_provider.client.scan import ScannedTranscript, scan_chunks, scan_usage
from mix_provider.client.stream import StreamEvent
from mix_provider.client.subagents import watch_flow
from mix_provider.client.supervisor import Supervisor
from mix_provider.client.turns import Reply, TurnKey
from mix_provider.client.usage import TurnTokens
from mix_provider.client.wait import (
    POLL_INTERVAL,
    REPLY_TIMEOUT,
    CloseEvents,
    Command,
    NextEvent,
    OpenEvents,
    Scan,
    Sleep,
    Spawn,
    Wait,
    reply_flow,
)
from mix_provider.errors import MixError

T = TypeVar("T")


class MixClient:
    """A Mix API client on one pooled keep-alive connection; close it, or use it as a context manager.

    >>> with MixClient(ClientConfig("http://127.0.0.1:8088")) as client:
    ...     session = client.execute(ops.create_session("nightly report"))

    :param config: base URL, headers, timeouts and retry policy.
    :param transport: optional httpx transport (``httpx.MockTransport`` in unit tests).
    """

    def __init__(self, config: ClientConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        self._http = SyncHTTP(config, transport)

    def execute(self, call: Call[T]) -> T:
        """Run ``call``: one direct attempt, then tenacity-driven retries for transient failures."""
        try:
            return self._http.request(call)
        except MixError as exc:
            plan = RetryPlan(call, self.config.retry, exc)
        try:
            for attempt in plan.retrying(tenacity.Retrying):
                with attempt:
                    plan.replay_initial()
                    if (lookup := plan.lookup) and (found := plan.settled(self.execute(lookup))) is not None:
                        return found
                    return self._http.request(call)
        except MixError as exc:
            return plan.give_up(exc)
        raise AssertionError("tenacity neither returned nor raised")  # pragma: no cover

    @contextmanager
    def open_stream(self, call: Call[Any]) -> Iterator[Iterator[bytes]]:
        """Open ``call`` (e.g. ``ops.export_session``) and yield its body as byte chunks, unparsed."""
        with self._http.stream(call) as chunks:
            yield chunks

    def consume_stream(self, call: Call[Any], consume: Callable[[Iterator[bytes]], T]) -> T:
        """Open ``call`` and hand its body chunks to ``consume``; a transient failure retries it all.

        A failure while opening *or while reading* the body (reset, truncated body, retryable status,
        or a :class:`~mix_provider.errors.MixMalformedResponseError` raised by ``consume``) starts a new
        exchange under the retry policy, so ``consume`` must throw away what it made before it raised.
        """

        def once() -> T:
            with self._http.stream(call) as chunks:
                return consume(chunks)

        try:
            return once()
        except MixError as exc:
            plan = RetryPlan(call, self.config.retry, exc)
        for attempt in plan.retrying(tenacity.Retrying):
            with attempt:
                plan.replay_initial()
                return once()
        raise AssertionError("tenacity neither returned nor raised")  # pragma: no cover

    def run(self, plan: Plan[T]) -> T:
        """Run a plan of several calls (e.g. :func:`~mix_provider.client.inventory.survey`)."""
        stepper = Stepper(plan)
        while (call := stepper.call) is not None:
            try:
                result = self.execute(call)
            except MixError as exc:
                stepper.throw(exc)
            else:
                stepper.send(result)
        return stepper.result

    def turn_tokens(self, session_id: str, message_ids: Collection[str]) -> TurnTokens | None:
        """The tokens of the turn whose assistant messages are ``message_ids``, from the per-message usage
        of ``GET /api/sessions/{id}/messages`` (streamed, one message held at a time); None when the
        server reports none (:mod:`mix_provider.client.usage`)."""
        if not message_ids:
            return None  # nothing to sum: no read can tell more
        call = ops.get_messages(session_id)
        return self.consume_stream(call, lambda chunks: scan_usage(call, chunks, message_ids))

    def scan_transcript(self, session_id: str, key: TurnKey | None = None) -> ScannedTranscript:
        """The transcript as light message records and the session's totals, read from the streamed export (:mod:`.scan`).

        :param key: our message's key: which texts to keep (None keeps none).
        """
        call = ops.export_session(session_id)
        return self.consume_stream(call, lambda chunks: scan_chunks(call, chunks, key))

    @contextmanager
    def open_events(
        self,
        session_id: str,
        read_timeout: float | None = None,
        on_open: Callable[[httpx.Response], None] | None = None,
    ) -> Iterator[Iterator[StreamEvent]]:
        """Open the session's SSE stream; the first event is ``connected`` (``on_open``: see
        :meth:`SyncHTTP.events <mix_provider.client._http.SyncHTTP.events>`)."""
        with self._http.events(ops.stream_events(session_id), read_timeout, on_open) as events:
            yield events

    def wait_for_reply(
        self,
        session_id: str,
        turn: TurnKey,
        *,
        send: Call[Any] | None = None,
        timeout: float = REPLY_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,
        supervisor: Supervisor | None = None,
        answer: Call[Any] | None = None,
    ) -> Reply:
        """Wait for the reply to our message (``turn``): the end of the turn it started, not the session's.

        The SSE stream is opened first; then ``send`` (if given) is executed, otherwise the transcript
        is checked once (the reply may already be there). Events are read until the top-level
        ``complete``; if the stream cannot open or drops, the transcript is polled instead. The
        sequence is :func:`~mix_provider.client.wait.reply_flow`; this method only does its steps.

        With a ``supervisor``, permission requests and notifications are answered as it decides and
        the budget is watched (:class:`~mix_provider.client.supervisor.Supervisor`); ``answer`` (a
        decision made earlier, e.g. by a person) is sent once the stream is open.

        :raises MixReplyTimeoutError: when ``timeout`` seconds pass first.
        :raises MixSupervisionError: the supervisor stopped the run (it was cancelled).
        :raises MixAskRequired: the supervisor hands a request to a person.
        """
        wait = Wait.start(session_id, turn, timeout, poll_interval, supervisor)
        with ExitStack() as stack:
            return drive(reply_flow(wait, self.config.stream_timeout, send, answer), _Steps(self, stack, wait))

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> MixClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Steps:
    """How the blocking client does each command of a flow; the SSE stream it opens lives in ``stack``.

    A blocking read cannot be cut at a deadline (``NextEvent.timeout``): the stream's read timeout bounds it.
    A :class:`Spawn` runs its watch in a daemon thread with its own stream, closed when ``stack`` is.
    """

    def __init__(self, client: MixClient, stack: ExitStack, wait: Wait, shutter: _Shutter | None = None) -> None:
        self.client = client
        self.stack = stack
        self.wait = wait
        self.shutter = shutter
        self.events: Iterator[StreamEvent] = iter(())

    def spawn(self, command: Spawn) -> None:
        side, shutter = ExitStack(), _Shutter()
        self.stack.callback(shutter.shut)  # the wait's end cuts the watch's blocked read
        flow = watch_flow(self.wait, command.call_id, self.client.config.stream_timeout)

        def watch() -> None:
            with side:
                try:
                    drive(flow, _Steps(self.client, side, self.wait, shutter))
                except MixError as exc:
                    self.wait.side_errors.append(exc)

        threading.Thread(target=watch, name=f"mix-subagent-{command.call_id}", daemon=True).start()

    def __call__(self, command: Command) -> Any:
        if isinstance(command, Call):
            return self.client.execute(command)
        if isinstance(command, Spawn):
            return self.spawn(command)
        if isinstance(command, Scan):
            return self.client.scan_transcript(command.session_id, command.turn)
        if isinstance(command, NextEvent):
            return next(self.events, None)
        if isinstance(command, OpenEvents):
            on_open = self.shutter.hold if self.shutter is not None else None
            opened = self.client.open_events(command.session_id, command.read_timeout, on_open)
            self.events = self.stack.enter_context(opened)
        elif isinstance(command, CloseEvents):
            self.stack.close()
        elif isinstance(command, Sleep):
            time.sleep(command.seconds)
        return None  # Urgent: the blocking client has one caller, no lanes


class _Shutter:
    """Cuts a stream read blocked in another thread: closing a response does not wake a blocked
    ``recv``, shutting its socket down does (a watch's thread then ends with the wait)."""

    def __init__(self) -> None:
        self._response: httpx.Response | None = None
        self._shut = False

    def hold(self, response: httpx.Response) -> None:
        """Remember the open response (cut at once if the wait already ended)."""
        self._response = response
        if self._shut:
            self.shut()

    def shut(self) -> None:
        """Shut the held response's socket down; nothing without one (a mock transport)."""
        self._shut = True
        stream = self._response.extensions.get("network_stream") if self._response is not None else None
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is not None:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
