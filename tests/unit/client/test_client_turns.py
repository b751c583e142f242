"""Finding the turn our message started, in transcripts shaped as the real server stores them.

The real server stores a tool run as assistant (``tool_use``) -> ``tool`` -> assistant, accepts
messages while a run is in progress, and appends a system reminder to a plan-mode message
(``mix_agent/internal/llm/agent/agent.go``: ``processGeneration``, ``createUserMessage``).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from mix_provider.client import StreamEvent, TurnKey
from mix_provider.client.stream import judge_event, stream_refusal
from mix_provider.client.turns import (
    STALLED_AFTER,
    Reply,
    find_turn,
    finished_reply,
    finished_turns,
    is_idle,
    reply_after,
)
from mix_provider.errors import MixNotFoundError, MixReplyAmbiguousError
from mix_provider.models import ExportMessage, ExportSession


def user(mid: str, text: str) -> dict[str, Any]:
    return {"id": mid, "role": "user", "content": text}


def assistant(mid: str, text: str, reason: str = "end_turn", calls: int = 0) -> dict[str, Any]:
    message: dict[str, Any] = {"id": mid, "role": "assistant", "content": text, "finishReason": reason}
    if calls:
        message["toolCalls"] = [{"id": f"{mid}-t{n}", "name": "bash", "finished": True} for n in range(calls)]
    return message


def tool(mid: str) -> dict[str, Any]:
    return {"id": mid, "role": "tool", "content": ""}


def messages(*rows: dict[str, Any]) -> list[ExportMessage]:
    return [ExportMessage.model_validate(row) for row in rows]


TOOL_TURN = (
    user("u1", "run the checks"),
    assistant("a1", "Let me look.", "tool_use", calls=2),
    tool("t1"),
    assistant("a2", "One more.", "tool_use", calls=1),
    tool("t2"),
    assistant("a3", "All green."),
)


def test_a_tool_turn_is_several_messages_and_counts_every_call() -> None:
    reply = finished_reply(messages(*TOOL_TURN), TurnKey.of(0, "run the checks"))
    assert reply == Reply(
        message_id="a3",
        text="All green.",
        finish_reason="end_turn",
        tool_calls=3,
        user_message_id="u1",
        steps=2,
        assistant_ids=("a1", "a2", "a3"),
    )


@pytest.mark.parametrize("cut", [2, 3, 5], ids=["after-tool_use", "after-tool-results", "after-second-results"])
def test_a_tool_turn_is_unfinished_until_its_final_assistant_message(cut: int) -> None:
    assert finished_reply(messages(*TOOL_TURN[:cut]), TurnKey.of(0, "run the checks")) is None


def test_the_reply_is_ours_even_when_a_later_turn_has_finished() -> None:
    """A late wait (triggerer picked it up after another turn) must not return the newer reply."""
    rows = messages(
        user("u1", "first"),
        assistant("a1", "one"),
        user("u2", "ours"),
        assistant("a2", "reply to ours"),
        user("u3", "someone else's"),
        assistant("a3", "reply to them"),
    )
    reply = finished_reply(rows, TurnKey.of(1, "ours"))
    assert reply is not None
    assert (reply.user_message_id, reply.message_id, reply.text) == ("u2", "a2", "reply to ours")


def test_another_message_sent_after_the_baseline_is_skipped_by_its_text() -> None:
    """Someone else's message landed first after our baseline: ours is found by its text, not position."""
    rows = messages(
        user("u1", "first"),
        assistant("a1", "one"),
        user("u2", "someone else's"),
        assistant("a2", "reply to them"),
        user("u3", "ours"),
        assistant("a3", "reply to ours"),
    )
    reply = finished_reply(rows, TurnKey.of(1, "ours"))
    assert reply is not None and reply.message_id == "a3"
    assert finished_reply(rows[:5], TurnKey.of(1, "ours")) is None


def test_overlapping_tool_runs_are_told_apart_by_storage_order() -> None:
    """Two runs interleaved as the real server stores them: each round is stored as it happens."""
    rows = messages(
        user("u1", "ours"),
        assistant("a1", "", "tool_use", calls=1),
        user("u2", "theirs"),
        assistant("b1", "reply to them"),
        tool("t1"),
        assistant("a2", "reply to ours"),
    )
    ours = find_turn(rows, TurnKey.of(0, "ours"))
    theirs = find_turn(rows, TurnKey.of(0, "theirs"))
    assert ours is not None and theirs is not None
    assert [m.id for m in ours.messages] == ["a1", "t1", "a2"]
    assert [m.id for m in theirs.messages] == ["b1"]
    assert ours.overlapped and theirs.overlapped
    reply = finished_reply(rows, TurnKey.of(0, "ours"))
    assert reply is not None and (reply.message_id, reply.tool_calls, reply.overlapped) == ("a2", 1, True)
    assert finished_reply(rows[:5], TurnKey.of(0, "ours")) is None, "our tool results are in, the answer is not"


