"""Conformance with the real Mix *agent* (what runs behind the handlers), on both generations.

Each test names the Go source it follows as ``<file>::<function>`` (paths from
``mix_agent/internal/``) and the commit read; ``current`` is the newest source, ``legacy`` the
older generation (``--generation legacy``). The index is in ``docs/devserver.md``.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from mix_provider.devserver.agent import token_cost
from mix_provider.devserver.testing import MixDevServer

from .devserver_sse import create_session, send_and_wait

CURRENT_LIST = "db/sql/sessions.sql::ListSessionsWithContent @ 8963d55c"
LEGACY_LIST = "db/sql/sessions.sql::ListSessionsWithContent @ 29eda156"
COUNTS = ("userMessageCount", "assistantMessageCount", "toolCallCount")


def _listed(server: MixDevServer, include_subagents: bool = False) -> list[dict[str, Any]]:
    params = {"includeSubagents": "true"} if include_subagents else {}
    response = httpx.get(f"{server.base_url}/api/sessions", params=params)
    assert response.status_code == 200
    result: list[dict[str, Any]] = response.json()
    return result


async def _sessions_with_a_subagent(server: MixDevServer, seeded: int) -> tuple[list[str], str, str]:
    """``seeded`` small sessions, then a parent whose turn runs a sub-agent (the newest session)."""
    ids = server.seed_sessions(seeded, messages=2, message_bytes=10)
    with httpx.Client(base_url=server.base_url) as http:
        parent = create_session(http, "parent")
        await send_and_wait(server.base_url, parent, "delegate [[subagent]]")
        (child,) = [s["id"] for s in _listed(server, True) if s.get("parentSessionId") == parent]
    return ids, parent, child


@pytest.mark.parametrize("fresh_mix_server", ["current"], indirect=True)
async def test_current_listing_is_the_20_newest_without_counts(fresh_mix_server: MixDevServer) -> None:
    """``db/sql/sessions.sql::ListSessionsWithContent`` (8963d55c): ``ORDER BY created_at DESC LIMIT
    20`` with the three counts selected as 0; ``http/rest_sessions.go::HandleListSessions`` drops
    sub-agent sessions *after* the limit, so the default list has 19 here. ``GetSessionByID`` still
    counts."""
    ids, parent, child = await _sessions_with_a_subagent(fresh_mix_server, 30)
    everything = _listed(fresh_mix_server, include_subagents=True)
    assert [s["id"] for s in everything] == [child, parent, *reversed(ids[-18:])]
    assert all(s[count] == 0 for s in everything for count in COUNTS)
    default = _listed(fresh_mix_server)
    assert [s["id"] for s in default] == [parent, *reversed(ids[-18:])]
    got = httpx.get(f"{fresh_mix_server.base_url}/api/sessions/{parent}").json()
    assert (got["userMessageCount"], got["assistantMessageCount"]) == (1, 2)


@pytest.mark.parametrize("fresh_mix_server", ["legacy"], indirect=True)
async def test_legacy_listing_is_every_session_with_counts(fresh_mix_server: MixDevServer) -> None:
    """``db/sql/sessions.sql::ListSessionsWithContent`` (29eda156): no limit, real counts."""
    ids, parent, child = await _sessions_with_a_subagent(fresh_mix_server, 30)
    default = _listed(fresh_mix_server)
    assert [s["id"] for s in default] == [*ids, parent]
    assert default[-1]["userMessageCount"] == 1 and default[0]["assistantMessageCount"] == 1
    assert {s["id"] for s in _listed(fresh_mix_server, True)} == {*ids, parent, child}


def _call_cost(text: str, output: str) -> float:
    """The scripted agent's cost of one LLM call reading ``text`` and writing ``output``."""
    return token_cost(12 + len(text.encode()) // 4, len(output.encode()) // 4)


async def _turn(server: MixDevServer, text: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A new session answering ``text``: its SessionData and its ``/messages`` rows."""
    with httpx.Client(base_url=server.base_url) as http:
        session_id = create_session(http)
        await send_and_wait(server.base_url, session_id, text)
        return http.get(f"/api/sessions/{session_id}").json(), http.get(f"/api/sessions/{session_id}/messages").json()


@pytest.mark.parametrize("fresh_mix_server", ["current"], indirect=True)
async def test_current_session_tokens_are_the_last_call(fresh_mix_server: MixDevServer) -> None:
    """``llm/agent/agent.go::TrackUsage`` (1fa5f2d6): each LLM call *assigns* ``PromptTokens`` and
    ``CompletionTokens`` and *adds* its cost; ``toolCallCount`` counts ``role: tool`` messages
    (``sessions.sql::GetSessionByID``); ``rest_messages.go::convertMessagesToData`` sends no
    per-message usage."""
    text = "two calls [[tool]] [[tool:bash:ls]]"
    session, rows = await _turn(fresh_mix_server, text)
    tool_inputs = "".join(call["input"] for row in rows for call in row.get("toolCalls", []))
    final = "You said: two calls"
    assert (session["promptTokens"], session["completionTokens"]) == (12 + len(text) // 4, len(final) // 4)
    assert session["cost"] == pytest.approx(_call_cost(text, final) + _call_cost(text, tool_inputs))
    assert session["toolCallCount"] == 1 and [row["role"] for row in rows].count("tool") == 1
    assert not any({"inputTokens", "outputTokens", "cost"} & set(row) for row in rows)


@pytest.mark.parametrize("fresh_mix_server", ["legacy"], indirect=True)
async def test_legacy_session_tokens_are_totals(fresh_mix_server: MixDevServer) -> None:
    """The older ``TrackUsage`` adds every call's tokens (``sess.PromptTokens += usage.InputTokens``);
    the rows carry the spec's per-message usage, which sums to the session's."""
    session, rows = await _turn(fresh_mix_server, "two calls [[tool]] [[tool:bash:ls]]")
    calls = [row for row in rows if row["role"] == "assistant"]
    assert session["promptTokens"] == sum(row["inputTokens"] for row in calls) == 2 * calls[-1]["inputTokens"]
    assert session["completionTokens"] == sum(row["outputTokens"] for row in calls)
    assert session["toolCallCount"] == 2


@pytest.mark.parametrize("fresh_mix_server", ["current"], indirect=True)
async def test_current_subagent_cost_is_added_to_the_parent(fresh_mix_server: MixDevServer) -> None:
    """``llm/agent/task-tool.go::Run`` (61622ba4) and ``db/sql/sessions.sql::IncrementSessionCost`` (8963d55c): the
    sub-agent session's cost is added to the parent's, so parent + child counts it twice."""
    text = "delegate [[subagent]]"
    parent, rows = await _turn(fresh_mix_server, text)
    (child,) = [s for s in _listed(fresh_mix_server, True) if s.get("parentSessionId") == parent["id"]]
    tool_inputs = "".join(call["input"] for row in rows for call in row.get("toolCalls", []))
    own = _call_cost(text, tool_inputs) + _call_cost(text, "You said: delegate")
    assert child["cost"] > 0 and parent["cost"] == pytest.approx(own + child["cost"])


CALLBACKS = [
    {
        "type": "bash_script",
        "toolName": "bash",
        "name": "audit",
        "bashCommand": 'echo "tool=$CALLBACK_TOOL_NAME"; echo oops >&2; exit 3',
    },
    {"type": "send_message", "toolName": "bash", "name": "nudge", "messageContent": "Please summarize"},
    {"type": "sub_agent", "toolName": "*", "name": "review", "subAgentPrompt": "Review it"},
]


async def _callback_turn(server: MixDevServer) -> tuple[str, list[tuple[str, dict[str, Any]]], list[dict[str, Any]]]:
    """A session with the three callbacks answering one ``bash`` tool call: id, events, ``/messages``."""
    with httpx.Client(base_url=server.base_url) as http:
        body = {"title": "callbacks", "callbacks": CALLBACKS}
        session_id = str(http.post("/api/sessions", json=body).raise_for_status().json()["id"])
        events = await send_and_wait(server.base_url, session_id, "go [[tool:bash:ls]]")
        return session_id, events, http.get(f"/api/sessions/{session_id}/messages").json()


@pytest.mark.parametrize("fresh_mix_server", ["current"], indirect=True)
async def test_current_callbacks_run_inside_the_run(fresh_mix_server: MixDevServer) -> None:
    """``llm/callbacks/executor.go::Execute`` (2a6de68b) called from ``llm/agent/agent.go::
    streamAndHandleEvents`` (1fa5f2d6) after the tool message: ``bash_script`` (scripted, nothing
    runs; ``CALLBACK_*`` variables), ``send_message`` (a ``role: user`` message answered in the same
    run), ``sub_agent`` (a ``Callback: <tool>`` session whose cost goes to the parent); each stores a
    ``role: tool`` message with a ``CallbackResult`` (``rest_messages.go`` ``CallbackResultData``)."""
    session_id, events, rows = await _callback_turn(fresh_mix_server)
    roles = [row["role"] for row in rows]
    assert roles == ["user", "assistant", "tool", "tool", "user", "tool", "tool", "assistant"]
    bash, sent, review = (row["callbackResults"][0] for row in (rows[3], rows[5], rows[6]))
    call_id = rows[1]["toolCalls"][0]["id"]
    assert bash == {
        "tool_call_id": call_id,
        "tool_name": "bash",
        "callback_name": "audit",
        "callback_type": "bash_script",
        "stdout": "tool=bash\n",
        "stderr": "oops\n",
        "exit_code": 3,
        "success": False,
        "error": "oops\n",
    }
    assert rows[4]["userInput"] == "Please summarize" and sent["subagent_result"] == "Please summarize"
    (child,) = [s for s in _listed(fresh_mix_server, True) if s.get("parentSessionId") == session_id]
    assert (child["title"], child["parentToolCallId"], review["subagent_id"]) == (
        "Callback: bash",
        call_id,
        child["id"],
    )
    final = events[-1][1]
    assert events[-1][0] == "complete" and final["messageId"] == rows[-1]["id"]
    assert final["content"] == "You said: go\nYou said: Please summarize"
    foreign = [data for name, data in events if name == "content" and data["assistantMessageId"] != rows[-1]["id"]]
    assert foreign and not any("parentToolCallId" in data for data in foreign)
    parent = httpx.get(f"{fresh_mix_server.base_url}/api/sessions/{session_id}").json()
    assert parent["toolCallCount"] == 4 and parent["cost"] > child["cost"] > 0


@pytest.mark.parametrize("fresh_mix_server", ["legacy"], indirect=True)
async def test_legacy_callbacks_are_stored_not_run(fresh_mix_server: MixDevServer) -> None:
    """``db/sql/sessions.sql`` @ 29eda156 has no callbacks: they are kept, nothing runs."""
    _, events, rows = await _callback_turn(fresh_mix_server)
    assert [row["role"] for row in rows] == ["user", "assistant", "tool", "assistant"]
    assert events[-1][1]["content"] == "You said: go"


@pytest.mark.parametrize("fresh_mix_server", ["current"], indirect=True)
async def test_current_step_limit_ends_the_run(fresh_mix_server: MixDevServer) -> None:
    """``llm/agent/agent.go::processGeneration`` (1fa5f2d6): past ``max_steps`` tool rounds the
    ``tool_use`` message is finished ``canceled`` and the run ends with an error (broadcast twice, as
    ``processAgentEvents`` does for a run's error)."""
    base = fresh_mix_server.base_url
    with httpx.Client(base_url=base) as http:
        session_id = create_session(http)
        events = await send_and_wait(base, session_id, "[[tool]]", max_steps=1)
        export = http.get(f"/api/sessions/{session_id}/export").json()["messages"]
        assert [(m["role"], m.get("finishReason")) for m in export] == [
            ("user", "stop"),
            ("assistant", "canceled"),
            ("tool", "stop"),
        ]
        assert export[1]["toolCalls"]
        errors = [data for name, data in events if name == "error"]
        assert errors == [{"error": "maximum iteration limit (1 steps) reached"}]
        more = await send_and_wait(base, session_id, "[[tool]] again", max_steps=2)
        assert more[-1][0] == "complete"


@pytest.mark.parametrize("fresh_mix_server", ["legacy"], indirect=True)
async def test_legacy_has_no_step_limit(fresh_mix_server: MixDevServer) -> None:
    """The older ``processGeneration`` (@ 03ba11a7) has no ``maxSteps``: the field is accepted and
    changes nothing (the oldest handlers even refused it; docs/real-server.md)."""
    with httpx.Client(base_url=fresh_mix_server.base_url) as http:
        session_id = create_session(http)
    events = await send_and_wait(fresh_mix_server.base_url, session_id, "[[tool]]", max_steps=1)
    assert events[-1][0] == "complete" and events[-1][1]["content"] == "You said: "


async def test_subagent_permission_never_reaches_the_parent_stream(tmp_path: Path) -> None:
    """``http/sse.go::HandleSSEStream`` (355c5631, 0cdd90d7 and the broadcast-era version alike)
    forwards a ``permission`` event only to streams of ``Payload.SessionID``: a sub-agent's tool asks
    under the sub-agent's session, so the parent's stream never sees the request, which is denied
    when its timeout passes (``permission.go`` ``Request``). Both generations."""
    flags = ["--permission-timeout-seconds", "1"]
    with MixDevServer(tmp_path / "data", extra_args=flags) as server, httpx.Client(base_url=server.base_url) as http:
        parent = create_session(http)
        started = time.monotonic()
        events = await send_and_wait(server.base_url, parent, "delegate [[subagent:permission:bash:rm -rf /tmp/x]]")
        waited = time.monotonic() - started
        (child,) = [s for s in _listed(server, True) if s.get("parentSessionId") == parent]
    assert "permission" not in [name for name, _ in events] and waited >= 1
    assert events[-1][0] == "complete"
    assert events[-1][1]["content"].splitlines()[-1] == "sub-agent permission denied: bash"
    assert child["sessionType"] == "subagent"


def test_message_timestamps_have_whole_seconds(http: httpx.Client) -> None:
    """``db/sql/messages.sql`` (@ 2a6de68b, ``CreateMessage``) stores ``created_at`` as ``strftime('%s', 'now')``:
    whole seconds."""
    body = {"title": "seconds", "messages": 2, "messageBytes": 8}
    session_id = http.post("/_devserver/seed/large-session", json=body).json()["id"]
    stamps = [m["createdAt"] for m in http.get(f"/api/sessions/{session_id}/export").json()["messages"]]
    assert all(datetime.fromisoformat(stamp).microsecond == 0 for stamp in stamps)


async def test_shuffled_ties_are_fixed_but_not_insertion_order(tmp_path: Path) -> None:
    """``db/sql/messages.sql::ListMessagesBySession`` (@ 2a6de68b: ``ORDER BY created_at ASC``, with
    ``created_at`` ``strftime('%s', 'now')``) orders by whole seconds alone: with
    ``--tie-order shuffled`` messages of one second come in a fixed order unrelated to insertion,
    the same on ``/messages`` and ``/export`` (also across export batches of 256)."""
    with (
        MixDevServer(tmp_path / "data", extra_args=["--tie-order", "shuffled"]) as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        seeded = server.seed_large_session(title="ties", messages=4, message_bytes=8)
        first = http.get(f"/api/sessions/{seeded['id']}/export").json()["messages"]
        assert [m["role"] for m in first] == ["assistant", "assistant", "user", "user"]  # seq 2, 4, 1, 3
        big = server.seed_large_session(title="many", messages=600, message_bytes=8)
        exported = [m["id"] for m in http.get(f"/api/sessions/{big['id']}/export").json()["messages"]]
        listed = [m["id"] for m in http.get(f"/api/sessions/{big['id']}/messages").json()]
        assert exported == listed and len(set(exported)) == 600
        assert [m["id"] for m in http.get(f"/api/sessions/{seeded['id']}/export").json()["messages"]] == [
            m["id"] for m in first
        ]


def test_shuffled_rewind_cuts_by_the_listed_order(tmp_path: Path) -> None:
    """``http/rest_sessions.go::HandleRewindSession`` (@ 95264f66) takes the message's index in
    ``Messages.List`` and ``DeleteAfterIndex`` deletes what is *listed* after it: in a shared second
    the messages stored before the one rewound to but listed after it are deleted too."""
    with (
        MixDevServer(tmp_path / "data", extra_args=["--tie-order", "shuffled"]) as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        seeded = server.seed_large_session(title="ties", messages=4, message_bytes=8)
        path = f"/api/sessions/{seeded['id']}"
        listed = http.get(f"{path}/export").json()["messages"]  # seq 2, 4, 1, 3 (one second)
        kept = http.post(f"{path}/rewind", json={"messageId": listed[1]["id"], "cleanupMedia": False})
        assert kept.status_code == 200 and kept.json()["userMessageCount"] == 0
        assert [m["id"] for m in http.get(f"{path}/export").json()["messages"]] == [m["id"] for m in listed[:2]]


@pytest.mark.parametrize("fresh_mix_server", ["current"], indirect=True)
async def test_current_rewind_keeps_tokens_and_cost(fresh_mix_server: MixDevServer) -> None:
    """``http/rest_sessions.go::HandleRewindSession`` only deletes messages (``DeleteAfterIndex``):
    the session keeps the cost it accumulated and its last call's tokens; counts follow the messages."""
    base = fresh_mix_server.base_url
    with httpx.Client(base_url=base) as http:
        session_id = create_session(http)
        await send_and_wait(base, session_id, "one")
        await send_and_wait(base, session_id, "two [[tool]]")
        before = http.get(f"/api/sessions/{session_id}").json()
        first_reply = http.get(f"/api/sessions/{session_id}/messages").json()[1]["id"]
        after = http.post(f"/api/sessions/{session_id}/rewind", json={"messageId": first_reply, "cleanupMedia": False})
    assert after.status_code == 200
    kept = after.json()
    assert (kept["userMessageCount"], kept["assistantMessageCount"], kept["toolCallCount"]) == (1, 1, 0)
    assert [kept[key] for key in ("promptTokens", "completionTokens", "cost")] == [
        before[key] for key in ("promptTokens", "completionTokens", "cost")
    ]
