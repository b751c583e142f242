"""Conformance with the real Mix server: permission requests and their answers.

Each test names the Go file and function of ``recreate-run/mix`` (``mix_agent/internal/``) it
follows. They run over real sockets against devserver processes, with plain httpx.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mix_provider.devserver.permissions import REJECTED
from mix_provider.devserver.testing import MixDevServer

from .devserver_sse import converse, create_session, named


def _answering(verb: str, answers: list[httpx.Response]) -> Any:
    """Return a ``react`` that answers every ``permission`` event with ``grant`` or ``deny``."""

    async def react(client: httpx.AsyncClient, name: str, data: dict[str, Any]) -> None:
        if name == "permission":
            answers.append(await client.post(f"/api/permissions/{data['id']}/{verb}"))

    return react


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MixDevServer]:
    """A devserver in its default mode (every tool asks, as on the real server); requests wait 1 s."""
    flags = ["--permission-timeout-seconds", "1"]
    with MixDevServer(tmp_path_factory.mktemp("strict-devserver"), extra_args=flags) as server:
        yield server


async def test_bash_permission_event_then_grant(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``llm/tools/bash.go::bashTool.Run`` asks with action and description ``Execute command: CMD``,
    the session's storage directory as path and ``BashPermissionsParams`` as params, after
    ``tool_execution_start`` (``agent/concurrency_tools.go::executeToolCall``); ``http/sse.go::
    HandleSSEStream`` sends it as ``PermissionEvent`` (``sse_events.go``). ``http/rest_system.go::
    HandleGrantPermission`` answers 200 ``{id, message, status}``; the tool then runs and the turn
    goes on: assistant ``tool_use``, ``tool``, final assistant."""
    session_id = create_session(http)
    answers: list[httpx.Response] = []
    events = await converse(
        mix_server.base_url, session_id, "clean up [[permission:bash:rm -rf /tmp/x]]", _answering("grant", answers)
    )
    (event,) = named(events, "permission")
    assert list(event) == ["type", "id", "sessionId", "toolName", "description", "action", "path", "params"]
    assert event["type"] == "permission" and uuid.UUID(event["id"]).version == 4
    assert (event["sessionId"], event["toolName"]) == (session_id, "bash")
    assert event["description"] == event["action"] == "Execute command: rm -rf /tmp/x"
    assert Path(event["path"]).parts[-2:] == ("storage", session_id)
    assert event["params"] == {"command": "rm -rf /tmp/x", "timeout": 0}
    names = [name for name, _ in events]
    assert names.index("tool_execution_start") < names.index("permission") < names.index("tool_execution_complete")
    (answer,) = answers
    assert answer.status_code == 200
    assert answer.json() == {"id": event["id"], "message": "Permission granted successfully", "status": "granted"}
    assert named(events, "tool_execution_complete")[0]["success"] is True
    assert events[-1] == ("complete", events[-1][1])
    assert events[-1][1]["content"] == "You said: clean up\npermission granted: bash"
    roles = [
        (m["role"], m.get("finishReason")) for m in http.get(f"/api/sessions/{session_id}/export").json()["messages"]
    ]
    assert roles == [("user", "stop"), ("assistant", "tool_use"), ("tool", "stop"), ("assistant", "end_turn")]