def test_an_empty_assistant_message_being_streamed_is_not_final() -> None:
    """The real server stores the assistant message when its round starts, without a finish reason."""
    rows = messages(user("u1", "ours"), {"id": "a1", "role": "assistant", "content": ""})
    assert finished_reply(rows, TurnKey.of(0, "ours")) is None


def test_a_turn_after_one_that_ended_without_an_answer_gets_its_own_reply() -> None:
    """A run stopped by an error after its tools (max steps) never gets a final message: the next
    run's answer must not be given to it."""
    rows = messages(
        user("u1", "first"),
        assistant("a1", "", "tool_use", calls=1),
        tool("t1"),
        user("u2", "ours"),
        assistant("a2", "reply to ours"),
    )
    reply = finished_reply(rows, TurnKey.of(1, "ours"))
    assert reply is not None and reply.message_id == "a2"


def test_sequential_turns_do_not_overlap() -> None:
    rows = messages(*TOOL_TURN, user("u9", "next"), assistant("a9", "done"))
    reply = finished_reply(rows, TurnKey.of(1, "next"))
    assert reply is not None and not reply.overlapped


def test_plan_mode_reminder_appended_by_the_server_still_matches() -> None:
    stored = "plan the migration\n\n<system-reminder>\nPlan mode is active.\n</system-reminder>"
    rows = messages(user("u1", stored), assistant("a1", "Plan: ..."))
    assert finished_reply(rows, TurnKey.of(0, "plan the migration")) is not None
    assert finished_reply(rows, TurnKey.of(0, "plan the migration, then do it")) is None


def test_turn_key_is_small_json_without_the_text() -> None:
    key = TurnKey.of(4, "secret project codename")
    data = key.to_json()
    assert "secret" not in str(data)
    assert data["after_user_messages"] == 4 and data["length"] == len("secret project codename")
    assert TurnKey.from_json(data) == key
    assert TurnKey.from_json({"after_user_messages": 2}) == TurnKey(2)


def test_a_stream_error_before_our_message_is_stored_is_not_ours() -> None:
    verdict = judge_event(StreamEvent("error", {"error": "another run failed"}))
    assert reply_after(verdict, messages(user("u1", "first"), assistant("a1", "one")), TurnKey.of(1, "ours")) is None


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("request cancelled by user", "canceled"),
        ("context canceled", "canceled"),  # cancelled while the tools ran
        ("maximum iteration limit (3 steps) reached", "canceled"),  # agent.go finishes the round as canceled
        ("provider exploded", "error"),
    ],
)
def test_a_stream_error_ending_our_turn_becomes_its_reply(error: str, reason: str) -> None:
    verdict = judge_event(StreamEvent("error", {"error": error}))
    rows = messages(user("u1", "ours"), assistant("a1", "", "tool_use", calls=1), tool("t1"))
    reply = reply_after(verdict, rows, TurnKey.of(0, "ours"))
    expected = Reply(message_id="", text=error, finish_reason=reason, tool_calls=1, user_message_id="u1", steps=1)
    assert reply == dataclasses.replace(expected, assistant_ids=("a1",))


def test_a_stream_error_while_runs_overlap_is_left_to_the_transcript() -> None:
    verdict = judge_event(StreamEvent("error", {"error": "request cancelled by user"}))
    rows = messages(user("u1", "ours"), assistant("a1", "", "tool_use", calls=1), user("u2", "theirs"))
    assert reply_after(verdict, rows, TurnKey.of(0, "ours")) is None


def test_the_transcript_wins_over_the_stream_error() -> None:
    verdict = judge_event(StreamEvent("error", {"error": "request cancelled by user"}))
    rows = messages(user("u1", "ours"), assistant("a1", "stopped", "canceled"))
    reply = reply_after(verdict, rows, TurnKey.of(0, "ours"))
    assert reply is not None and (reply.message_id, reply.finish_reason) == ("a1", "canceled")


