"""The asyncio Mix client: the same call descriptions and verdicts as :mod:`.sync`, awaited."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any, TypeVar

import httpx
import tenacity

from mix_provider.client import operations as ops
from mix_provider.client._http import AsyncHTTP
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
                    if plan.must_reconcile and (settled := await self._settle(call, plan)) is not None:
                        return settled
                    return await self._http.request(call)
        except MixError as exc:
            if call.if_gone is not None and plan.gone_after_lost_answer(exc):
                return call.if_gone()
            final = plan.final_error(exc)
            if final is exc:
                raise
            raise final from exc
        raise AssertionError("tenacity neither returned nor raised")  # pragma: no cover

    async def _settle(self, call: Call[T], plan: RetryPlan) -> T | None:
        assert call.reconcile is not None
        found = call.reconcile.match(await self.execute(call.reconcile.lookup))
        if found is not None:
            log.warning("Mix %s %s had been applied before its answer was lost; using it", call.method, call.path)
        else:
            plan.not_applied()
        return found

    @asynccontextmanager
    async def open_stream(self, call: Call[Any]) -> AsyncIterator[AsyncIterator[bytes]]:
        """Open ``call`` (e.g. ``ops.export_session``) and yield its body as byte chunks, unparsed."""
        async with self._http.stream(call) as chunks:
            yield chunks

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
        send: Call[Any] | None = None,
        timeout: float = 3600.0,
        poll_interval: float = 1.0,
    ) -> Reply:
        """Await the reply; same contract as :meth:`MixClient.wait_for_reply <.sync.MixClient.wait_for_reply>`."""
        timeout = positive_number("timeout", timeout)
        poll_interval = positive_number("poll_interval", poll_interval)
        deadline = Deadline.after(timeout)
        async with AsyncExitStack() as stack:
            events = await self._try_open_events(stack, session_id, timeout)
            if send is not None:
                await self.execute(send)
            elif reply := await self._check(session_id, turn):
                return reply
            if events is not None and (reply := await self._follow(events, session_id, turn, deadline)):
                return reply
        return await self._poll(session_id, turn, deadline, poll_interval)

    async def _try_open_events(
        self, stack: AsyncExitStack, session_id: str, timeout: float
    ) -> AsyncIterator[StreamEvent] | None:
        try:
            cm = self.open_events(session_id, min(timeout, self.config.stream_timeout))
            events = await stack.enter_async_context(cm)
            async for event in events:
                if event.event == "connected":
                    return events
                if refusal := stream_refusal(session_id, event):
                    raise refusal
        except MixError as exc:
            if not is_transient(exc):
                raise
            log.warning("Mix stream for session %s unavailable (%s); polling instead", session_id, exc)
        return None

    async def _follow(
        self, events: AsyncIterator[StreamEvent], session_id: str, turn: TurnKey, deadline: Deadline
    ) -> Reply | None:
        try:
            while (event := await asyncio.wait_for(anext(events, None), max(deadline.remaining(), 0.0))) is not None:
                verdict = judge_event(event)
                if verdict.done and (
                    reply := reply_after(verdict, (await self._export(session_id)).messages, turn, session_id)
                ):
                    return reply
        except (MixTransportError, asyncio.TimeoutError) as exc:
            log.warning("Mix stream for session %s ended (%r); polling the transcript", session_id, exc)
        return None

    async def _poll(self, session_id: str, turn: TurnKey, deadline: Deadline, interval: float) -> Reply:
        while not (reply := await self._check(session_id, turn)):
            if deadline.remaining() < interval:
                raise MixReplyTimeoutError(session_id, deadline.total)
            await asyncio.sleep(interval)
        return reply

    async def _check(self, session_id: str, turn: TurnKey) -> Reply | None:
        return finished_reply((await self._export(session_id)).messages, turn, session_id)

    async def _export(self, session_id: str) -> ExportSession:
        return await self.execute(ops.export_session(session_id))

    async def close(self) -> None:
        """Close the pooled connections."""
        await self._http.close()

    async def __aenter__(self) -> AsyncMixClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