async def test_write_permission_then_deny(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``llm/tools/write.go::writeTool.Run`` asks with action ``write``, ``Create file PATH`` and the
    file's directory as path (params ``WritePermissionsParams``: ``file_path``, ``diff``).
    ``HandleDenyPermission`` answers 200 ``status: denied``. ``concurrency_tools.go::
    executeToolCall`` reports ``Failed Write tool after D: permission denied`` (``success: false``)
    and stores the rejection as a result that is *not* an error; the turn then ends normally."""
    session_id = create_session(http)
    answers: list[httpx.Response] = []
    text = "edit [[permission:write:/etc/hosts]]"
    events = await converse(mix_server.base_url, session_id, text, _answering("deny", answers))
    (event,) = named(events, "permission")
    assert (event["toolName"], event["action"], event["description"]) == ("Write", "write", "Create file /etc/hosts")
    assert event["path"] == "/etc"
    assert event["params"] == {"file_path": "/etc/hosts", "diff": "--- /etc/hosts\n+++ /etc/hosts\n"}
    assert answers[0].json() == {"id": event["id"], "message": "Permission denied successfully", "status": "denied"}
    (done,) = named(events, "tool_execution_complete")
    assert (done["progress"], done["success"]) == ("Failed Write tool after 1ms: permission denied", False)
    assert events[-1][0] == "complete" and events[-1][1]["content"] == "You said: edit\npermission denied: Write"
    messages = http.get(f"/api/sessions/{session_id}/export").json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
    assert messages[1]["toolCalls"][0]["inputJson"]["file_path"] == "/etc/hosts"
    assert messages[-1]["finishReason"] == "end_turn"
    assert "STOP what you are doing" in REJECTED


async def test_unknown_and_answered_ids_answer_200(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``http/rest_system.go::HandleGrantPermission``/``HandleDenyPermission`` never look the id up:
    ``permission.go::Grant``/``Deny`` do nothing for an id that is not pending, so an unknown or
    already answered id still gets 200; only the first answer counts."""
    unknown = str(uuid.uuid4())
    assert http.post(f"/api/permissions/{unknown}/grant").json() == {
        "id": unknown,
        "message": "Permission granted successfully",
        "status": "granted",
    }
    assert http.post(f"/api/permissions/{unknown}/deny").json()["status"] == "denied"
    session_id = create_session(http)
    late: list[httpx.Response] = []

    async def grant_then_deny(client: httpx.AsyncClient, name: str, data: dict[str, Any]) -> None:
        if name == "permission":
            await client.post(f"/api/permissions/{data['id']}/grant")
            late.append(await client.post(f"/api/permissions/{data['id']}/deny"))

    events = await converse(mix_server.base_url, session_id, "twice [[permission:bash:make]]", grant_then_deny)
    assert late[0].status_code == 200 and late[0].json()["status"] == "denied"
    assert events[-1][1]["content"].endswith("permission granted: bash")


async def test_tools_ask_unless_permissions_are_skipped(strict_server: MixDevServer, mix_server: MixDevServer) -> None:
    """The real server asks before tools act unless started with ``--dangerously-skip-permissions``
    (``permission.go::Request``); by default every scripted tool asks, here the ``[[tool]]``
    ``Bash`` call (``bash.go`` wording). A message without tools is unaffected; with the flag
    (the suite's shared server) the same call runs without asking."""
    with httpx.Client(base_url=strict_server.base_url, timeout=30) as http:
        session_id = create_session(http)
    answers: list[httpx.Response] = []
    events = await converse(strict_server.base_url, session_id, "go [[tool]]", _answering("grant", answers))
    (event,) = named(events, "permission")
    assert event["toolName"] == "Bash" and event["action"] == "Execute command: echo 'hello from the Mix devserver'"
    assert events[-1][1]["content"] == "You said: go\npermission granted: Bash"
    plain = await converse(strict_server.base_url, session_id, "no tools", _answering("grant", answers))
    assert not named(plain, "permission") and plain[-1][1]["content"] == "You said: no tools"
    with httpx.Client(base_url=mix_server.base_url, timeout=30) as http:
        skipping = create_session(http)
    unasked = await converse(mix_server.base_url, skipping, "go [[tool]]", _answering("grant", answers))
    assert not named(unasked, "permission") and unasked[-1][1]["content"] == "You said: go"


async def test_unanswered_request_is_denied_after_the_timeout(strict_server: MixDevServer) -> None:
    """``permission.go::permissionService.Request`` denies when no answer comes within its timeout
    (30 s there, 1 s on this server); the tool then fails like a denied one."""
    with httpx.Client(base_url=strict_server.base_url, timeout=30) as http:
        session_id = create_session(http)

    async def ignore(client: httpx.AsyncClient, name: str, data: dict[str, Any]) -> None:
        return None

    events = await converse(strict_server.base_url, session_id, "wait [[tool:bash:make deploy]]", ignore)
    (event,) = named(events, "permission")
    assert event["params"] == {"command": "make deploy", "timeout": 0}
    assert named(events, "tool_execution_complete")[0]["success"] is False
    assert events[-1][1]["content"] == "You said: wait\npermission denied: bash"


async def test_cancel_while_a_permission_is_pending(mix_server: MixDevServer, http: httpx.Client) -> None:
    """Cancel during the tool phase (``agent.go::CancelWithReason``) ends the run with two ``error``
    events ``context canceled`` and the tool results stored as errors; the request is gone, so a
    late grant changes nothing (``HandleGrantPermission`` still answers 200)."""
    session_id = create_session(http)
    pending: list[str] = []

    async def cancel(client: httpx.AsyncClient, name: str, data: dict[str, Any]) -> None:
        if name == "permission":
            pending.append(data["id"])
            assert (await client.post(f"/api/sessions/{session_id}/cancel")).status_code == 200

    events = await converse(mix_server.base_url, session_id, "stop [[permission:bash:sleep 100]]", cancel)
    assert events[-1] == ("error", {"error": "context canceled"})
    assert http.post(f"/api/permissions/{pending[0]}/grant").status_code == 200
    messages = http.get(f"/api/sessions/{session_id}/export").json()["messages"]
    assert [(m["role"], m.get("finishReason")) for m in messages] == [
        ("user", "stop"),
        ("assistant", "tool_use"),
        ("tool", "stop"),
    ]
