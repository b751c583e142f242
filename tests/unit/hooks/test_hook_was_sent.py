"""Whether an earlier try sent our message: the session's count first, the transcript only when it grew."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from mix_provider.client import TurnKey
from mix_provider.hooks.mix import MixHook

OURS = "run the checks"


def server(users: int, texts: list[str], seen: list[str]) -> httpx.MockTransport:
    """A session holding ``users`` user messages (``texts``, each answered), recording the paths asked for."""
    rows = []
    for index, text in enumerate(texts):
        rows.append({"id": f"u{index}", "role": "user", "content": text})
        rows.append({"id": f"a{index}", "role": "assistant", "content": "done", "finishReason": "end_turn"})

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.endswith("/export"):
            return httpx.Response(200, content=json.dumps({"id": "s1", "title": "t", "messages": rows}).encode())
        body = {"id": "s1", "title": "t", "createdAt": "2026-01-01T00:00:00Z", "userMessageCount": users}
        return httpx.Response(200, json=body)

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    ("users", "texts", "sent", "paths"),
    [
        (1, ["earlier"], False, ["/api/sessions/s1"]),  # nothing since the baseline: no transcript read
        (2, ["earlier", OURS], True, ["/api/sessions/s1", "/api/sessions/s1/export"]),
        (2, ["earlier", "someone else's"], False, ["/api/sessions/s1", "/api/sessions/s1/export"]),
    ],
    ids=["not-yet", "sent", "another-message"],
)
async def test_was_sent_twins(
    mix_conn: Callable[..., str], users: int, texts: list[str], sent: bool, paths: list[str]
) -> None:
    key = TurnKey.of(1, OURS)
    seen: list[str] = []
    transport = server(users, texts, seen)
    hook = MixHook(mix_conn(), transport=transport, async_transport=transport)
    try:
        assert hook.was_sent("s1", key) is sent
        assert await hook.awas_sent("s1", key) is sent
    finally:
        await hook.aclose()
    assert seen == paths + paths
