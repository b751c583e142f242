"""The request slots of an async client, with lanes for turns already under way and turns ending.

A triggerer's waits share one client and its few request slots (:data:`._http.REQUEST_SLOTS`). When
many turns start together (a mapped task deferring), their first requests (the check for an earlier
send, the send) queue for those slots; a turn whose reply ended meanwhile would queue behind all of
them, and its end be seen seconds late. The requests a task makes while following a turn (its
answers, totals and the transcript read after the end: :func:`urgent`) take a freed slot before any
other but those of a turn whose reply was found (:func:`finishing`: what its result still needs).
Without that lane a thousand replies ending at once would each queue their last request behind the
other turns' transcript reads, and every turn would fire only once all of them were read. The
number of requests in flight stays bounded by the slots either way.
"""

from __future__ import annotations

import asyncio
import heapq
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from contextvars import ContextVar

#: The lanes, first served first: a turn whose reply was found, turns under way, the rest.
FINISHING, UNDER_WAY, OTHER = range(3)
_LANE: ContextVar[int] = ContextVar("mix_request_lane", default=OTHER)


@contextmanager
def _lane(lane: int) -> Iterator[None]:
    token = _LANE.set(lane)
    try:
        yield
    finally:
        _LANE.reset(token)


def urgent() -> AbstractContextManager[None]:
    """Inside the block, the requests of this task (and of the tasks it starts) go before others."""
    return _lane(UNDER_WAY)


def finishing() -> AbstractContextManager[None]:
    """Inside the block, the requests of this task go first of all: its reply was found, and the
    turn's result waits only for them."""
    return _lane(FINISHING)


class Slots:
    """``size`` requests at a time, each holding one numbered slot (``0`` to ``size - 1``); a freed slot
    goes to the oldest waiter of the first lane that has one. The lowest free numbers are used first,
    so a light user keeps using slot 0 (and whatever the number stands for, e.g. a connection).

    :param size: the requests in flight at most.
    """

    def __init__(self, size: int) -> None:
        self._free = list(range(size))  # a heap: the lowest number first
        self._waiting: tuple[deque[asyncio.Future[int]], ...] = tuple(deque() for _ in range(OTHER + 1))

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[int]:
        """Hold one slot for the block (waiting for it in this task's lane); its number."""
        slot = await self._acquire(_LANE.get())
        try:
            yield slot
        finally:
            self._release(slot)

    async def _acquire(self, lane: int) -> int:
        if self._free:  # a free slot means nobody waits: freed slots are handed over directly
            return heapq.heappop(self._free)
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting[lane].append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if not waiter.cancelled():  # handed a slot as it was cancelled: pass it on
                self._release(waiter.result())
            raise  # a cancelled waiter stays queued, done, and is skipped

    def _release(self, slot: int) -> None:
        for queue in self._waiting:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(slot)
                    return
        heapq.heappush(self._free, slot)
