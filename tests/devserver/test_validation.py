"""Request validation: strict decoding, the real server's messages, error envelopes, 405/404."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .devserver_sse import create_session

BASE = {"title": "t", "browserMode": "local-browser-service"}


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    """Return the envelope's error after checking the status and envelope shape."""
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == status
    return error


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"browserMode": "local-browser-service"}, "Validation error for field 'title': title is required"),
        ({**BASE, "browserMode": "chrome"}, "Validation error for field 'browserMode': browserMode must be one of: "
         "electron-embedded-browser, local-browser-service, remote-cdp-websocket"),
        ({**BASE, "browserMode": "remote-cdp-websocket", "cdpUrl": "http://x"}, "Validation error for field "
         "'cdpUrl': cdpUrl must start with 'ws://' or 'wss://' when browserMode is 'remote-cdp-websocket'"),
        ({**BASE, "promptMode": "merge"},
         "Validation error for field 'promptMode': promptMode must be 'default', 'append', or 'replace'"),
        ({**BASE, "promptMode": "append", "customSystemPrompt": "x" * 75 * 1024}, "Validation error for field "
         "'customSystemPrompt': Custom prompt size (75KB) exceeds append mode limit of 50KB"),
        ({**BASE, "promptMode": "replace", "customSystemPrompt": "x" * 150 * 1024}, "Validation error for field "
         "'customSystemPrompt': Custom prompt size (150KB) exceeds replace mode limit of 100KB"),
        ({**BASE, "sessionType": "subagent"}, "Validation error for field 'sessionType': API can only create "
         "main sessions. Subagent sessions are created automatically."),
        ({**BASE, "subagentType": "general-purpose"}, "Validation error for field 'subagentType': subagentType cannot be set "
         "for API-created sessions. Subagent sessions are created programmatically by the task delegation system."),
        ({**BASE, "colour": "red"}, "Validation error for field 'body': json: unknown field \"colour\""),
        ({**BASE, "title": 3}, "Validation error for field 'body': json: cannot unmarshal number into Go struct field "
         "CreateSessionRequest.title of type string"),
    ],
)  # fmt: skip
def test_create_rejections(http: httpx.Client, body: dict[str, Any], message: str) -> None:
    error = _error(http.post("/api/sessions", json=body), 400)
    assert error == {"code": 400, "message": message, "type": "validation_error"}


def test_create_accepts_sdk_defaults_and_new_fields(http: httpx.Client) -> None:
    body = {**BASE, "promptMode": "default", "sessionType": "main", "customSystemPrompt": "x" * 200_000,
            "modelId": "claude-x", "provider": "anthropic",
            "callbacks": [{"type": "send_message", "toolName": "*", "messageContent": "hi",
                           "excludeFromContext": False, "bashTimeout": 120000, "includeFullHistory": False}]}  # fmt: skip
    created = http.post("/api/sessions", json=body)
    assert created.status_code == 201, created.text
    data = created.json()
    assert (data["modelId"], data["provider"], data["callbacks"][0]["messageContent"]) == (
        "claude-x",
        "anthropic",
        "hi",
    )
    plain = http.post("/api/sessions", json=BASE).json()
    assert "modelId" not in plain and "cdpUrl" not in plain and plain["callbacks"] == []
    defaults = http.post("/api/sessions", json={"title": "  ", "browserMode": "", "subagentType": ""})
    assert defaults.status_code == 201, defaults.text  # only an empty title is refused, like the real handler
    assert (defaults.json()["title"], defaults.json()["browserMode"]) == ("  ", "local-browser-service")
    remote = {**BASE, "browserMode": "remote-cdp-websocket", "cdpUrl": "wss://cdp.example/1"}
    assert http.post("/api/sessions", json=remote).json()["cdpUrl"] == "wss://cdp.example/1"


@pytest.mark.parametrize(
    "callback",
    [
        {"type": "send_message", "toolName": "*"},
        {"type": "send_message", "toolName": "*", "messageContent": "x", "excludeFromContext": True},
        {"type": "bash_script", "toolName": "*"},
        {"type": "sub_agent", "toolName": "*"},
        {"type": "bash_script", "toolName": "*", "bashCommand": "ls", "extra": 1},
    ],
)
def test_rejected_callbacks_keep_previous_list(http: httpx.Client, callback: dict[str, Any]) -> None:
    session_id = create_session(http)
    url = f"/api/sessions/{session_id}/callbacks"
    good = [{"type": "bash_script", "toolName": "Bash", "bashCommand": "echo ok"}]
    assert http.patch(url, json={"callbacks": good}).json()["callbacks"] == good
    error = _error(http.patch(url, json={"callbacks": [callback]}), 400)
    assert error["type"] == "validation_error"
    assert http.get(f"/api/sessions/{session_id}").json()["callbacks"] == good
    assert http.patch(url, json={"callbacks": []}).json()["callbacks"] == []


def test_not_found_messages(http: httpx.Client) -> None:
    for method, path in [("GET", ""), ("DELETE", ""), ("GET", "/export")]:
        error = _error(http.request(method, f"/api/sessions/ghost{path}"), 404)
        assert error == {"code": 404, "message": "Session with ID 'ghost' not found", "type": "not_found"}
    _error(http.post("/api/sessions/ghost/messages", json={"text": "hi"}), 404)


def test_rewind_rules(http: httpx.Client) -> None:
    session_id = create_session(http)
    url = f"/api/sessions/{session_id}/rewind"
    missing = _error(http.post(url, json={}), 400)
    assert missing == {
        "code": 400,
        "message": "Validation error for field 'messageId': message ID is required",
        "type": "validation_error",
    }
    assert _error(http.post(url, json={"messageId": "nope"}), 404)["message"] == "Message with ID 'nope' not found"
    assert _error(http.post(url, json={"messageId": "x", "cleanup": True}), 400)["type"] == "validation_error"
    # the body is checked before the session, like HandleRewindSession
    assert _error(http.post("/api/sessions/ghost/rewind", json={}), 400)["type"] == "validation_error"


def test_message_body_rules(http: httpx.Client) -> None:
    session_id = create_session(http)
    url = f"/api/sessions/{session_id}/messages"
    assert (
        _error(http.post(url, json={"text": ""}), 400)["message"]
        == "Validation error for field 'content': message content is required"
    )
    assert _error(http.post(url, json={"text": "x", "max_steps": 0}), 400)["type"] == "validation_error"
    assert _error(http.post(url, json={"text": "x", "thinking_level": "huge"}), 400)["type"] == "validation_error"
    assert _error(http.post(url, json={"text": "x", "model": "y"}), 400)["type"] == "validation_error"
    accepted = http.post(url, json={"text": "x", "thinking_level": None, "plan_mode": False, "max_steps": 3})
    assert accepted.status_code == 202
    assert accepted.json() == {"status": "processing", "sessionId": session_id}


def test_routing_errors_and_health(http: httpx.Client) -> None:
    wrong = http.put("/api/sessions")
    assert wrong.status_code == 405 and wrong.headers["content-type"].startswith("text/plain")
    unimplemented = _error(http.get("/api/tools"), 404)
    assert unimplemented["message"] == "Not implemented by the Mix devserver: GET /api/tools"
    health = http.get("/health").json()
    assert set(health) == {"status", "timestamp", "version", "environment", "services"}
    assert health["services"] == {"backend": "healthy", "database": "connected"}
    deleted = http.delete(f"/api/sessions/{create_session(http)}")
    assert deleted.status_code == 204 and deleted.content == b""
    providers = http.get("/api/auth/status").json()["providers"]
    assert providers["anthropic"]["authenticated"] is True
