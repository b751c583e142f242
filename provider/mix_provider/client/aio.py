"""The asyncio Mix client: the same call descriptions and verdicts as :mod:`.sync`, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import AsyncExitStack, asynccontextmanager, suppress
from types import TracebackType
from typing import Any, TypeVar

import httpx
import tenacity

from mix_provider.client import operations as ops
from mix_provider.client._http import AsyncHTTP
from mix_provider.client.config import ClientConfig
from mix_provider.client.events import POLL_INTERVAL, REPLY_TIMEOUT, StreamEvent, Wait
from mix_provider.client.lanes import urgent
from mix_provider.client.operations import Call, Plan, Stepper
from mix_provider.client.retry import RetryPlan
from mix_provider.client.scan import ScannedTranscript, ascan_chunks, ascan_usage
from mix_provider.client.supervisor import Step, Supervisor
from mix_provider.client.turns import Reply, TurnKey
from mix_provider.client.usage import TurnTokens
from mix_provider.errors import MixError, MixNotFoundError, MixTransportError

T = TypeVar("T")


class AsyncMixClient:
    """The asyncio twin of :class:`~mix_provider.client.MixClient` (``async with`` closes it).

    :param config: base URL, headers, timeouts and retry policy.
    :param transport: optional async httpx transport (mock, or ``httpx.ASGITransport``).
    """

    def __init__(self, config: ClientConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._http = AsyncHTTP(config, transport)

    async def execute(self, call: Call[T]) -> T:
        """Run ``call``: one direct attempt, then tenacity-driven retries for transient failures."""
        try:
            return await self._http.request(call)
        except MixError as exc:
            plan = RetryPlan(call, self.config.retry, exc)
        try:
            async for attempt in plan.retrying(tenacity.AsyncRetrying):
                with attempt:
                    plan.replay_initial()
                    if (lookup := plan.lookup) and (found := plan.settled(await self.execute(lookup))) is not None:
                        return found
                    return await self._http.request(call)
        except MixError as exc:
            return plan.give_up(exc)
        raise AssertionError("tenacity neither returned nor raised")  # pragma: no cover

    async def run(self, plan: Plan[T]) -> T:
        """Async :meth:`MixClient.run <mix_provider.client.MixClient.run>`."""
        stepper = Stepper(plan)
        while (call := stepper.call) is not None:
            try:
                result = await self.execute(call)
            except MixError as exc:
                stepper.throw(exc)
            else:
                stepper.send(result)
        return stepper.result

    @asynccontextmanager
    async def open_stream(self, call: Call[Any]) -> AsyncIterator[AsyncIterator[bytes]]:
        """Open ``call`` (e.g. ``ops.export_session``) and yield its body as byte chunks, unparsed."""
        async with self._http.stream(call) as chunks:
            yield chunks

    async def consume_stream(self, call: Call[Any], consume: Callable[[AsyncIterator[bytes]], Awaitable[T]]) -> T:
        """Async :meth:`MixClient.consume_stream <.sync.MixClient.consume_stream>`: a transient failure retries it all."""

        async def once() -> T:
            async with self._http.stream(call) as chunks:
                return await consume(chunks)

        try:
            return await once()
        except MixError as exc:
            plan = RetryPlan(call, self.config.retry, exc)
        async for attempt in plan.retrying(tenacity.AsyncRetrying):
            with attempt:
                plan.replay_initial()
                return await once()
        raise AssertionError("tenacity neither returned nor raised")  # pragma: no cover

    async def scan_transcript(self, session_id: str, key: TurnKey | None = None) -> ScannedTranscript:
        """Async :meth:`MixClient.scan_transcript <.sync.MixClient.scan_transcript>`."""
        call = ops.export_session(session_id)
        return await self.consume_stream(call, lambda chunks: ascan_chunks(call, chunks, key))

    async def turn_tokens(self, session_id: str, message_ids: Collection[str]) -> TurnTokens | None:
        """Async :meth:`MixClient.turn_tokens <.sync.MixClient.turn_tokens>`."""
        call = ops.get_messages(session_id)
        return await self.consume_stream(call, lambda chunks: ascan_usage(call, chunks, message_ids))

    @asynccontextmanager
    async def open_events(
        self, session_id: str, read_timeout: float | None = None
    ) -> AsyncIterator[AsyncIterator[StreamEvent]]:
        """Open the session's SSE stream; the first event is ``connected``."""
        async with self._http.events(ops.stream_events(session_id), read_timeout) as events:
            yield events

    async def wait_for_reply(
        self,
        session_id: str,
        turn: TurnKey,
        *,
        timeout: float = REPLY_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,
        send: Call[Any] | None = None,
        supervisor: Supervisor | None = None,
        answer: Call[Any] | None = None,
    ) -> Reply:
        """Await the reply; same contract as :meth:`MixClient.wait_for_reply <.sync.MixClient.wait_for_reply>`."""
        wait = Wait.start(session_id, turn, timeout, poll_interval, supervisor)
        async with AsyncExitStack() as stack:
            events = await self._try_open_events(stack, wait)
            if send is not None:
                await self.execute(send)
            else:
                if answer is not None:
                    await self._act(wait, Step(answer=answer))
                if reply := await self._check(wait):
                    return reply
            if events is not None and (reply := await self._follow(events, wait)):
                return reply
        return await self._poll(wait)

    async def _try_open_events(self, stack: AsyncExitStack, wait: Wait) -> AsyncIterator[StreamEvent] | None:
        try:
            read_timeout = wait.stream_read_timeout(self.config.stream_timeout)
            events = await stack.enter_async_context(self.open_events(wait.session_id, read_timeout))
            async for event in events:
                if wait.connected(event):
                    return events
        except MixError as exc:
            wait.unavailable(exc)
        return None

    async def _follow(self, events: AsyncIterator[StreamEvent], wait: Wait) -> Reply | None:
        """Read events until our reply finished, checking the deadline after each one (a read stops at it).

        The requests made meanwhile (answers, totals, the transcript at the end) are :func:`urgent`.
        """
        try:
            with urgent():
                while (event := await self._next(events, wait)) is not None:
                    if (step := wait.supervise(event)) is not None:
                        await self._act(wait, step)
                    if (ended := wait.run_ended(event)) and (
                        reply := wait.after_event(ended, await self.scan_transcript(wait.session_id, wait.turn))
                    ):
                        return reply
                    if wait.deadline.passed:
                        break
        except (MixTransportError, TimeoutError) as exc:
            wait.dropped(exc)
        return None

    @staticmethod
    async def _next(events: AsyncIterator[StreamEvent], wait: Wait) -> StreamEvent | None:
        """The next event, or :class:`TimeoutError` at the deadline (a timer, not a task per event)."""
        async with asyncio.timeout(max(wait.deadline.remaining(), 0.0)):
            return await anext(events, None)

    async def _act(self, wait: Wait, step: Step) -> None:
        """Execute a supervisor's step (see :meth:`MixClient._act <.sync.MixClient._act>`)."""
        if step.usage is not None:
            step = wait.after_usage(*await self.run(step.usage))
        if step.answer is not None:
            try:
                await self.execute(step.answer)
            except MixNotFoundError as exc:
                wait.not_answered(step.answer, exc)
        if step.error is not None:
            if step.cancel:
                with suppress(MixError):
                    await self.execute(ops.cancel_session(wait.session_id))
            raise step.error

    async def _poll(self, wait: Wait) -> Reply:
        while not (reply := await self._check(wait)):
            wait.before_poll()
            await asyncio.sleep(wait.poll_interval)
        return reply

    async def _check(self, wait: Wait) -> Reply | None:
        return wait.checked(await self.scan_transcript(wait.session_id, wait.turn))

    async def close(self) -> None:
        """Close the pooled connections."""
        await self._http.close()

    async def __aenter__(self) -> AsyncMixClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
