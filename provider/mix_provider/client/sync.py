"""The blocking Mix client: executes call descriptions with retries and waits for replies."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from types import TracebackType
from typing import Any, TypeVar

import httpx
import tenacity

from mix_provider.client import operations as ops
from mix_provider.client._http import SyncHTTP
from mix_provider.client.config import ClientConfig
from mix_provider.client.events import Deadline, StreamEvent, judge_event, reply_after, stream_refusal
from mix_provider.client.operations import Call
from mix_provider.client.retry import RetryPlan
from mix_provider.client.turns import Reply, TurnKey, finished_reply
from mix_provider.client.validation import positive_number
from mix_provider.errors import MixError, MixReplyTimeoutError, MixTransportError, is_transient
from mix_provider.models import ExportSession

T = TypeVar("T")
log = logging.getLogger("mix_provider.client")


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
                    if plan.must_reconcile and (settled := self._settle(call, plan)) is not None:
                        return settled
                    return self._http.request(call)
        except MixError as exc:
            if call.if_gone is not None and plan.gone_after_lost_answer(exc):
                return call.if_gone()
            final = plan.final_error(exc)
            if final is exc:
                raise
            raise final from exc
        raise AssertionError("tenacity neither returned nor raised")  # pragma: no cover

    def _settle(self, call: Call[T], plan: RetryPlan) -> T | None:
        assert call.reconcile is not None
        found = call.reconcile.match(self.execute(call.reconcile.lookup))
        if found is not None:
            log.warning("Mix %s %s had been applied before its answer was lost; using it", call.method, call.path)
        else:
            plan.not_applied()
        return found

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

    @contextmanager
    def open_events(self, session_id: str, read_timeout: float | None = None) -> Iterator[Iterator[StreamEvent]]:
        """Open the session's SSE stream; the first event is ``connected``."""
        with self._http.events(ops.stream_events(session_id), read_timeout) as events:
            yield events

    def wait_for_reply(
        self,
        session_id: str,
        turn: TurnKey,
        *,
        send: Call[Any] | None = None,
        timeout: float = 3600.0,
        poll_interval: float = 1.0,
    ) -> Reply:
        """Wait for the reply to our message (``turn``): the end of the turn it started, not the session's.

        The SSE stream is opened first; then ``send`` (if given) is executed, otherwise the transcript
        is checked once (the reply may already be there). Events are read until the top-level
        ``complete``; if the stream cannot open or drops, the transcript is polled instead.

        :raises MixReplyTimeoutError: when ``timeout`` seconds pass first.
        """
        timeout = positive_number("timeout", timeout)
        poll_interval = positive_number("poll_interval", poll_interval)
        deadline = Deadline.after(timeout)
        with ExitStack() as stack:
            events = self._try_open_events(stack, session_id, timeout)
            if send is not None:
                self.execute(send)
            elif reply := self._check(session_id, turn):
                return reply
            if events is not None and (reply := self._follow(events, session_id, turn, deadline)):
                return reply
        return self._poll(session_id, turn, deadline, poll_interval)

    def _try_open_events(self, stack: ExitStack, session_id: str, timeout: float) -> Iterator[StreamEvent] | None:
        try:
            events = stack.enter_context(self.open_events(session_id, min(timeout, self.config.stream_timeout)))
            for event in events:
                if event.event == "connected":
                    return events
                if refusal := stream_refusal(session_id, event):
                    raise refusal
        except MixError as exc:
            if not is_transient(exc):
                raise
            log.warning("Mix stream for session %s unavailable (%s); polling instead", session_id, exc)
        return None

    def _follow(
        self, events: Iterator[StreamEvent], session_id: str, turn: TurnKey, deadline: Deadline
    ) -> Reply | None:
        try:
            for event in events:
                verdict = judge_event(event)
                if verdict.done and (
                    reply := reply_after(verdict, self._export(session_id).messages, turn, session_id)
                ):
                    return reply
                if deadline.remaining() < 0:
                    break
        except MixTransportError as exc:
            log.warning("Mix stream for session %s dropped (%s); polling the transcript", session_id, exc)
        return None

    def _poll(self, session_id: str, turn: TurnKey, deadline: Deadline, interval: float) -> Reply:
        while not (reply := self._check(session_id, turn)):
            if deadline.remaining() < interval:
                raise MixReplyTimeoutError(session_id, deadline.total)
            time.sleep(interval)
        return reply

    def _check(self, session_id: str, turn: TurnKey) -> Reply | None:
        return finished_reply(self._export(session_id).messages, turn, session_id)

    def _export(self, session_id: str) -> ExportSession:
        return self.execute(ops.export_session(session_id))

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __enter__(self) -> MixClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
