"""Conformance with the real Mix server: messages, the transcript, concurrency, errors.

Each test names the Go test or handler of ``recreate-run/mix`` (``mix_agent/internal/``)
it is derived from. They run over real sockets against the devserver process.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx

from mix_provider.devserver.testing import MixDevServer

from .devserver_sse import create_session, send_and_wait


def _wait_for_finals(http: httpx.Client, session_id: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    """Poll the export until ``count`` assistant messages have a terminal finish reason."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages: list[dict[str, Any]] = http.get(f"/api/sessions/{session_id}/export").json()["messages"]
        finals = [m for m in messages if m["role"] == "assistant" and m.get("finishReason", "tool_use") != "tool_use"]
        if len(finals) == count:
            return messages
        time.sleep(0.1)
    raise AssertionError("the replies did not arrive")


async def test_export_of_a_tool_turn(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``http/integration_tests/rest_export_integration_test.go::TestRESTSessionExport``: the
    user message, an assistant message with one tool call (``inputJson`` parsed, no result),
    then a ``tool`` message; here also the final assistant message. ``convertToExportSession``
    drops empty fields, and ``message.Service.Create`` gives non-assistant messages ``stop``."""
    session_id = create_session(http)
    await send_and_wait(mix_server.base_url, session_id, "look it up [[tool]]")
    response = http.get(f"/api/sessions/{session_id}/export")
    assert response.headers["content-disposition"] == f"attachment; filename=session_{session_id}_transcript.json"
    user, tool_round, tool, final = response.json()["messages"]
    assert (user["role"], user["content"], user["finishReason"]) == ("user", "look it up [[tool]]", "stop")
    assert "toolCalls" not in user and "model" not in user
    assert tool_round["role"] == "assistant" and tool_round["finishReason"] == "tool_use"
    (call,) = tool_round["toolCalls"]
    assert set(call) == {"id", "name", "input", "inputJson", "type", "finished"}
    assert call["name"] == "Bash" and call["inputJson"] == json.loads(call["input"]) and call["type"] == "tool_use"
    assert tool == {
        "id": tool["id"],
        "role": "tool",
        "content": "",
        "finishReason": "stop",
        "createdAt": tool["createdAt"],
        "updatedAt": tool["updatedAt"],
    }
    assert final["finishReason"] == "end_turn" and final["content"] == "You said: look it up"
    assert "toolCalls" not in final
    assert http.get(f"/api/sessions/{session_id}").json()["toolCallCount"] == 1


def test_export_unknown_session(http: httpx.Client) -> None:
    """``http/integration_tests/rest_export_integration_test.go::TestRESTSessionExportNotFound``."""
    response = http.get("/api/sessions/non-existent-session-id/export")
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found"


async def test_messages_rows(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``http/rest_messages.go::convertMessagesToData``: every row's text is in ``userInput``,
    assistant and tool rows repeat it in ``assistantResponse`` (omitted when empty), and
    ``toolCalls`` appear only when there are some, without a result (it is in the tool message)."""
    session_id = create_session(http)
    await send_and_wait(mix_server.base_url, session_id, "rows [[tool]]")
    user, tool_round, tool, final = http.get(f"/api/sessions/{session_id}/messages").json()
    assert user["userInput"] == "rows [[tool]]" and "assistantResponse" not in user and "toolCalls" not in user
    assert tool_round["userInput"] == "" and "assistantResponse" not in tool_round
    assert set(tool_round["toolCalls"][0]) == {"id", "name", "input", "type", "finished"}
    assert (tool["role"], tool["userInput"]) == ("tool", "") and "toolCalls" not in tool
    assert final["userInput"] == final["assistantResponse"] == "You said: rows"


async def test_concurrent_messages_are_accepted_and_processed(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``http/integration_tests/rest_concurrency_integration_test.go::TestConcurrentMessageProcessing``:
    three messages sent at once to one session are all accepted (202) and all answered."""
    session_id = create_session(http)
    async with httpx.AsyncClient(base_url=mix_server.base_url, timeout=30) as client:
        sent = await asyncio.gather(
            *(
                client.post(f"/api/sessions/{session_id}/messages", json={"text": f"message {i} [[delay:300]]"})
                for i in range(3)
            )
        )
    assert [response.status_code for response in sent] == [202, 202, 202]
    messages = _wait_for_finals(http, session_id, 3)
    users = sorted(m["content"] for m in messages if m["role"] == "user")
    replies = sorted(m["content"] for m in messages if m["role"] == "assistant")
    assert users == [f"message {i} [[delay:300]]" for i in range(3)]
    assert replies == [f"You said: message {i}" for i in range(3)]


def test_overlapping_runs_interleave(http: httpx.Client) -> None:
    """``llm/agent/agent.go::RunWithPlanMode`` and ``processGeneration``: no queue per
    session; each run stores its user message and then its (empty) assistant message when
    it starts, so a message sent during a reply lands after that reply's assistant message,
    and the shorter second run can finish first."""
    session_id = create_session(http)
    url = f"/api/sessions/{session_id}/messages"
    assert http.post(url, json={"text": "first [[delay:1500]]"}).status_code == 202
    time.sleep(0.2)
    assert http.post(url, json={"text": "second [[delay:100]]"}).status_code == 202
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        messages = http.get(f"/api/sessions/{session_id}/export").json()["messages"]
        if messages[-1].get("finishReason") == "end_turn":
            break
        time.sleep(0.05)
    early = http.get(f"/api/sessions/{session_id}/export").json()["messages"]
    assert [m.get("finishReason") for m in early] == ["stop", None, "stop", "end_turn"]
    messages = _wait_for_finals(http, session_id, 2)
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "first [[delay:1500]]"),
        ("assistant", "You said: first"),
        ("user", "second [[delay:100]]"),
        ("assistant", "You said: second"),
    ]


def test_cancel_stops_the_latest_run(http: httpx.Client) -> None:
    """``llm/agent/agent.go::CancelWithReason``: one cancel function per session, replaced by
    each new run, so cancel stops the run started last and the earlier one completes."""
    session_id = create_session(http)
    url = f"/api/sessions/{session_id}/messages"
    http.post(url, json={"text": "older [[delay:1500]]"})
    http.post(url, json={"text": "newer [[delay:1500]]"})
    time.sleep(0.2)
    http.post(f"/api/sessions/{session_id}/cancel")
    messages = _wait_for_finals(http, session_id, 2)
    reasons = {m["id"]: m["finishReason"] for m in messages if m["role"] == "assistant"}
    assistants = [m for m in messages if m["role"] == "assistant"]
    assert [reasons[m["id"]] for m in assistants] == ["end_turn", "canceled"]


def test_cancel_and_messages_of_unknown_session(http: httpx.Client) -> None:
    """``http/rest_messages.go::HandleCancelAgent`` and ``HandleListSessionMessages`` never
    look the session up: 200, and ``[]`` for the messages."""
    cancel = http.post("/api/sessions/ghost/cancel")
    assert cancel.status_code == 200 and cancel.json() == {"status": "cancelled", "sessionId": "ghost"}
    messages = http.get("/api/sessions/ghost/messages")
    assert messages.status_code == 200 and messages.json() == []


def test_send_message_validation(http: httpx.Client) -> None:
    """``http/rest_messages.go::validateSendMessageRequest`` with ``rest_common.go``
    ``sendValidationError``: an empty text is field ``content``; an undecodable body is
    field ``body``; thinking levels are listed."""
    session_id = create_session(http)
    url = f"/api/sessions/{session_id}/messages"
    expected = {
        "code": 400,
        "message": "Validation error for field 'content': message content is required",
        "type": "validation_error",
    }
    assert http.post(url, json={"text": ""}).json() == {"error": expected}
    unknown = http.post(url, json={"text": "x", "nope": 1}).json()["error"]["message"]
    assert unknown == "Validation error for field 'body': json: unknown field \"nope\""
    level = http.post(url, json={"text": "x", "thinking_level": "huge"}).json()["error"]["message"]
    assert level == "Validation error for field 'thinking_level': must be one of: off, basic, medium, maximum"
    missing = http.post("/api/sessions/ghost/messages", json={"text": "hi"})
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Session with ID 'ghost' not found"


def test_rewind_validation(http: httpx.Client) -> None:
    """``http/rest_sessions.go::HandleRewindSession``: no ``messageId`` is a
    ``validation_error``; an unknown message is 404 ``Message with ID '<id>' not found``."""
    session_id = create_session(http)
    url = f"/api/sessions/{session_id}/rewind"
    missing = http.post(url, json={"cleanupMedia": False})
    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == "Validation error for field 'messageId': message ID is required"
    unknown = http.post(url, json={"messageId": "m-1", "cleanupMedia": False})
    assert unknown.status_code == 404 and unknown.json()["error"]["message"] == "Message with ID 'm-1' not found"


def test_slash_commands(http: httpx.Client) -> None:
    """``http/rest_messages.go::handleSlashCommand``: ``/help`` answers 200 with a
    MessageData ``cmd-help``; an unknown command is 404; neither looks the session up."""
    response = http.post("/api/sessions/ghost/messages", json={"text": "/help"})
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["role"], body["userInput"]) == ("cmd-help", "assistant", "/help")
    assert body["assistantResponse"]
    unknown = http.post("/api/sessions/ghost/messages", json={"text": "/frobnicate now"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"].startswith("Command 'frobnicate' not found")


async def test_title_generated_after_first_message(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``llm/agent/agent.go::generateTitle``: started in the background when the session has
    no messages yet; later messages keep the title."""
    session_id = create_session(http, title="placeholder")
    await send_and_wait(mix_server.base_url, session_id, "Plan the\nquarterly report [[delay:200]]")
    assert http.get(f"/api/sessions/{session_id}").json()["title"] == "Plan the quarterly report"
    await send_and_wait(mix_server.base_url, session_id, "something else")
    assert http.get(f"/api/sessions/{session_id}").json()["title"] == "Plan the quarterly report"


async def test_include_subagents_only_for_true(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``http/rest_sessions.go::HandleListSessions``: sub-agent sessions are listed only for
    ``includeSubagents=true`` exactly."""
    session_id = create_session(http)
    await send_and_wait(mix_server.base_url, session_id, "delegate [[subagent]]")

    def children(value: str) -> list[dict[str, Any]]:
        listed = http.get("/api/sessions", params={"includeSubagents": value}).json()
        return [s for s in listed if s.get("parentSessionId") == session_id]

    assert len(children("true")) == 1
    assert children("1") == children("True") == children("TRUE") == []
