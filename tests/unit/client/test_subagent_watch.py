"""The watch of a sub-agent's permission requests (``client.subagents``), driven with scripted results.

``http/sse.go`` ``HandleSSEStream`` forwards a ``permission`` event only to the asking session's
streams: a sub-agent's requests reach its own stream only, so a supervised wait follows it.
"""

from __future__ import annotations

from typing import Any

import pytest

from mix_provider.client.drivers import drive
from mix_provider.client.operations import Call
from mix_provider.client.policies import PermissionPolicy, PermissionRule
from mix_provider.client.stream import StreamEvent
from mix_provider.client.subagents import watch_flow
from mix_provider.client.supervisor import Supervisor
from mix_provider.client.turns import TurnKey
from mix_provider.client.wait import Command, OpenEvents, Sleep, Wait
from mix_provider.errors import MixUndecidedRequestError
from mix_provider.models import SessionData

SESSION = "s1"
TASK_START = StreamEvent("tool_execution_start", {"progress": "Executing task tool", "toolCallId": "t1"})
ASK = StreamEvent("permission", {"id": "p9", "sessionId": "c1", "toolName": "bash", "params": {"command": "ls -la"}})
GRANT_LS = PermissionPolicy(rules=(PermissionRule(tool="bash", command="ls *", action="grant"),))
CHILD = SessionData(id="c1", session_type="subagent", parent_session_id=SESSION, parent_tool_call_id="t1")
ELSEWHERE = SessionData(id="c0", session_type="subagent", parent_session_id="another")


def _watch(supervisor: Supervisor, *results: Any, done: list[Command] | None = None) -> tuple[list[Command], Wait]:
    """Drive the watch of tool call ``t1``, answering its commands with ``results`` in order."""
    done = [] if done is None else done
    queue = list(results)

    def do(command: Command) -> Any:
        done.append(command)
        result = queue.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    wait = Wait.start(SESSION, TurnKey.of(0, "hi"), 5.0, 0.5, supervisor)
    drive(watch_flow(wait, "t1", 30.0), do)
    return done, wait


def test_the_task_tool_starting_asks_for_a_watch_once() -> None:
    supervisor = Supervisor(SESSION)
    assert supervisor.on_event(TASK_START).watch == "t1"
    assert supervisor.on_event(TASK_START).watch is None, "one watch per tool call"
    bash = StreamEvent("tool_execution_start", {"progress": "Executing bash tool", "toolCallId": "t2"})
    nested = StreamEvent("tool_execution_start", {**TASK_START.data, "toolCallId": "t3", "parentToolCallId": "t1"})
    assert supervisor.on_event(bash).watch is None and supervisor.on_event(nested).watch is None


def test_the_watch_finds_the_sub_agent_and_the_policy_answers_its_request() -> None:
    supervisor = Supervisor(SESSION, permissions=GRANT_LS)
    done, _ = _watch(supervisor, [ELSEWHERE], None, [ELSEWHERE, CHILD], None, StreamEvent("connected"), ASK, None, None)
    listed, slept, _, opened = done[:4]
    assert isinstance(listed, Call) and listed.path == "/api/sessions" and listed.params == {"includeSubagents": "true"}
    assert isinstance(slept, Sleep), "not there yet: looked again"
    assert opened == OpenEvents("c1", 30.0)
    answer = done[-2]
    assert isinstance(answer, Call) and (answer.method, answer.path) == ("POST", "/api/permissions/p9/grant")
    assert supervisor.tally["granted"] == 1, "counted like the parent's decisions"


def test_an_undecided_sub_agent_request_cancels_the_run_and_raises() -> None:
    done: list[Command] = []
    with pytest.raises(MixUndecidedRequestError):
        _watch(Supervisor(SESSION), [CHILD], None, StreamEvent("connected"), ASK, None, done=done)
    cancel = done[-1]
    assert isinstance(cancel, Call) and cancel.path == f"/api/sessions/{SESSION}/cancel", "the parent's run"


def test_no_sub_agent_session_found_is_logged_and_the_watch_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mix_provider.client.subagents.FIND_FOR", 0.0)
    done, wait = _watch(Supervisor(SESSION), [ELSEWHERE])
    assert len(done) == 1 and not wait.side_errors
