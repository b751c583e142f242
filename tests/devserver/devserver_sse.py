"""Helpers for the devserver tests: create sessions and read SSE replies with httpx."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from httpx_sse import aconnect_sse

Event = tuple[str, dict[str, Any]]


def create_session(http: httpx.Client, title: str = "test") -> str:
    """Create a session and return its id."""
    body = {"title": title, "browserMode": "local-browser-service"}
    response = http.post("/api/sessions", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def is_final(name: str, data: dict[str, Any]) -> bool:
    """Tell whether an event ends a reply: top-level ``complete``, or ``error``."""
    return (name == "complete" and "parentToolCallId" not in data) or name == "error"


async def reply_events(
    client: httpx.AsyncClient, session_id: str, send: Callable[[], Awaitable[Any]], timeout: float = 30
) -> list[Event]:
    """Open the stream, wait for ``connected``, call ``send``, return events up to the final one."""
    events: list[Event] = []
    async with aconnect_sse(client, "GET", "/stream", params={"sessionId": session_id}, timeout=timeout) as source:
        stream = source.aiter_sse()
        first = await anext(stream)
        assert first.event == "connected"
        await send()
        async for sse in stream:
            events.append((sse.event, sse.json()))
            if is_final(sse.event, events[-1][1]):
                break
    return events


async def send_and_wait(base_url: str, session_id: str, text: str, timeout: float = 30, **fields: Any) -> list[Event]:
    """Send ``text`` (and any other body ``fields``) to a session and return the reply's events."""
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, verify=False) as client:

        async def send() -> None:
            response = await client.post(f"/api/sessions/{session_id}/messages", json={"text": text, **fields})
            assert response.status_code == 202, response.text

        return await reply_events(client, session_id, send, timeout)


React = Callable[[httpx.AsyncClient, str, dict[str, Any]], Awaitable[None]]
"""Called with each event (name, data) as it arrives, e.g. to answer a ``permission`` event."""


async def converse(base_url: str, session_id: str, text: str, react: React, timeout: float = 30) -> list[Event]:
    """Send ``text``, let ``react`` answer the events as they arrive, return them up to the final one."""
    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, verify=False) as client:
        events: list[Event] = []
        params = {"sessionId": session_id}
        async with aconnect_sse(client, "GET", "/stream", params=params, timeout=timeout) as source:
            stream = source.aiter_sse()
            assert (await anext(stream)).event == "connected"
            response = await client.post(f"/api/sessions/{session_id}/messages", json={"text": text})
            assert response.status_code == 202, response.text
            async for sse in stream:
                events.append((sse.event, sse.json()))
                await react(client, *events[-1])
                if is_final(*events[-1]):
                    break
        return events


def named(events: list[Event], name: str) -> list[dict[str, Any]]:
    """Return the data of the events called ``name``, in order."""
    return [data for event, data in events if event == name]
