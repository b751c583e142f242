"""Turns in sessions with callbacks, with second-resolution ties, and stopped by a step limit.

Shapes follow the real agent: ``agent.go`` ``streamAndHandleEvents`` stores the tool results, then runs
the session's callbacks before the next round; ``callbacks/executor.go`` ``executeSendMessage`` stores
the injected ``user`` message and then its ``tool`` message with a ``CallbackResult``, the other kinds
only the ``tool`` message; ``processGeneration`` finishes the last round of a run past ``max_steps`` as
``canceled``; ``messages.sql`` ``ListMessagesBySession`` orders by a ``created_at`` in whole seconds.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from test_client_turns import assistant, messages, tool, user

from mix_provider.client import TurnKey
from mix_provider.client import operations as ops
from mix_provider.client.scan import scan_chunks
from mix_provider.client.turns import find_turn, finished_reply, finished_turns, injected_texts
from mix_provider.errors import MixReplyAmbiguousError
from mix_provider.models import BackendMessage, Callback

CALLBACKS = [
    Callback.model_validate({"type": "send_message", "toolName": "bash", "messageContent": "Now summarise."}),
    Callback.model_validate({"type": "bash_script", "toolName": "bash", "bashCommand": "echo ok"}),
    Callback.model_validate({"type": "sub_agent", "toolName": "bash", "subAgentPrompt": "Review it."}),
]


def at(row: dict[str, Any], second: int) -> dict[str, Any]:
    return {**row, "createdAt": f"2026-01-01T00:00:{second:02d}Z"}


#: One run with all three callback kinds: its final answer answers the injected message.
CALLBACK_RUN = (
    user("u1", "ours"),
    assistant("a1", "", "tool_use", calls=1),
    tool("t1"),
    user("u-inj", "Now summarise."),
    tool("cb-send"),
    tool("cb-bash"),
    tool("cb-sub"),
    assistant("a2", "Summary: all green."),
)


def test_a_run_with_every_callback_kind_returns_its_own_final_reply() -> None:
    key = TurnKey.of(0, "ours", CALLBACKS)
    reply = finished_reply(messages(*CALLBACK_RUN), key)
    assert reply is not None
    assert (reply.message_id, reply.text, reply.tool_calls, reply.overlapped) == ("a2", "Summary: all green.", 1, False)
    turn = find_turn(messages(*CALLBACK_RUN), key)
    assert turn is not None and [m.id for m in turn.messages] == [
        "a1",
        "t1",
        "u-inj",
        "cb-send",
        "cb-bash",
        "cb-sub",
        "a2",
    ], "injected and callback messages belong to the run that caused them"


def test_without_knowing_the_callbacks_the_injected_message_looks_like_a_new_run() -> None:
    """Why the key carries the callbacks: the same transcript read without them never finishes our run."""
    assert finished_reply(messages(*CALLBACK_RUN), TurnKey.of(0, "ours")) is None


def test_a_later_turn_after_a_callback_run_is_its_own() -> None:
    rows = messages(*CALLBACK_RUN, user("u2", "next"), assistant("a3", "done"))
    reply = finished_reply(rows, TurnKey.of(2, "next", CALLBACKS))
    assert reply is not None and (reply.message_id, reply.overlapped) == ("a3", False)
    assert finished_turns(rows) == ["a2", "a3"] or "a3" in finished_turns(rows)


def test_the_key_remembers_callbacks_as_digests_only() -> None:
    key = TurnKey.of(3, "ours", CALLBACKS)
    data = key.to_json()
    assert "summarise" not in json.dumps(data) and data["callbacks"] is True
    assert TurnKey.from_json(data) == key
    assert injected_texts(CALLBACKS) == key.injected and len(key.injected) == 1


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_messages_of_one_second_are_taken_in_causal_order(order: tuple[int, ...]) -> None:
    """user, tool_use, results, answer stored in the same second: any listed order gives the same reply."""
    run = [user("u1", "ours"), assistant("a1", "", "tool_use", calls=1), tool("t1"), assistant("a2", "done")]
    rows = [at(run[i], 5) for i in order]
    reply = finished_reply(
        messages(at(user("u0", "before"), 4), at(assistant("a0", "x"), 4), *rows), TurnKey.of(1, "ours")
    )
    assert reply is not None and (reply.message_id, reply.tool_calls, reply.steps) == ("a2", 1, 1)


def test_our_message_stored_before_the_baselines_last_in_the_same_second_is_found() -> None:
    """The previous turn's message and ours in the same second, listed ours first. The transcript
    alone cannot say whether ``a0`` answered ours (ties); the transcript read just before sending,
    whose last second held ``a0``, says it was stored before ours."""
    rows = [
        at(user("u1", "ours"), 7),
        at(user("u0", "previous"), 7),
        at(assistant("a0", "previous answer"), 7),
        at(assistant("a1", "our answer"), 8),
    ]
    with pytest.raises(MixReplyAmbiguousError):
        finished_reply(messages(*rows), TurnKey.of(1, "ours"))
    key = TurnKey.of(1, "ours")
    key.pins.remember(messages(*rows[1:3]))
    reply = finished_reply(messages(*rows), key)
    assert reply is not None and reply.user_message_id == "u1"
    scanned = scan_chunks(ops.export_session("s"), [json.dumps({"id": "s", "messages": rows}).encode()], key)
    assert finished_reply(scanned.messages, key) == reply, "the scan keeps the text of a reply that may be ours"


def test_a_callback_run_in_one_second_in_any_order_finishes_with_its_answer() -> None:
    key = TurnKey.of(0, "ours", CALLBACKS)
    body = [at(row, 3) for row in reversed(CALLBACK_RUN)]
    reply = finished_reply(messages(*body), key)
    assert reply is not None and reply.message_id == "a2"
    scanned = scan_chunks(ops.export_session("s"), [json.dumps({"id": "s", "messages": body}).encode()], key)
    assert finished_reply(scanned.messages, key) == reply


def test_a_step_limited_run_ends_on_its_canceled_last_round() -> None:
    """Past ``max_steps`` the last tool round is finished as ``canceled``; its results follow it."""
    rows = messages(
        user("u1", "ours"),
        assistant("a1", "", "tool_use", calls=1),
        tool("t1"),
        assistant("a2", "Still checking", "canceled", calls=2),
        tool("t2"),
    )
    reply = finished_reply(rows, TurnKey.of(0, "ours"))
    assert reply is not None and (reply.message_id, reply.finish_reason, reply.steps, reply.tool_calls) == (
        "a2",
        "canceled",
        2,
        3,
    )


def test_callback_results_are_parsed_typed_from_the_messages() -> None:
    """``CallbackResultData`` keys are snake_case on the wire (``callbacks/executor.go`` ``saveCallbackResultMessage``)."""
    row = {
        "id": "cb",
        "sessionId": "s1",
        "role": "tool",
        "userInput": "",
        "callbackResults": [
            {"tool_call_id": "t1", "tool_name": "bash", "callback_type": "sub_agent", "success": True,
             "subagent_id": "child", "subagent_result": "Reviewed."},
            {"tool_call_id": "t1", "tool_name": "bash", "callback_type": "bash_script", "success": False,
             "stdout": "", "stderr": "boom", "exit_code": 2},
        ],
    }  # fmt: skip
    [sub, bash] = BackendMessage.model_validate(row).callback_results or []
    assert (sub.callback_type, sub.subagent_id, sub.subagent_result) == ("sub_agent", "child", "Reviewed.")
    assert (bash.success, bash.exit_code, bash.stderr) == (False, 2, "boom")
