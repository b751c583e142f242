"""Async clients shared per event loop and configuration: one connection pool for a triggerer's waits.

A triggerer runs every trigger's ``run()`` as a coroutine of one event loop, and each trigger builds
its own hook: without sharing, 1,000 waits would be 1,000 ``httpx.AsyncClient`` pools, each with its
idle connections. :func:`acquire` hands out one :class:`~mix_provider.client.AsyncMixClient` per
(running loop, configuration), counting its users; :func:`release` closes it when the last one lets
go. A client belongs to its loop: entries whose loop has closed are dropped. Configurations are told
apart by a digest of every setting (secrets included), which is never logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from dataclasses import dataclass

from mix_provider.client.aio import AsyncMixClient
from mix_provider.client.config import ClientConfig


@dataclass
class _Entry:
    loop: asyncio.AbstractEventLoop
    client: AsyncMixClient
    users: int = 0


_SHARED: dict[tuple[int, str], _Entry] = {}
_LOCK = threading.Lock()  # loops in other threads (tests, embedded runners) use the registry too


def fingerprint(config: ClientConfig) -> str:
    """A digest of every setting of ``config``: configurations that differ in anything never share."""
    parts = (
        config.base_url,
        config.token,
        sorted(config.headers.items()),
        config.connect_timeout,
        config.read_timeout,
        config.stream_timeout,
        config.verify_ssl,
        config.retry,
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def acquire(config: ClientConfig) -> AsyncMixClient:
    """The running loop's client for ``config``, created on first use; :func:`release` it when done."""
    loop = asyncio.get_running_loop()
    key = (id(loop), fingerprint(config))
    with _LOCK:
        for stale in [key for key, entry in _SHARED.items() if entry.loop.is_closed()]:
            del _SHARED[stale]  # its client cannot be closed any more; its sockets went with the loop
        entry = _SHARED.get(key)
        if entry is None:
            entry = _SHARED[key] = _Entry(loop, AsyncMixClient(config))
        entry.users += 1
        return entry.client


async def release(client: AsyncMixClient) -> None:
    """Let go of ``client``: the last user of a shared client closes it; a client not shared is closed."""
    with _LOCK:
        for key, entry in _SHARED.items():
            if entry.client is client:
                entry.users -= 1
                if entry.users > 0:
                    return
                del _SHARED[key]
                break
    await client.close()


def shared_count() -> int:
    """How many shared clients are open (for tests and diagnostics)."""
    return len(_SHARED)
