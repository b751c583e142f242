"""Async clients shared per event loop and configuration (``client/shared.py``)."""

from __future__ import annotations

import asyncio

import pytest

from mix_provider.client import ClientConfig, shared
from mix_provider.client import operations as ops
from mix_provider.client._http import REQUEST_SLOTS, STREAMS_PER_POOL, AsyncHTTP

CONFIG = ClientConfig("http://mix.test:8088", token="t0ken-abc")


async def test_users_of_one_config_in_one_loop_share_a_client_until_the_last_lets_go() -> None:
    first, second = shared.acquire(CONFIG), shared.acquire(ClientConfig("http://mix.test:8088", token="t0ken-abc"))
    assert first is second
    other = shared.acquire(ClientConfig("http://mix.test:8088", token="another"))
    assert other is not first, "a different secret is a different configuration"
    await shared.release(first)
    await shared.release(other)
    assert shared.shared_count() == 1, "one user left"
    await shared.release(second)
    assert shared.shared_count() == 0
    with pytest.raises(RuntimeError, match="closed"):
        await first.execute(ops.health())


def test_each_event_loop_has_its_own_client() -> None:
    async def client_id() -> int:
        client = shared.acquire(CONFIG)
        await shared.release(client)
        return id(client)

    async def held() -> object:
        return shared.acquire(CONFIG)  # never released: its loop closes with it

    leaked = asyncio.run(held())
    assert shared.shared_count() == 1
    assert asyncio.run(client_id()) != id(leaked)
    assert shared.shared_count() == 0, "the entry of the closed loop was dropped"


def test_the_fingerprint_hides_the_secrets() -> None:
    digest = shared.fingerprint(CONFIG)
    assert "t0ken" not in digest and len(digest) == 64


async def test_streams_are_spread_over_small_pools_apart_from_requests() -> None:
    http = AsyncHTTP(CONFIG)
    pools = http._streams
    held = [pools.client() for _ in range(STREAMS_PER_POOL + 1)]
    clients = [await opened.__aenter__() for opened in held]
    async with http._slot_client() as requests:
        assert len(set(clients)) == 2 and requests not in clients
    for opened in held:
        await opened.__aexit__(None, None, None)
    async with pools.client() as again:
        assert again is clients[0], "a pool with room is reused"
    await http.close()


async def test_each_request_slot_has_its_own_client_of_one_connection_made_on_first_use() -> None:
    """httpcore checks every connection of a pool, and counts the idle ones for each idle one, at
    every request's start and end: pools of one connection make that one check."""
    http = AsyncHTTP(CONFIG)
    async with http._slot_client() as first:
        pass
    async with http._slot_client() as again:
        assert again is first, "a light user keeps one client and its keep-alive connection"
    held = [http._slot_client() for _ in range(REQUEST_SLOTS)]
    clients = [await opened.__aenter__() for opened in held]
    assert len(set(clients)) == REQUEST_SLOTS == len(http._clients or {})
    for opened in held:
        await opened.__aexit__(None, None, None)
    await http.close()
    with pytest.raises(RuntimeError, match="closed"):
        async with http._slot_client():
            pass
