"""A plain Python client of the Mix REST API (no Airflow imports).

Calls are described once in :mod:`.operations` and executed by :class:`MixClient` (blocking) or
:class:`AsyncMixClient` (asyncio)::

    from mix_provider.client import ClientConfig, MixClient, operations as ops

    with MixClient(ClientConfig("http://127.0.0.1:8088")) as client:
        session = client.execute(ops.create_session("nightly report"))
"""

from __future__ import annotations

from mix_provider.client import operations
from mix_provider.client.aio import AsyncMixClient
from mix_provider.client.config import ClientConfig, RetryPolicy, build_base_url
from mix_provider.client.options import MessageOptions, SessionSpec
from mix_provider.client.stream import StreamEvent
from mix_provider.client.sync import MixClient
from mix_provider.client.turns import Reply, TurnKey
from mix_provider.client.wait import POLL_INTERVAL, REPLY_TIMEOUT

__all__ = [
    "POLL_INTERVAL",
    "REPLY_TIMEOUT",
    "AsyncMixClient",
    "ClientConfig",
    "MessageOptions",
    "MixClient",
    "Reply",
    "RetryPolicy",
    "SessionSpec",
    "StreamEvent",
    "TurnKey",
    "build_base_url",
    "operations",
]
