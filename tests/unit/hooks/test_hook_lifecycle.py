"""MixHook lifecycle: one connection lookup, one pooled client, closing, and ``test_connection``."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mix_provider.client import operations as ops
from mix_provider.client import shared
from mix_provider.hooks.mix import MixHook
from support.fakes import Recorder

HEALTH = {"status": "ok", "version": "1.2.3"}
ANTHROPIC = {"authenticated": True, "auth_method": "api_key", "display_name": "Anthropic"}
NO_OPENAI = {"authenticated": False, "auth_method": "none", "display_name": "OpenAI"}


def handler(request: httpx.Request) -> httpx.Response:
    """A tiny Mix: health, Anthropic configured, an empty session list, 503 for anything else."""
    if request.url.path == "/health":
        return httpx.Response(200, json=HEALTH)
    if request.url.path == "/api/auth/status":
        return httpx.Response(200, json={"providers": {"anthropic": ANTHROPIC, "openai": NO_OPENAI}})
    if request.url.path == "/api/sessions":
        return httpx.Response(200, json=[])
    return httpx.Response(503, json={"error": {"code": 503, "message": "down", "type": "internal_error"}})


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count the hook's sync and async connection lookups."""
    counts: Counter[str] = Counter()
    sync_lookup, async_lookup = MixHook.get_connection, MixHook.aget_connection

    def get_connection(cls: type[MixHook], conn_id: str) -> Any:
        counts["sync"] += 1
        return sync_lookup(conn_id)

    async def aget_connection(cls: type[MixHook], conn_id: str) -> Any:
        counts["async"] += 1
        return await async_lookup(conn_id)

    monkeypatch.setattr(MixHook, "get_connection", classmethod(get_connection))
    monkeypatch.setattr(MixHook, "aget_connection", classmethod(aget_connection))
    return counts


def make_hook(conn_id: str, **kwargs: Any) -> MixHook:
    """A hook on ``conn_id`` whose clients talk to :func:`handler`."""
    transport = httpx.MockTransport(handler)
    return MixHook(conn_id, transport=transport, async_transport=transport, **kwargs)


def test_connection_is_read_once_and_one_client_serves_all_calls(
    mix_conn: Callable[..., str], lookups: Counter[str]
) -> None:
    hook = make_hook(mix_conn())
    assert lookups["sync"] == 0  # nothing is read before the first call
    client = hook.client
    hook.health()
    hook.list_sessions()
    assert hook.health().version == "1.2.3"
    assert hook.client is client
    assert lookups == Counter(sync=1)


async def test_async_client_is_built_once(mix_conn: Callable[..., str], lookups: Counter[str]) -> None:
    hook = make_hook(mix_conn())
    client = await hook.aclient()
    assert await hook.alist_sessions() == []
    assert await hook.aclient() is client
    assert hook.list_sessions() == []  # the sync client reuses the configuration read asynchronously
    assert lookups == Counter({"async": 1})
    await hook.aclose()


async def test_concurrent_first_calls_share_one_async_client(mix_conn: Callable[..., str]) -> None:
    hook = make_hook(mix_conn())
    clients = await asyncio.gather(*(hook.aclient() for _ in range(5)))
    assert all(client is clients[0] for client in clients)  # none built and leaked while awaiting the lookup
    await hook.aclose()


async def test_sync_configuration_is_reused_by_the_async_client(
    mix_conn: Callable[..., str], lookups: Counter[str]
) -> None:
    hook = make_hook(mix_conn())
    hook.health()
    assert await hook.alist_sessions() == []
    assert lookups == Counter(sync=1)
    await hook.aclose()


def test_context_manager_closes_the_client(mix_conn: Callable[..., str]) -> None:
    with make_hook(mix_conn()) as hook:
        client = hook.client
        hook.health()
    with pytest.raises(RuntimeError, match="closed"):
        client.execute(ops.health())


