"""Conformance with the real Mix server: sessions, rewind, concurrency, health and the stream.

Each test is derived from a Go test of ``recreate-run/mix`` and names it as
``<go file>::<TestFunction>`` (paths from ``mix_agent/internal/`` unless they start with
``mix_agent/``), asserting what that test asserts over real sockets with plain httpx. The
index Go test -> Python test is in ``docs/devserver.md``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import httpx
import pytest

from mix_provider.devserver.testing import MixDevServer

from .devserver_sse import send_and_wait

SESSIONS = "http/integration_tests/rest_session_integration_test.go"
REWIND = "http/session_rewind_integration_test.go"
STREAM_HEADERS = {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    "connection": "keep-alive",
    "access-control-allow-origin": "*",
    "access-control-allow-headers": "Cache-Control",
}
"""The headers ``sse.go`` ``HandleSSEStream`` sets."""
TRANSPORT_HEADERS = {"date", "transfer-encoding"}
"""Headers Go's ``net/http`` adds by itself (and uvicorn likewise)."""


def _create(http: httpx.Client, title: str) -> dict[str, Any]:
    """Create a session with only a title, like the Go tests, and return its SessionData."""
    response = http.post("/api/sessions", json={"title": title})
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def _seed(http: httpx.Client, count: int) -> tuple[str, list[dict[str, Any]]]:
    """A session holding ``count`` alternating user/assistant messages (like ``createTestMessagesForRewind``)."""
    body = {"title": "rewind", "messages": count, "messageBytes": 32}
    session_id = str(http.post("/_devserver/seed/large-session", json=body).json()["id"])
    return session_id, http.get(f"/api/sessions/{session_id}/export").json()["messages"]


def _rewind(http: httpx.Client, session_id: str, message_id: str, cleanup: bool = False) -> httpx.Response:
    """POST a rewind with both fields, as ``RewindSessionRequest`` always marshals them."""
    body = {"messageId": message_id, "cleanupMedia": cleanup}
    return http.post(f"/api/sessions/{session_id}/rewind", json=body)


def _contents(http: httpx.Client, session_id: str) -> list[tuple[str, str]]:
    """Return the transcript as ``(id, content)`` pairs."""
    messages = http.get(f"/api/sessions/{session_id}/export").json()["messages"]
    return [(m["id"], m["content"]) for m in messages]


# --- rest_session_integration_test.go ---------------------------------------------------


def test_session_creation(http: httpx.Client) -> None:
    """``http/integration_tests/rest_session_integration_test.go::TestRESTSessionCreation``: a body
    with only a ``title`` gives 201 with an id and that title. Without ``browserMode`` the
    session gets ``local-browser-service`` (``browser.DefaultMode``)."""
    data = _create(http, "Integration Test Session")
    assert data["id"] and data["title"] == "Integration Test Session"
    assert data["browserMode"] == "local-browser-service" and data["sessionType"] == "main"


def test_session_listing(http: httpx.Client) -> None:
    """``http/integration_tests/rest_session_integration_test.go::TestRESTSessionListing``: the
    created session is in the 200 array with its title."""
    created = _create(http, "List Test Session")
    listed = http.get("/api/sessions")
    assert listed.status_code == 200 and isinstance(listed.json(), list)
    (found,) = [s for s in listed.json() if s["id"] == created["id"]]
    assert found["title"] == "List Test Session"


def test_session_retrieval(http: httpx.Client) -> None:
    """``http/integration_tests/rest_session_integration_test.go::TestRESTSessionRetrieval``."""
    created = _create(http, "Retrieval Test Session")
    got = http.get(f"/api/sessions/{created['id']}")
    assert got.status_code == 200
    assert (got.json()["id"], got.json()["title"]) == (created["id"], "Retrieval Test Session")


def test_session_deletion(http: httpx.Client) -> None:
    """``http/integration_tests/rest_session_integration_test.go::TestRESTSessionDeletion``: 204,
    then GET is 404, and deleting ``non-existent-session-id`` is 404."""
    created = _create(http, "Deletion Test Session")
    assert http.delete(f"/api/sessions/{created['id']}").status_code == 204
    assert http.get(f"/api/sessions/{created['id']}").status_code == 404
    missing = http.delete("/api/sessions/non-existent-session-id")
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"


