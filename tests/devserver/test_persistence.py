"""State survives restarts; a run interrupted by a stop or a crash is resumed; delete and reset."""

from __future__ import annotations

import time
from typing import Any

import httpx

from mix_provider.devserver.testing import MixDevServer


def _client(server: MixDevServer) -> httpx.Client:
    """Return a client bound to the server."""
    return httpx.Client(base_url=server.base_url, timeout=30, verify=False)


def _wait_for_reply(http: httpx.Client, session_id: str, timeout: float = 20) -> dict[str, Any]:
    """Poll the export until the last message is a finished assistant message (the SSE-less path).

    A streaming assistant message is already stored, without ``finishReason``: require one.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = http.get(f"/api/sessions/{session_id}/export").json()["messages"]
        if (
            messages
            and messages[-1]["role"] == "assistant"
            and messages[-1].get("finishReason", "tool_use") != "tool_use"
        ):
            return dict(messages[-1])
        time.sleep(0.1)
    raise AssertionError("no reply")


def _create(http: httpx.Client) -> str:
    """Create a session and return its id."""
    return str(http.post("/api/sessions", json={"title": "p", "browserMode": "local-browser-service"}).json()["id"])


def test_sessions_survive_restart(fresh_mix_server: MixDevServer) -> None:
    with _client(fresh_mix_server) as http:
        session_id = _create(http)
        http.post(f"/api/sessions/{session_id}/messages", json={"text": "remember me"})
        _wait_for_reply(http, session_id)
        before = http.get(f"/api/sessions/{session_id}").json()
    fresh_mix_server.restart()
    with _client(fresh_mix_server) as http:
        assert http.get(f"/api/sessions/{session_id}").json() == before
        assert len(http.get(f"/api/sessions/{session_id}/messages").json()) == 2


def test_interrupted_run_resumes_after_crash(fresh_mix_server: MixDevServer) -> None:
    with _client(fresh_mix_server) as http:
        session_id = _create(http)
        accepted = http.post(f"/api/sessions/{session_id}/messages", json={"text": "survive [[delay:1500]]"})
        assert accepted.status_code == 202
    fresh_mix_server.kill()
    fresh_mix_server.start()
    with _client(fresh_mix_server) as http:
        reply = _wait_for_reply(http, session_id)
        assert reply["content"] == "You said: survive" and reply["finishReason"] == "end_turn"
        assert http.get(f"/api/sessions/{session_id}").json()["assistantMessageCount"] == 1


def test_interrupted_run_resumes_after_graceful_stop(fresh_mix_server: MixDevServer) -> None:
    with _client(fresh_mix_server) as http:
        session_id = _create(http)
        http.post(f"/api/sessions/{session_id}/messages", json={"text": "again [[delay:1500]]"})
    fresh_mix_server.restart()
    with _client(fresh_mix_server) as http:
        assert _wait_for_reply(http, session_id)["finishReason"] == "end_turn"


def test_delete_and_reset(fresh_mix_server: MixDevServer) -> None:
    with _client(fresh_mix_server) as http:
        session_id = _create(http)
        http.post(f"/api/sessions/{session_id}/messages", json={"text": "go [[subagent]] [[delay:10]]"})
        _wait_for_reply(http, session_id)
        assert len(http.get("/api/sessions", params={"includeSubagents": "true"}).json()) == 2
        assert http.delete(f"/api/sessions/{session_id}").status_code == 204
        assert http.get("/api/sessions", params={"includeSubagents": "true"}).json() == []
        _create(http)
        fresh_mix_server.reset()
        assert http.get("/api/sessions").json() == []
