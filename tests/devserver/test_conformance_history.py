"""Conformance with the real Mix server: ``GET /api/messages/history``.

Followed: ``recreate-run/mix`` ``mix_agent/internal/http/rest_messages.go`` ``HandleMessageHistory``
(commit e2dc02ec: ``limit`` default 50, used when positive, ``offset`` default 0, used when not
negative, a value that does not parse falls back to the default, never a 400; the rows of
``convertMessagesToData``) and ``db/sql/messages.sql`` ``ListUserMessageHistory`` (commit 2a6de68b:
``WHERE role = 'user' ORDER BY created_at DESC LIMIT ? OFFSET ?``, every session). Runs over real
sockets against the devserver process, on both generations.
"""

from __future__ import annotations

import time

import httpx
import pytest

from mix_provider.devserver.testing import MixDevServer

from .devserver_sse import create_session, send_and_wait

pytestmark = pytest.mark.parametrize("fresh_mix_server", ["current", "legacy"], indirect=True)


async def test_history_pages_user_messages_of_every_session(fresh_mix_server: MixDevServer) -> None:
    with httpx.Client(base_url=fresh_mix_server.base_url, timeout=30) as http:
        first, second = create_session(http, "first"), create_session(http, "second")
        await send_and_wait(fresh_mix_server.base_url, first, "older question [[tool]]")
        time.sleep(1.1)  # created_at has whole-second resolution: keep the order unambiguous
        await send_and_wait(fresh_mix_server.base_url, second, "newer question")
        history = http.get("/api/messages/history")
        assert history.status_code == 200
        rows = history.json()
        assert [(r["sessionId"], r["role"], r["userInput"]) for r in rows] == [
            (second, "user", "newer question"),
            (first, "user", "older question [[tool]]"),
        ]
        assert all("assistantResponse" not in r and "toolCalls" not in r for r in rows)
        page = http.get("/api/messages/history", params={"limit": 1, "offset": 1}).json()
        assert [r["sessionId"] for r in page] == [first]
        assert http.get("/api/messages/history", params={"offset": 2}).json() == []


@pytest.mark.parametrize(
    ("params", "count"),
    [
        ({"limit": "0"}, 2),
        ({"limit": "-3"}, 2),
        ({"limit": "many"}, 2),
        ({"limit": " 1"}, 2),
        ({"limit": "+1"}, 1),
        ({"limit": "1", "offset": "-1"}, 1),
        ({"limit": "1", "offset": "x"}, 1),
        ({"limit": "99999999999999999999"}, 2),
    ],
)
async def test_history_bad_paging_falls_back_to_defaults(
    fresh_mix_server: MixDevServer, params: dict[str, str], count: int
) -> None:
    with httpx.Client(base_url=fresh_mix_server.base_url, timeout=30) as http:
        for title in ("a", "b"):
            await send_and_wait(fresh_mix_server.base_url, create_session(http, title), f"hello {title}")
        response = http.get("/api/messages/history", params=params)
        assert response.status_code == 200 and len(response.json()) == count