def test_stream_refusal_of_an_unknown_session() -> None:
    refusal = stream_refusal("nope", StreamEvent("error", {"error": "Invalid session ID: nope"}, "1"))
    assert isinstance(refusal, MixNotFoundError) and "Invalid session ID" in str(refusal)
    assert stream_refusal("s", StreamEvent("error", {"error": "provider exploded"})) is None
    assert stream_refusal("s", StreamEvent("connected", {"sessionId": "s"})) is None


def test_real_export_shapes_parse() -> None:
    """Shapes of ``convertToExportSession``: tool call ``metadata`` a JSON string, ``inputJson`` parsed,
    a ``tool`` message with empty content, ``finishReason: stop`` on user and tool messages."""
    rows = messages(
        {"id": "u1", "role": "user", "content": "ls", "finishReason": "stop"},
        {
            "id": "a1",
            "role": "assistant",
            "content": "",
            "finishReason": "tool_use",
            "toolCalls": [
                {
                    "id": "toolu_1",
                    "name": "Bash",
                    "input": '{"command": "ls"}',
                    "inputJson": {"command": "ls"},
                    "type": "tool_use",
                    "finished": True,
                    "metadata": '{"exit_code": 0}',
                }
            ],
        },
        {"id": "t1", "role": "tool", "content": "", "finishReason": "stop"},
        {"id": "a2", "role": "assistant", "content": "two files", "finishReason": "end_turn"},
    )
    call = (rows[1].tool_calls or [])[0]
    assert (call.metadata, call.input_json) == ('{"exit_code": 0}', {"command": "ls"})
    assert [m.role for m in rows] == ["user", "assistant", "tool", "assistant"]
    reply = finished_reply(rows, TurnKey.of(0, "ls"))
    assert reply is not None and (reply.message_id, reply.tool_calls) == ("a2", 1)


def test_two_tool_runs_waiting_at_once_are_refused_not_guessed() -> None:
    """Nothing says whose tool results a ``tool`` message holds when two runs wait for theirs."""
    rows = messages(
        user("u1", "first"),
        assistant("a1", "", "tool_use", calls=1),
        user("u2", "second"),
        assistant("b1", "", "tool_use", calls=1),
        tool("t1"),
        assistant("x", "which one?"),
    )
    for text in ("first", "second"):
        with pytest.raises(MixReplyAmbiguousError, match="cannot be told apart") as info:
            finished_reply(rows, TurnKey.of(0, text), "s1")
        assert info.value.session_id == "s1"
    assert finished_reply(rows[:4], TurnKey.of(0, "first")) is None, "no tool message yet: nothing guessed"


NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)


def stamped(row: dict[str, Any], seconds_ago: float) -> dict[str, Any]:
    return {**row, "updatedAt": (NOW - timedelta(seconds=seconds_ago)).isoformat()}


def export_of(*rows: dict[str, Any]) -> ExportSession:
    return ExportSession.model_validate({"id": "s1", "messages": list(rows)})


def test_an_earlier_run_still_streaming_keeps_the_session_busy() -> None:
    """Run 1 streams while run 2, sent after it, has finished: the last message is final, the session is not idle."""
    overlapping = export_of(user("u1", "slow"), assistant("a1", "", ""), user("u2", "fast"), assistant("a2", "done"))
    assert not is_idle(overlapping, NOW)
    assert finished_turns(overlapping.messages) == ["a2"]
    finished = export_of(user("u1", "slow"), assistant("a1", "late"), user("u2", "fast"), assistant("a2", "done"))
    assert is_idle(finished, NOW)


def test_a_run_finishing_after_a_later_one_is_reported_too() -> None:
    rows = (user("u1", "slow"), assistant("a1", "late"), user("u2", "fast"), assistant("a2", "done"))
    assert finished_turns(messages(*rows)) == ["a1", "a2"]


@pytest.mark.parametrize(("seconds_ago", "idle"), [(1, False), (STALLED_AFTER.total_seconds(), True)])
def test_a_run_cancelled_while_its_tools_ran_ends_once_stalled(seconds_ago: float, idle: bool) -> None:
    """Cancelled during its tools, a run stores the (error) results and nothing after: busy only for a while."""
    rows = (user("u1", "run it"), assistant("a1", "", "tool_use", calls=1), stamped(tool("t1"), seconds_ago))
    assert is_idle(export_of(*rows), NOW) is idle
    assert finished_turns(messages(*rows)) == []


def test_an_empty_session_is_idle() -> None:
    assert is_idle(export_of(), NOW)