def test_agent_cancellation(http: httpx.Client) -> None:
    """``http/integration_tests/rest_session_integration_test.go::TestRESTAgentCancellation``: 200
    ``{"status": "cancelled", "sessionId": <id>}`` with nothing running (no body sent)."""
    created = _create(http, "Cancel Test Session")
    response = http.post(f"/api/sessions/{created['id']}/cancel")
    assert response.status_code == 200
    assert response.json() == {"status": "cancelled", "sessionId": created["id"]}


# --- rest_message_integration_test.go / rest_export_integration_test.go -------------------


def test_message_listing(http: httpx.Client) -> None:
    """``http/integration_tests/rest_message_integration_test.go::TestRESTMessageListing``: the
    user message is listed with its text in ``userInput``."""
    session_id, (first, *_rest) = _seed(http, 1)
    listed = http.get(f"/api/sessions/{session_id}/messages")
    assert listed.status_code == 200
    (row,) = [m for m in listed.json() if m["id"] == first["id"]]
    assert row["role"] == "user" and row["userInput"] == first["content"]


async def test_export_session_fields(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``http/integration_tests/rest_export_integration_test.go::TestRESTSessionExport`` (the parts
    ``test_export_of_a_tool_turn`` leaves out): the export's ``id``, ``title``, an RFC 3339
    ``createdAt``, and the ``Content-Disposition`` download header."""
    session = _create(http, "look it up")  # the title the first message generates, so it stays
    await send_and_wait(mix_server.base_url, session["id"], "look it up [[tool]]")
    response = http.get(f"/api/sessions/{session['id']}/export")
    assert response.status_code == 200
    export = response.json()
    assert (export["id"], export["title"]) == (session["id"], "look it up")
    datetime.fromisoformat(export["createdAt"].replace("Z", "+00:00"))
    assert [m["role"] for m in export["messages"]][:3] == ["user", "assistant", "tool"]
    expected = f"attachment; filename=session_{session['id']}_transcript.json"
    assert response.headers["content-disposition"] == expected


# --- rest_concurrency_integration_test.go --------------------------------------------------


async def test_concurrent_session_creation(mix_server: MixDevServer) -> None:
    """``http/integration_tests/rest_concurrency_integration_test.go::TestConcurrentSessionOperations``:
    five sessions created at once (title only) are all 201 with distinct ids."""
    async with httpx.AsyncClient(base_url=mix_server.base_url, timeout=30) as client:
        responses = await asyncio.gather(
            *(client.post("/api/sessions", json={"title": f"Concurrent Session Test {i}"}) for i in range(5))
        )
    assert [r.status_code for r in responses] == [201] * 5
    assert len({r.json()["id"] for r in responses}) == 5


async def test_concurrent_messages_across_sessions(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``http/integration_tests/rest_concurrency_integration_test.go::TestConcurrentToolExecutionAcrossSessions``
    and ``::TestSessionIsolationUnderLoad``: messages sent at once to different sessions are all
    accepted (the Go tests take 200 or 202; the devserver answers 202), and each session gets
    only its own reply."""
    sessions = [_create(http, f"Isolation Test Session {i}")["id"] for i in range(4)]
    async with httpx.AsyncClient(base_url=mix_server.base_url, timeout=30) as client:
        responses = await asyncio.gather(
            *(
                client.post(f"/api/sessions/{sid}/messages", json={"text": f"unique {i} [[tool]]"})
                for i, sid in enumerate(sessions)
            )
        )
    assert [r.status_code for r in responses] == [202] * 4
    for i, sid in enumerate(sessions):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            messages = http.get(f"/api/sessions/{sid}/export").json()["messages"]
            if messages[-1].get("finishReason") == "end_turn":
                break
            await asyncio.sleep(0.1)
        assert [m["content"] for m in messages if m["role"] == "user"] == [f"unique {i} [[tool]]"]
        assert messages[-1]["content"] == f"You said: unique {i}"


def test_no_concurrency_regressions(http: httpx.Client) -> None:
    """``http/integration_tests/rest_concurrency_integration_test.go::TestNoConcurrencyRegressions``:
    a plain message is 202 with a JSON object body (``{"status": "processing", "sessionId"}``)."""
    session_id = _create(http, "Regression Test Session")["id"]
    response = http.post(f"/api/sessions/{session_id}/messages", json={"text": "This is a basic test message"})
    assert response.status_code == 202
    assert response.json() == {"status": "processing", "sessionId": session_id}


async def test_error_handling_under_concurrency(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``http/integration_tests/rest_concurrency_integration_test.go::TestErrorHandlingUnderConcurrency``:
    three messages at once to one session are all answered well within 10 s (the Go test
    fails only on slowness; it counts, but does not require, 200s)."""
    session_id = _create(http, "Error Handling Test")["id"]
    texts = ["Read a non-existent file", "Execute an invalid command", "Try to access a restricted resource"]
    async with httpx.AsyncClient(base_url=mix_server.base_url, timeout=30) as client:
        started = time.monotonic()
        responses = await asyncio.gather(
            *(client.post(f"/api/sessions/{session_id}/messages", json={"text": t}) for t in texts)
        )
    assert time.monotonic() - started < 10
    assert [r.status_code for r in responses] == [202] * 3


# --- rest_misc_integration_test.go --------------------------------------------------------


def test_health_check(http: httpx.Client) -> None:
    """``http/integration_tests/rest_misc_integration_test.go::TestRESTHealthCheck``: 200, ``status``
    ``ok`` (or ``healthy``), a string ``timestamp``."""
    response = http.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and isinstance(response.json()["timestamp"], str)


def test_stream_endpoint(http: httpx.Client) -> None:
    """``http/integration_tests/rest_misc_integration_test.go::TestRESTStreamEndpoint`` with
    ``sse.go`` ``HandleSSEStream``: 200, the header set of ``sse.go`` and nothing else (no
    ``X-Accel-Buffering``, no ``Server``), and some SSE bytes at once (the ``connected`` event)."""
    session_id = _create(http, "Stream Test Session")["id"]
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    with http.stream("GET", "/stream", params={"sessionId": session_id}, headers=headers, timeout=5) as response:
        assert response.status_code == 200
        assert {k: v for k, v in response.headers.items() if k not in TRANSPORT_HEADERS} == STREAM_HEADERS
        first = next(response.iter_bytes())
    assert first.startswith(b"id: 1\nevent: connected\n")


# --- sse_integration_test.go ----------------------------------------------------------------


def test_sse_connection(http: httpx.Client) -> None:
    """``http/sse_integration_test.go::TestSSEConnection``: ``text/event-stream``, and the first
    event is ``connected`` carrying the session id."""
    session_id = _create(http, "SSE")["id"]
    with http.stream("GET", "/stream", params={"sessionId": session_id}, timeout=5) as response:
        assert response.headers["content-type"] == "text/event-stream"
        lines = response.iter_lines()
        assert [next(lines) for _ in range(3)] == ["id: 1", "event: connected", f'data: {{"sessionId":"{session_id}"}}']


async def test_persistent_connection(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``http/sse_integration_test.go::TestPersistentConnection``: exactly one (``connected``)
    event while nothing happens, and the connection stays open."""
    session_id = _create(http, "Persistent")["id"]
    events: list[str] = []
    async with (
        httpx.AsyncClient(base_url=mix_server.base_url, timeout=10) as client,
        client.stream("GET", "/stream", params={"sessionId": session_id}) as response,
    ):

        async def read() -> None:
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    events.append(line.removeprefix("event: "))

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(read(), 1.0)  # still open after a second
    assert events == ["connected"]


# --- session_rewind_integration_test.go ------------------------------------------------------


def test_rewind_basic(http: httpx.Client) -> None:
    """``http/session_rewind_integration_test.go::TestSessionRewindBasic``: rewinding six messages
    to the fourth (index 3) answers 200 with the session id and keeps messages 0-3 intact."""
    session_id, messages = _seed(http, 6)
    before = _contents(http, session_id)
    response = _rewind(http, session_id, messages[3]["id"])
    assert response.status_code == 200 and response.json()["id"] == session_id
    assert _contents(http, session_id) == before[:4]


def test_rewind_with_media_cleanup(http: httpx.Client) -> None:
    """``http/session_rewind_integration_test.go::TestSessionRewindWithMediaCleanup``: with
    ``cleanupMedia: true`` a rewind to the first message answers 200 and keeps one message
    (the devserver has no media files, so there is nothing else to delete)."""
    session_id, messages = _seed(http, 2)
    assert _rewind(http, session_id, messages[0]["id"], cleanup=True).status_code == 200
    assert len(_contents(http, session_id)) == 1


def test_rewind_to_empty(http: httpx.Client) -> None:
    """``http/session_rewind_integration_test.go::TestSessionRewindToEmpty``: four messages
    rewound to the first leave one."""
    session_id, messages = _seed(http, 4)
    assert _rewind(http, session_id, messages[0]["id"]).status_code == 200
    assert len(_contents(http, session_id)) == 1


@pytest.mark.parametrize(
    ("case", "status"),
    [("empty message ID", 400), ("non-existent session", 404), ("non-existent message ID", 404)],
)
def test_rewind_error_handling(http: httpx.Client, case: str, status: int) -> None:
    """``http/session_rewind_integration_test.go::TestSessionRewindErrorHandling`` (subtests
    ``empty message ID``, ``non-existent session``, ``non-existent message ID``)."""
    session_id, messages = _seed(http, 4)
    target, message_id = {
        "empty message ID": (session_id, ""),
        "non-existent session": ("non-existent-session-id", messages[0]["id"]),
        "non-existent message ID": (session_id, "non-existent-message-id"),
    }[case]
    response = _rewind(http, target, message_id)
    assert response.status_code == status
    assert response.json()["error"]["type"] == ("validation_error" if status == 400 else "not_found")


def test_rewind_boundary(http: httpx.Client) -> None:
    """``http/session_rewind_integration_test.go::TestSessionRewindBoundary``: rewinding five
    messages to the last one keeps all five."""
    session_id, messages = _seed(http, 5)
    assert _rewind(http, session_id, messages[-1]["id"]).status_code == 200
    assert len(_contents(http, session_id)) == 5


# --- rest_subagent_routing_integration_test.go ----------------------------------------------


async def test_subagent_hierarchy(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``http/integration_tests/rest_subagent_routing_integration_test.go::TestSubagentEventRoutingVerifyHierarchy``:
    a sub-agent session has the main session as parent, ``sessionType: subagent`` and
    ``subagentType: general-purpose``; the main session has no parent. (The Go test creates the
    sub-agent session in-process; here the scripted agent's ``Task`` tool does.)"""
    main = _create(http, "Main Hierarchy Test")
    await send_and_wait(mix_server.base_url, main["id"], "delegate [[subagent]]")
    listed = http.get("/api/sessions", params={"includeSubagents": "true"}).json()
    (child,) = [s for s in listed if s.get("parentSessionId") == main["id"]]
    assert (child["sessionType"], child["subagentType"]) == ("subagent", "general-purpose")
    retrieved = http.get(f"/api/sessions/{child['id']}").json()
    assert retrieved["parentSessionId"] == main["id"]
    assert "parentSessionId" not in http.get(f"/api/sessions/{main['id']}").json()


# --- mix_agent/e2e/browser/mode_e2e_test.go -------------------------------------------------


@pytest.mark.parametrize(
    ("subtest", "extra"),
    [
        ("invalid-mode", {"browserMode": "invalid-mode"}),
        ("remote-without-url", {"browserMode": "remote-cdp-websocket"}),
        ("remote-with-invalid-url", {"browserMode": "remote-cdp-websocket", "cdpUrl": "http://invalid-not-websocket"}),
    ],
)
def test_browser_mode_validation(http: httpx.Client, subtest: str, extra: dict[str, str]) -> None:
    """``mix_agent/e2e/browser/mode_e2e_test.go::TestBrowserE2EModeValidation`` (subtests
    ``invalid-mode``, ``remote-without-url``, ``remote-with-invalid-url``): 400."""
    response = http.post("/api/sessions", json={"title": subtest, **extra})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "validation_error"
