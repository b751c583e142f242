"""The request slots of an async client, with a lane for turns already under way.

A triggerer's waits share one client and its few request slots (:data:`._http.REQUEST_SLOTS`). When
many turns start together (a mapped task deferring), their first requests (the check for an earlier
send, the send) queue for those slots; a turn whose reply ended meanwhile would queue behind all of
them, and its end be seen seconds late. The requests a task makes while following a turn (its
answers, totals and the transcript read after the end: :func:`urgent`) take a freed slot before any
other; the number of requests in flight stays bounded by the slots either way.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar

_URGENT: ContextVar[bool] = ContextVar("mix_urgent_requests", default=False)


@contextmanager
def urgent() -> Iterator[None]:
    """Inside the block, the requests of this task (and of the tasks it starts) go first."""
    token = _URGENT.set(True)
    try:
        yield
    finally:
        _URGENT.reset(token)


class Slots:
    """``size`` requests at a time; a freed slot goes to the oldest urgent waiter, else the oldest other.

    :param size: the requests in flight at most.
    """

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (deque(), deque())

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Hold one slot for the block (waiting for it in this task's lane)."""
        await self._acquire(_URGENT.get())
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, first: bool) -> None:
        if self._free > 0:  # a free slot means nobody waits: freed slots are handed over directly
            self._free -= 1
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting[0 if first else 1].append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if not waiter.cancelled():  # handed a slot as it was cancelled: pass it on
                self._release()
            raise  # a cancelled waiter stays queued, done, and is skipped

    def _release(self) -> None:
        for queue in self._waiting:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free += 1
