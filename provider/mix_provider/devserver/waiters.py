"""Requests that block a run until a client answers them, or until they time out.

The real services keep one buffered channel per pending request in a ``sync.Map`` keyed by
its id, delete it when the request returns, and read at most one answer
(``permission/permission.go`` ``permissionService.Request``, ``notification/notification.go``
``notificationService.Request``). :class:`Waiters` is that map for the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class Waiters(Generic[T]):
    """Pending requests by id, each answered at most once."""

    def __init__(self) -> None:
        self._pending: dict[str, asyncio.Future[T]] = {}

    def open(self, request_id: str) -> asyncio.Future[T]:
        """Register a request before it is announced, so that an immediate answer finds it."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        return future

    async def wait(self, request_id: str, future: asyncio.Future[T], timeout_s: float) -> T | None:
        """Return the answer, or ``None`` after ``timeout_s``; the request is forgotten either way,
        also when the waiting run is cancelled."""
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            return None
        finally:
            self._pending.pop(request_id, None)

    def answer(self, request_id: str, value: T) -> bool:
        """Deliver an answer; return whether a request was waiting for one (the first answer wins)."""
        future = self._pending.get(request_id)
        if future is None or future.done():
            return False
        future.set_result(value)
        return True
