"""The hook's permission and notification answers, sync and async, on a mock transport."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from mix_provider.errors import MixNotFoundError
from mix_provider.hooks.mix import MixHook


def handler(request: httpx.Request) -> httpx.Response:
    """Grant/deny always 200 (as the real server), respond 204 for ``n1`` and a plain-text 404 otherwise."""
    path = request.url.path
    if path.startswith("/api/permissions/"):
        status = "granted" if path.endswith("/grant") else "denied"
        return httpx.Response(200, json={"id": path.split("/")[3], "message": "ok", "status": status})
    if path == "/api/notifications/n1/respond":
        return httpx.Response(204)
    return httpx.Response(404, text="Notification not found or already responded")


def _hook(mix_conn: Callable[..., str]) -> MixHook:
    transport = httpx.MockTransport(handler)
    return MixHook(mix_conn(), transport=transport, async_transport=transport)


def test_sync_answers(mix_conn: Callable[..., str]) -> None:
    with _hook(mix_conn) as hook:
        assert hook.grant_permission("p1").status == "granted"
        assert hook.deny_permission("p1").status == "denied"
        hook.respond_to_notification("n1", "choice", "no")
        with pytest.raises(MixNotFoundError, match="Notification not found or already responded"):
            hook.respond_to_notification("gone", "acknowledge")


async def test_async_answers(mix_conn: Callable[..., str]) -> None:
    hook = _hook(mix_conn)
    try:
        assert (await hook.agrant_permission("p1")).status == "granted"
        assert (await hook.adeny_permission("p1")).status == "denied"
        await hook.arespond_to_notification("n1", "text", "fine")
    finally:
        await hook.aclose()
