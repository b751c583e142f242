"""Many sessions streaming at once."""

from __future__ import annotations

import asyncio

import httpx

from mix_provider.devserver.testing import MixDevServer

from .devserver_sse import reply_events

SESSIONS = 50


async def test_fifty_sessions_stream_at_once(mix_server: MixDevServer) -> None:
    limits = httpx.Limits(max_connections=2 * SESSIONS + 10)
    async with httpx.AsyncClient(base_url=mix_server.base_url, timeout=60, limits=limits, verify=False) as client:
        body = {"title": "crowd", "browserMode": "local-browser-service"}
        created = await asyncio.gather(*(client.post("/api/sessions", json=body) for _ in range(SESSIONS)))
        ids = [response.json()["id"] for response in created]

        async def one(session_id: str, index: int) -> str:
            async def send() -> None:
                response = await client.post(
                    f"/api/sessions/{session_id}/messages", json={"text": f"hello {index} [[delay:500]]"}
                )
                assert response.status_code == 202

            events = await reply_events(client, session_id, send, timeout=60)
            assert events[-1][0] == "complete"
            return str(events[-1][1]["content"])

        replies = await asyncio.gather(*(one(session_id, i) for i, session_id in enumerate(ids)))
    assert replies == [f"You said: hello {i}" for i in range(SESSIONS)]