async def test_aclose_closes_both_clients(mix_conn: Callable[..., str]) -> None:
    hook = make_hook(mix_conn())
    sync_client, async_client = hook.client, await hook.aclient()
    await hook.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        sync_client.execute(ops.health())
    with pytest.raises(RuntimeError, match="closed"):
        await async_client.execute(ops.health())
    assert await hook.aclient() is not async_client  # a closed hook opens a fresh client on demand
    await hook.aclose()


def test_per_hook_overrides_win(mix_conn: Callable[..., str]) -> None:
    conn_id = mix_conn(extra={"timeout": 40, "max_retries": 4, "retry_max_wait": 8})
    hook = make_hook(conn_id, timeout=2.5, max_retries=0)
    assert (hook.config.read_timeout, hook.config.retry.max_retries, hook.config.retry.max_wait) == (2.5, 0, 8.0)


def test_connection_fields_reach_the_client(mix_conn: Callable[..., str]) -> None:
    recorder = Recorder(handler)
    seen = recorder.requests
    conn_id = mix_conn(host="mix.internal", port=9001, password="t0ken-abc", extra={"headers": {"X-Org": "acme1"}})
    hook = MixHook(conn_id, transport=recorder.transport())
    hook.health()
    assert str(seen[0].url) == "http://mix.internal:9001/health"
    assert seen[0].headers["authorization"] == "Bearer t0ken-abc"
    assert seen[0].headers["x-org"] == "acme1"


def test_test_connection_reports_version(mix_conn: Callable[..., str]) -> None:
    ok, message = make_hook(mix_conn()).test_connection()
    assert ok is True
    assert "1.2.3" in message and "http://mix.test:8088" in message
    assert message.endswith("LLM provider configured: Anthropic (api_key)")


def _tiny_mix(auth: httpx.Response) -> httpx.MockTransport:
    """:func:`handler`, with ``auth`` as the answer of ``GET /api/auth/status``."""
    return httpx.MockTransport(lambda request: auth if request.url.path == "/api/auth/status" else handler(request))


def test_test_connection_fails_without_an_llm_provider(mix_conn: Callable[..., str]) -> None:
    """``/health`` answers 200 on a server without LLM credentials: the check must not stop there."""
    none = httpx.Response(200, json={"providers": {"openai": NO_OPENAI}})
    ok, message = MixHook(mix_conn(), transport=_tiny_mix(none)).test_connection()
    assert ok is False
    assert "version 1.2.3" in message and "no LLM provider is configured" in message and "401" in message


def test_test_connection_on_a_server_without_the_auth_route(mix_conn: Callable[..., str]) -> None:
    missing = httpx.Response(404, text="404 page not found")
    ok, message = MixHook(mix_conn(), transport=_tiny_mix(missing)).test_connection()
    assert ok is True
    assert message.endswith("LLM providers not checked (the server has no GET /api/auth/status)")


def test_test_connection_failure_does_not_retry(mix_conn: Callable[..., str]) -> None:
    seen: list[httpx.Request] = []

    def down(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(503, json={"error": {"code": 503, "message": "maintenance", "type": "internal_error"}})

    hook = MixHook(mix_conn(extra={"max_retries": 5}), transport=httpx.MockTransport(down))
    ok, message = hook.test_connection()
    assert ok is False
    assert "503" in message and "maintenance" in message
    assert len(seen) == 1


def test_test_connection_reports_bad_settings(mix_conn: Callable[..., str]) -> None:
    ok, message = make_hook(mix_conn(host="ftp://mix")).test_connection()
    assert ok is False
    assert "host" in message


async def test_hooks_of_one_connection_share_one_async_client(mix_conn: Callable[..., str]) -> None:
    conn_id = mix_conn()
    first, second, other = MixHook(conn_id), MixHook(conn_id), MixHook(mix_conn("mix_other", password="s3cret-other"))
    client = await first.aclient()
    assert await second.aclient() is client, "a triggerer's waits share one pool"
    assert await other.aclient() is not client
    for hook in (first, second, other):
        await hook.aclose()
    assert shared.shared_count() == 0, "the last user closed it"
