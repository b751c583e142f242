"""MixSendMessageOperator against the local server: blocking, deferrable, finish reasons, sub-agents, no wait."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG

from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.session import MixCreateSessionOperator
from mix_provider.sensors.session import MixSessionIdleSensor
from support.integration import MixAPI, final_reply, states, user_messages, xcom

START = datetime(2026, 1, 1)


def _last_assistant(api: MixAPI, session_id: str) -> dict[str, Any]:
    return final_reply(api.export(session_id))


def _server_turn_usage(api: MixAPI, session_id: str, message_ids: list[str]) -> tuple[int, int, float]:
    """Tokens and cost the server recorded on a turn's assistant messages (the local ``/messages`` keeps them)."""
    messages = api.http.get(f"/api/sessions/{session_id}/messages").raise_for_status().json()
    turn = [m for m in messages if m["id"] in message_ids and m["role"] == "assistant"]
    return sum(m["inputTokens"] for m in turn), sum(m["outputTokens"] for m in turn), sum(m["cost"] for m in turn)


# legacy: the turn's usage is checked against per-message usage, which only that generation sends (issue 24)
@pytest.mark.parametrize("fresh_mix_server", ["legacy"], indirect=True)
@pytest.mark.parametrize("deferrable", [False, True], ids=["blocking", "deferrable"])
def test_two_turns(run_dag: Any, fresh_mix_server: Any, uid: str, deferrable: bool) -> None:
    api = MixAPI(fresh_mix_server.base_url)
    with DAG(f"send_{uid}", schedule=None, start_date=START, params={"name": "Ada"}) as dag:
        create = MixCreateSessionOperator(task_id="create", title=f"send {uid}")
        first = MixSendMessageOperator(
            task_id="first",
            session_id=create.output,
            text="hello {{ params.name }} [[tool]]",
            thinking_level="basic",
            max_steps=5,
            plan_mode=False,
            deferrable=deferrable,
            poll_interval=0.2,
        )
        second = MixSendMessageOperator(
            task_id="second", session_id=create.output, text="and again", deferrable=deferrable, timeout=60
        )
        first >> second
    dr = run_dag(dag)
    assert dr.state == "success", states(dr)

    session_id = xcom(dr, "create")
    export = api.export(session_id)
    assert sorted(m["content"] for m in user_messages(export)) == ["and again", "hello Ada [[tool]]"]
    messages = export["messages"]
    assert sorted(m["role"] for m in messages) == ["assistant", "assistant", "assistant", "tool", "user", "user"]
    # found by content, not position: one second's messages come in no defined order
    second = [m for m in messages if m["content"] in ("and again", "You said: and again")]
    first = [m for m in messages if m not in second]
    for task_id, turn, reply, tools in (
        ("first", first, "You said: hello Ada", 1),
        ("second", second, "You said: and again", 0),
    ):
        result = xcom(dr, task_id)
        [server] = [m for m in turn if m.get("finishReason") == "end_turn"]
        assert result["session_id"] == session_id
        assert result["user_message_id"] == next(m["id"] for m in turn if m["role"] == "user")
        assert result["message_id"] == server["id"]
        assert result["reply"] == server["content"] == reply
        assert result["reply_truncated"] is False
        assert result["finish_reason"] == server["finishReason"] == "end_turn"
        assert result["tool_calls"] == sum(len(m.get("toolCalls", [])) for m in turn) == tools
        assert result["overlapped"] is False and result["usage_attributable"] is True
        tokens_in, tokens_out, cost = _server_turn_usage(api, session_id, [m["id"] for m in turn])
        assert (result["prompt_tokens"], result["completion_tokens"]) == (tokens_in, tokens_out)
        assert result["cost"] == pytest.approx(cost)
        assert "status" not in result


def test_finish_reasons_subagents_and_no_wait(run_dag: Any, api: MixAPI, uid: str, capfd: Any) -> None:
    names = ("err", "maxtok", "defer_err", "ok_err", "ok_max", "sub", "nowait")
    sessions = {name: api.create_session(f"{name} {uid}")["id"] for name in names}
    with DAG(f"finish_{uid}", schedule=None, start_date=START) as dag:
        nowait = MixSendMessageOperator(
            task_id="nowait", session_id=sessions["nowait"], text="later [[delay:3000]]", wait_for_reply=False
        )
        idle = MixSessionIdleSensor(task_id="idle", session_id=sessions["nowait"], poke_interval=0.2, timeout=30)
        others = [
            MixSendMessageOperator(task_id="err", session_id=sessions["err"], text="boom [[finish:error]]"),
            MixSendMessageOperator(task_id="maxtok", session_id=sessions["maxtok"], text="long [[finish:max_tokens]]"),
            MixSendMessageOperator(
                task_id="defer_err", session_id=sessions["defer_err"], text="boom [[finish:error]]", deferrable=True
            ),
            MixSendMessageOperator(
                task_id="ok_err", session_id=sessions["ok_err"], text="boom [[finish:error]]", fail_on_finish_reasons=()
            ),
            MixSendMessageOperator(
                task_id="ok_max",
                session_id=sessions["ok_max"],
                text="long [[finish:max_tokens]]",
                fail_on_finish_reasons=["error"],
                deferrable=True,
            ),
            MixSendMessageOperator(task_id="sub", session_id=sessions["sub"], text="delegate [[subagent]] [[tool]]"),
        ]
        nowait >> idle >> others  # the sensor runs right after the send, while the reply streams
    dr = run_dag(dag)
    out = capfd.readouterr().out

    assert states(dr) == {
        "err": "failed",
        "maxtok": "failed",
        "defer_err": "failed",
        "ok_err": "success",
        "ok_max": "success",
        "sub": "success",
        "nowait": "success",
        "idle": "success",
    }
    for name, reason in (("err", "error"), ("maxtok", "max_tokens"), ("defer_err", "error")):
        assert _last_assistant(api, sessions[name])["finishReason"] == reason
        assert f"The Mix reply in session {sessions[name]} ended with finish reason '{reason}'" in out
    assert xcom(dr, "ok_err")["finish_reason"] == "error"
    assert xcom(dr, "ok_max")["finish_reason"] == "max_tokens"
    assert xcom(dr, "ok_max")["message_id"] == _last_assistant(api, sessions["ok_max"])["id"]

    sub = xcom(dr, "sub")
    top = _last_assistant(api, sessions["sub"])
    assert sub["message_id"] == top["id"] and sub["reply"] == "You said: delegate"
    assert sub["tool_calls"] == 2, "the Bash call and the sub-agent's Task call of the top-level reply"

    assert xcom(dr, "nowait") == {"session_id": sessions["nowait"], "status": "sent"}
    transcript = api.export(sessions["nowait"])
    assert len(user_messages(transcript)) == 1
    assert final_reply(transcript)["finishReason"] == "end_turn", "the sensor waited for the reply"
    assert f"Mix session {sessions['nowait']} is busy" in out
