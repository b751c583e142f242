"""Fixtures of the client unit tests (no sockets).

``run`` executes a call with the sync or the async client, so each test using it runs twice;
``waits`` records the backoff sleeps instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from mix_fake import FakeMix, Runner, config

from mix_provider.client import AsyncMixClient, ClientConfig, MixClient
from mix_provider.client.operations import Call


@pytest.fixture
def fake() -> FakeMix:
    """An empty scripted server."""
    return FakeMix()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Record the seconds tenacity (and the reply pollers) would sleep; sleep not at all."""
    slept: list[float] = []

    async def _asleep(seconds: float, result: Any = None) -> Any:
        slept.append(seconds)
        return result

    monkeypatch.setattr(time, "sleep", slept.append)
    monkeypatch.setattr(asyncio, "sleep", _asleep)
    yield slept


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest, fake: FakeMix) -> Runner:
    """Execute one call with a fresh sync or async client on ``fake``; ``retry`` fields tune the policy."""

    def _run(call: Call[Any], cfg: ClientConfig | None = None, **retry: Any) -> Any:
        cfg = cfg or config(**retry)
        if request.param == "sync":
            with MixClient(cfg, transport=fake.transport()) as client:
                return client.execute(call)

        async def _main() -> Any:
            async with AsyncMixClient(cfg, transport=fake.transport()) as client:
                return await client.execute(call)

        return asyncio.run(_main())

    return _run
