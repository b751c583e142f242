"""Conformance with the real Mix server: the SSE stream, its events and cancellation.

Each test names the Go test or handler of ``recreate-run/mix`` (``mix_agent/internal/``)
it is derived from. They run over real sockets against the devserver process.
"""

from __future__ import annotations

import asyncio

import httpx

from mix_provider.devserver.testing import MixDevServer

from .devserver_sse import Event, create_session, reply_events, send_and_wait
from .test_conformance_sessions import STREAM_HEADERS, TRANSPORT_HEADERS


def _app_headers(response: httpx.Response) -> dict[str, str]:
    """Return the response headers but those Go's ``net/http`` adds itself (``Date``, chunking)."""
    return {k: v for k, v in response.headers.items() if k not in TRANSPORT_HEADERS}


def _raw_events(text: str) -> list[dict[str, str]]:
    """Parse an SSE body into its events' fields."""
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append(fields)
    return events


def test_stream_for_unknown_session_is_one_error_event(http: httpx.Client) -> None:
    """``http/sse_integration_test.go::TestSSEErrorHandling`` (``sse.go`` ``HandleSSEStream``):
    200, one ``error`` event ``Invalid session ID: <id>``, then the stream closes."""
    response = http.get("/stream", params={"sessionId": "no-such-session"}, timeout=10)
    assert response.status_code == 200
    assert _app_headers(response) == STREAM_HEADERS
    assert _raw_events(response.text) == [
        {"id": "1", "event": "error", "data": '{"error":"Invalid session ID: no-such-session"}', "retry": "750"}
    ]


def test_stream_headers_ids_and_retry(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``http/sse.go::HandleSSEStream`` and ``sse_events.go::SSEWriter.WriteEvent``: exactly the
    headers ``HandleSSEStream`` sets (``Content-Type``, ``Cache-Control``, ``Connection`` and two
    CORS headers), ids counted per connection from 1 (``connected`` is 1), ``retry: 30000``."""
    for _ in range(2):
        session_id = create_session(http)
        with http.stream("GET", "/stream", params={"sessionId": session_id}, timeout=10) as response:
            assert _app_headers(response) == STREAM_HEADERS
            lines = response.iter_lines()
            first = [next(lines) for _ in range(4)]
            http.post(f"/api/sessions/{session_id}/messages", json={"text": "ids"})
            second = [next(lines) for _ in range(5)]
        assert first == ["id: 1", "event: connected", f'data: {{"sessionId":"{session_id}"}}', "retry: 30000"]
        assert second[:3] == ["", "id: 2", "event: user_message_created"]
        assert second[4] == "retry: 30000"


async def test_user_message_created_and_complete_payloads(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``http/rest_messages_broadcast.go::BroadcastAgentEventToSSE`` with ``sse_events.go``
    ``UserMessageCreatedEvent`` and ``CompleteEvent``: the user message's id and text; a
    ``complete`` without finish reason, tokens or cost."""
    session_id = create_session(http)
    events = await send_and_wait(mix_server.base_url, session_id, "payloads please")
    messages = http.get(f"/api/sessions/{session_id}/messages").json()
    assert events[0] == (
        "user_message_created",
        {"type": "user_message_created", "messageId": messages[0]["id"], "content": "payloads please"},
    )
    name, complete = events[-1]
    assert name == "complete" and set(complete) == {"type", "content", "messageId", "done", "reasoning"}
    assert complete["messageId"] == messages[1]["id"] and complete["content"] == "You said: payloads please"
    assert complete["done"] is True and complete["type"] == "complete"


async def test_tool_run_events(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``llm/agent/agent.go::streamAndHandleEvents`` and ``tools.go``: tool declaration events
    carry the round's assistant message id; execution progress reads ``Executing Bash tool``."""
    session_id = create_session(http)
    events = await send_and_wait(mix_server.base_url, session_id, "tools [[tool]]")
    messages = http.get(f"/api/sessions/{session_id}/messages").json()
    tool_round, final = messages[1]["id"], messages[3]["id"]
    start = next(data for name, data in events if name == "tool_use_start")
    assert start["assistantMessageId"] == tool_round and start["name"] == "Bash"
    running = next(data for name, data in events if name == "tool_execution_start")
    assert running == {
        "type": "tool_execution_start",
        "toolName": "",
        "progress": "Executing Bash tool",
        "toolCallId": start["id"],
    }
    done = next(data for name, data in events if name == "tool_execution_complete")
    assert done["success"] is True and done["progress"].startswith("Completed Bash tool")
    content = [data for name, data in events if name == "content"]
    assert content and all(data["assistantMessageId"] == final for data in content)
    assert events[-1][1]["messageId"] == final


async def test_cancel_ends_stream_with_error(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``http/rest_messages.go::HandleCancelAgent`` + ``processAgentEvents`` and
    ``agent.go::processGeneration``: the run ends with ``error`` "request cancelled by user"
    (broadcast twice: the final error event, then ``broadcastErrorToSSE``), no top-level
    ``complete``, and the assistant message is stored with ``finishReason: canceled``."""
    session_id = create_session(http)
    received: list[Event] = []
    async with httpx.AsyncClient(base_url=mix_server.base_url, timeout=30) as client:

        async def send_then_cancel() -> None:
            await client.post(f"/api/sessions/{session_id}/messages", json={"text": "long [[delay:3000]]"})
            await asyncio.sleep(0.4)
            response = await client.post(f"/api/sessions/{session_id}/cancel")
            assert response.status_code == 200
            assert response.json() == {"status": "cancelled", "sessionId": session_id}

        received = await reply_events(client, session_id, send_then_cancel)
    assert received[-1] == ("error", {"error": "request cancelled by user"})
    assert not [data for name, data in received if name == "complete" and "parentToolCallId" not in data]
    export = http.get(f"/api/sessions/{session_id}/export").json()
    last = export["messages"][-1]
    assert last["role"] == "assistant" and last["finishReason"] == "canceled"
    streamed = "".join(data["content"] for name, data in received if name == "content")
    assert last["content"] == streamed


async def test_cancel_error_is_sent_twice(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``http/rest_messages.go::processAgentEvents``: after the loop broadcasts the final
    error event, ``broadcastErrorToSSE`` sends a second identical ``error``."""
    session_id = create_session(http)
    async with httpx.AsyncClient(base_url=mix_server.base_url, timeout=30) as client:
        await client.post(f"/api/sessions/{session_id}/messages", json={"text": "slow [[delay:3000]]"})
        collected: list[str] = []

        async def listen() -> None:
            async with client.stream("GET", "/stream", params={"sessionId": session_id}) as response:
                async for line in response.aiter_lines():
                    collected.append(line)
                    errors = sum(1 for item in collected if item == "event: error")
                    if errors == 2 and collected[-2] == "event: error":
                        return

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.3)
        await client.post(f"/api/sessions/{session_id}/cancel")
        await asyncio.wait_for(listener, 10)
    errors = [collected[i + 1] for i, line in enumerate(collected) if line == "event: error"]
    assert errors == ['data: {"error":"request cancelled by user"}'] * 2


async def test_permission_denied_ends_with_error(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``http/rest_messages_broadcast.go::BroadcastAgentEventToSSE``: a final message with
    ``finishReason: permission_denied`` is announced as ``error`` "Permission denied"."""
    session_id = create_session(http)
    events = await send_and_wait(mix_server.base_url, session_id, "no [[finish:permission_denied]]")
    assert events[-1] == ("error", {"error": "Permission denied"})
    export = http.get(f"/api/sessions/{session_id}/export").json()
    assert export["messages"][-1]["finishReason"] == "permission_denied"
