"""The asyncio Mix client: the same call descriptions and verdicts as :mod:`.sync`, awaited."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, suppress
from types import TracebackType
from typing import Any, TypeVar

import httpx
import tenacity

from mix_provider.client import operations as ops
from mix_provider.client._http import AsyncHTTP
from mix_provider.client.config import ClientConfig
from mix_provider.client.drivers import adrive
from mix_provider.client.lanes import urgent
from mix_provider.client.operations import Call, Plan, Stepper
from mix_provider.client.retry import RetryPlan
from mix_provider.client.scan import ScannedTranscript, ascan_chunks, ascan_usage
from mix_provider.client.stream import StreamEvent
from mix_provider.client.subagents import watch_flow
from mix_provider.client.supervisor import Supervisor
from mix_provider.client.turns import Reply, TurnKey
from mix_provider.client.usage import TurnTokens, UsageShape
from mix_provider.client.wait import (
    POLL_INTERVAL,
    REPLY_TIMEOUT,
    Command,
    NextEvent,
    OpenEvents,
    Scan,
    Sleep,
    Spawn,
    Urgent,
    Wait,
    reply_flow,
)
from mix_provider.errors import MixError

T = TypeVar("T")


class AsyncMixClient:
    """The asyncio twin of :class:`~mix_provider.client.MixClient` (``async with`` closes it).

    :param config: base URL, headers, timeouts and retry policy.
    :param transport: optional async httpx transport (mock, or ``httpx.ASGITransport``).
    """

    def __init__(self, config: ClientConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.config = config
        self._http = AsyncHTTP(config, transport)
        self._usage_shape = UsageShape()

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

    async def turn_tokens(self, session_id: str, message_ids: Collection[str]) -> TurnTokens | None:
        """Async :meth:`MixClient.turn_tokens <.sync.MixClient.turn_tokens>`; not read again while this
        client knows the server sends no per-message usage (:class:`~mix_provider.client.usage.UsageShape`)."""
        async with self._usage_shape.reading():
            if not message_ids or self._usage_shape.carried() is False:
                return None
            call = ops.get_messages(session_id)
            tokens, carried = await self.consume_stream(call, lambda chunks: ascan_usage(call, chunks, message_ids))
            self._usage_shape.saw(carried)
            return tokens

    async def scan_transcript(self, session_id: str, key: TurnKey | None = None) -> ScannedTranscript:
        """Async :meth:`MixClient.scan_transcript <.sync.MixClient.scan_transcript>`."""
        call = ops.export_session(session_id)
        return await self.consume_stream(call, lambda chunks: ascan_chunks(call, chunks, key))

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
            return await adrive(reply_flow(wait, self.config.stream_timeout, send, answer), _Steps(self, stack, wait))

    async def close(self) -> None:
        """Close the pooled connections."""
        await self._http.close()

    async def __aenter__(self) -> AsyncMixClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


class _Steps:
    """How the asyncio client does each command of a flow; the SSE stream it opens lives in ``stack``.

    A read stops at ``NextEvent.timeout`` (:class:`TimeoutError`, which the flow takes for a dropped
    stream): a timer, not a task per event. :class:`Urgent` requests take the lane of turns under way
    (:func:`~mix_provider.client.lanes.urgent`) until the flow says otherwise or the wait ends.
    """

    def __init__(self, client: AsyncMixClient, stack: AsyncExitStack, wait: Wait) -> None:
        self.client = client
        self.stack = stack
        self.wait = wait
        self.events: AsyncIterator[StreamEvent] | None = None
        self.lane = ExitStack()
        stack.callback(self.lane.close)

    def spawn(self, command: Spawn) -> None:
        """Run the watch of :class:`Spawn` as a task with its own stream, cancelled when ``stack`` closes."""
        flow = watch_flow(self.wait, command.call_id, self.client.config.stream_timeout)

        async def watch() -> None:
            async with AsyncExitStack() as side:
                try:
                    await adrive(flow, _Steps(self.client, side, self.wait))
                except MixError as exc:
                    self.wait.side_errors.append(exc)

        task = asyncio.get_running_loop().create_task(watch(), name=f"mix-subagent-{command.call_id}")
        self.stack.push_async_callback(_cancelled, task)

    async def __call__(self, command: Command) -> Any:
        if isinstance(command, Call):
            return await self.client.execute(command)
        if isinstance(command, Spawn):
            return self.spawn(command)
        if isinstance(command, Scan):
            return await self.client.scan_transcript(command.session_id, command.turn)
        if isinstance(command, NextEvent):
            if self.events is None:
                return None
            async with asyncio.timeout(command.timeout):
                return await anext(self.events, None)
        if isinstance(command, Urgent):
            self.lane.close()
            if command.on:
                self.lane.enter_context(urgent())
        elif isinstance(command, OpenEvents):
            opened = self.client.open_events(command.session_id, command.read_timeout)
            self.events = await self.stack.enter_async_context(opened)
        elif isinstance(command, Sleep):
            await asyncio.sleep(command.seconds)
        else:  # CloseEvents
            await self.stack.aclose()
        return None


async def _cancelled(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it has ended."""
    task.cancel()
    with suppress(asyncio.CancelledError):
        await task
