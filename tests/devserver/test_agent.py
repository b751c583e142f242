"""The scripted agent over SSE: event order, directives, cancel, wire format, no replay."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx

from mix_provider.devserver.agent import plan_reply
from mix_provider.devserver.settings import Settings, load_rules
from mix_provider.devserver.testing import MixDevServer

from .devserver_sse import create_session, reply_events, send_and_wait


async def test_event_order_and_persisted_totals(legacy_mix_server: MixDevServer, legacy_http: httpx.Client) -> None:
    """On the legacy generation, whose ``/messages`` rows carry per-message usage."""
    http = legacy_http
    session_id = create_session(http)
    events = await send_and_wait(legacy_mix_server.base_url, session_id, "order please")
    names = [name for name, _ in events]
    assert names[:2] == ["user_message_created", "thinking"]
    assert names[-1] == "complete" and names.count("content") >= 5
    complete = events[-1][1]
    assert complete["done"] is True and "finishReason" not in complete
    assert complete["content"] == "You said: order please" == "".join(d["content"] for n, d in events if n == "content")
    session = http.get(f"/api/sessions/{session_id}").json()
    assert session["userMessageCount"] == 1 and session["assistantMessageCount"] == 1
    reply = http.get(f"/api/sessions/{session_id}/messages").json()[-1]
    assert reply["id"] == complete["messageId"] and reply["outputTokens"] == session["completionTokens"] > 0
    assert session["cost"] == reply["cost"] > 0
    assert session["firstUserMessage"] == "order please"


async def test_tool_directive_and_stored_tool_call(mix_server: MixDevServer, http: httpx.Client) -> None:
    session_id = create_session(http)
    events = await send_and_wait(mix_server.base_url, session_id, "run it [[tool]]")
    tool_names = [n for n, _ in events if n.startswith("tool_")]
    assert tool_names == [
        "tool_use_start",
        "tool_use_parameter_delta",
        "tool_use_parameter_delta",
        "tool_use_parameter_streaming_complete",
        "tool_execution_start",
        "tool_execution_complete",
    ]
    messages = http.get(f"/api/sessions/{session_id}/messages").json()
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    call = messages[1]["toolCalls"][0]
    assert call["name"] == "Bash" and call["finished"] is True and json.loads(call["input"])["command"]
    assert "result" not in call and "toolCalls" not in messages[3]


async def test_finish_error_emits_error_not_complete(mix_server: MixDevServer, http: httpx.Client) -> None:
    session_id = create_session(http)
    events = await send_and_wait(mix_server.base_url, session_id, "fail [[finish:error]]")
    assert events[-1][0] == "error" and "complete" not in [n for n, _ in events]
    export = http.get(f"/api/sessions/{session_id}/export").json()
    assert export["messages"][-1]["finishReason"] == "error"


async def test_other_finish_reasons_and_size(mix_server: MixDevServer, http: httpx.Client) -> None:
    session_id = create_session(http)
    events = await send_and_wait(mix_server.base_url, session_id, "[[finish:max_tokens]] [[size:200000]]")
    assert len(events[-1][1]["content"].encode()) == 200_000
    export = http.get(f"/api/sessions/{session_id}/export").json()
    assert export["messages"][-1]["finishReason"] == "max_tokens"


async def test_subagent_nested_complete_comes_first(mix_server: MixDevServer, http: httpx.Client) -> None:
    session_id = create_session(http)
    events = await send_and_wait(mix_server.base_url, session_id, "delegate [[subagent]]")
    completes = [data for name, data in events if name == "complete"]
    assert len(completes) == 2 and "parentToolCallId" in completes[0] and "parentToolCallId" not in completes[1]
    assert {"tool", "rate_limit_error"} <= {name for name, _ in events}
    listed = http.get("/api/sessions", params={"includeSubagents": "true"}).json()
    children = [s for s in listed if s.get("parentSessionId") == session_id]
    assert len(children) == 1 and children[0]["sessionType"] == "subagent"
    default = http.get("/api/sessions").json()
    assert all(s["sessionType"] == "main" for s in default)


async def test_cancel_stores_partial_reply(mix_server: MixDevServer, http: httpx.Client) -> None:
    session_id = create_session(http)
    async with httpx.AsyncClient(base_url=mix_server.base_url, timeout=30, verify=False) as client:

        async def send_then_cancel() -> None:
            await client.post(f"/api/sessions/{session_id}/messages", json={"text": "long [[delay:3000]]"})
            await asyncio.sleep(0.3)
            response = await client.post(f"/api/sessions/{session_id}/cancel")
            assert response.json() == {"status": "cancelled", "sessionId": session_id}

        events = await reply_events(client, session_id, send_then_cancel)
    assert events[-1] == ("error", {"error": "request cancelled by user"})
    export = http.get(f"/api/sessions/{session_id}/export").json()
    assert export["messages"][-1]["finishReason"] == "canceled"


def test_slash_command_answered_at_once(http: httpx.Client) -> None:
    session_id = create_session(http)
    response = http.post(f"/api/sessions/{session_id}/messages", json={"text": "/help"})
    assert response.status_code == 200 and response.json()["id"] == "cmd-help"


def test_wire_format_and_no_replay(mix_server: MixDevServer, http: httpx.Client) -> None:
    session_id = create_session(http)
    send_url = f"/api/sessions/{session_id}/messages"
    asyncio.run(send_and_wait(mix_server.base_url, session_id, "before anyone listens"))
    with http.stream("GET", "/stream", params={"sessionId": session_id}, timeout=10) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = resp.iter_lines()
        block = [next(lines) for _ in range(4)]
        http.post(send_url, json={"text": "after"}, headers={"Last-Event-ID": "1"})
        second = [next(lines) for _ in range(5)]
    assert block[0] == "id: 1" and block[1] == "event: connected"
    assert block[2].startswith("data: {") and block[3] == "retry: 30000"
    assert second[0] == "" and second[2] == "event: user_message_created"
    assert json.loads(second[3].removeprefix("data: "))["content"] == "after"


def test_stream_errors(http: httpx.Client) -> None:
    missing = http.get("/stream")
    # sse.go: the SSE headers are set first, then a bare 400 (no body)
    assert (missing.status_code, missing.content, missing.headers["content-type"]) == (400, b"", "text/event-stream")
    unknown = http.get("/stream", params={"sessionId": "nope"})
    assert unknown.status_code == 200 and "event: error" in unknown.text


def test_plan_reply_rules_and_directives(tmp_path: Path) -> None:
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps([{"match": "^weather", "reply": "Sunny.", "tool": {"name": "brave_search"}}]))
    settings = Settings(data_dir=tmp_path, rules=load_rules(rules_file))
    plan = plan_reply("weather in Paris [[delay:7]]", settings)
    assert (plan.reply, plan.delay_ms, [tool.name for tool in plan.tools]) == ("Sunny.", 7, ["brave_search"])
    echo = plan_reply("hi [[finish:permission_denied]]", settings, "off")
    assert (echo.reply, echo.finish_reason, echo.reasoning) == ("You said: hi", "permission_denied", None)


def test_plan_of_tool_permission_and_notification_directives(tmp_path: Path) -> None:
    """Each directive adds a call after ``[[tool]]``'s, in the order written; only
    ``[[permission:...]]`` asks with ``--dangerously-skip-permissions``; the echo drops them all."""
    text = "do it [[permission:write:/etc/hosts]] [[tool]] [[tool:bash:make test]] [[question:Go?|y,n]] [[notify:error:Boom]]"
    plan = plan_reply(text, Settings(data_dir=tmp_path))
    assert plan.reply == "You said: do it"
    assert [(tool.name, tool.ask) for tool in plan.tools] == [
        ("Bash", False),
        ("Write", True),
        ("bash", False),
        ("Notify", False),
        ("Notify", False),
    ]
    assert json.loads(plan.tools[1].input) == {"file_path": "/etc/hosts", "content": "Written by the Mix devserver.\n"}
    assert json.loads(plan.tools[2].input) == {"command": "make test"} and plan.tools[2].result == "no output"
    question, note = plan.tools[3].notify, plan.tools[4].notify
    assert question is not None and (question.response_type, question.choices) == ("choice", ("y", "n"))
    assert note is not None and (note.type, note.message, note.response_type) == ("error", "Boom", "acknowledge")
    assert plan_reply("[[permission:rm:x]] [[notify:debug:x]]", Settings(data_dir=tmp_path)).tools == ()
