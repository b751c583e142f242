"""The wait for a reply as a sans-I/O flow: driven here with scripted results, no transport at all."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import pytest

from mix_provider.client import operations as ops
from mix_provider.client.drivers import adrive, drive
from mix_provider.client.operations import Call
from mix_provider.client.policies import Budget, PermissionPolicy, PermissionRule
from mix_provider.client.scan import ScannedTranscript
from mix_provider.client.stream import StreamEvent
from mix_provider.client.supervisor import Supervisor
from mix_provider.client.turns import TurnKey
from mix_provider.client.usage import TurnBaseline
from mix_provider.client.wait import (
    CLOCK_SKEW,
    CloseEvents,
    Command,
    NextEvent,
    OpenEvents,
    Scan,
    Sleep,
    Urgent,
    Wait,
    reply_flow,
    second_fence,
)
from mix_provider.errors import (
    MixBudgetExceededError,
    MixNotFoundError,
    MixReplyAmbiguousError,
    MixReplyTimeoutError,
    MixTransportError,
    MixUndecidedRequestError,
)
from mix_provider.models import BackendMessage, MessageRecord, SessionTotals

SESSION, TURN = "s1", TurnKey.of(0, "hi")
PENDING = ScannedTranscript([MessageRecord(id="u1", role="user", content="hi")])
DONE = ScannedTranscript(
    [*PENDING.messages, MessageRecord(id="a1", role="assistant", content="hello", finish_reason="end_turn")],
    SessionTotals(user_message_count=1, prompt_tokens=3, completion_tokens=2, cost=0.01),
)
SEND = ops.send_message(SESSION, "hi", turn=TURN)
STAMP = datetime(2026, 1, 1, tzinfo=timezone.utc)


def record(message_id: str, role: str, content: str, finish: str | None = None, **fields: Any) -> MessageRecord:
    """A record stored in the same whole second as every other one here."""
    return MessageRecord(id=message_id, role=role, content=content, created_at=STAMP, finish_reason=finish, **fields)


PERMISSION = StreamEvent("permission", {"id": "p1", "toolName": "bash", "params": {"command": "ls"}})


class Script:
    """Answers each command from a list of (kind, result) pairs, in order; an exception result is raised."""

    def __init__(self, *steps: tuple[type | str, Any]) -> None:
        self.steps = list(steps)
        self.done: list[Command] = []

    def __call__(self, command: Command) -> Any:
        self.done.append(command)
        if isinstance(command, Urgent):  # not scripted: where it comes is checked on self.done
            return None
        kind, result = self.steps.pop(0)
        name = command.path if isinstance(command, Call) else type(command)
        assert name == kind, f"expected {kind}, the flow asked for {command}"
        if isinstance(result, Exception):
            raise result
        return result

    async def asynchronously(self, command: Command) -> Any:
        return self(command)


def _wait(timeout: float = 5.0, poll: float = 0.5, supervisor: Supervisor | None = None) -> Wait:
    return Wait.start(SESSION, TURN, timeout, poll, supervisor)


def _run(script: Script, wait: Wait, send: Call[Any] | None = SEND, answer: Call[Any] | None = None) -> Any:
    return drive(reply_flow(wait, 30.0, send, answer), script)


def test_the_stream_opens_before_the_send_and_its_complete_ends_the_wait() -> None:
    script = Script(
        (OpenEvents, None),
        (NextEvent, StreamEvent("connected")),
        (SEND.path, None),
        (NextEvent, StreamEvent("complete", {"messageId": "a1"})),
        (Scan, DONE),
    )
    reply = _run(script, _wait())
    assert (reply.message_id, reply.text, reply.totals) == ("a1", "hello", DONE.totals)
    assert script.done[0] == OpenEvents(SESSION, 5.0) and script.steps == []


def test_an_unavailable_stream_falls_back_to_polling_until_the_reply() -> None:
    script = Script(
        (OpenEvents, MixTransportError("GET", "/stream", "refused", sent=False)),
        (SEND.path, None),
        (CloseEvents, None),
        (Scan, PENDING),
        (Sleep, None),
        (Scan, DONE),
    )
    assert _run(script, _wait()).message_id == "a1"
    assert Sleep(0.5) in script.done


def test_a_dropped_stream_is_followed_by_polling() -> None:
    script = Script(
        (OpenEvents, None),
        (NextEvent, StreamEvent("connected")),
        (SEND.path, None),
        (NextEvent, TimeoutError()),
        (CloseEvents, None),
        (Scan, DONE),
    )
    assert _run(script, _wait()).message_id == "a1"


def test_without_a_send_the_answer_goes_first_and_a_reply_already_there_ends_the_wait() -> None:
    answer = ops.grant_permission("p0")
    script = Script((OpenEvents, None), (NextEvent, StreamEvent("connected")), (answer.path, None), (Scan, DONE))
    assert _run(script, _wait(), send=None, answer=answer).message_id == "a1"


def test_the_supervisor_s_answer_is_sent_and_one_found_gone_does_not_end_the_turn() -> None:
    policy = PermissionPolicy(rules=(PermissionRule(tool="bash"),))
    supervisor = Supervisor(SESSION, permissions=policy)
    gone = MixNotFoundError(404, "not_found", "no such permission", "POST", "/api/permissions/p1/grant")
    script = Script(
        (OpenEvents, None),
        (NextEvent, StreamEvent("connected")),
        (SEND.path, None),
        (NextEvent, PERMISSION),
        ("/api/permissions/p1/grant", gone),
        (NextEvent, StreamEvent("complete")),
        (Scan, DONE),
    )
    assert _run(script, _wait(supervisor=supervisor)).message_id == "a1"
    assert supervisor.tally["granted"] == 1
    lanes = [(index, command.on) for index, command in enumerate(script.done) if isinstance(command, Urgent)]
    grant = next(i for i, c in enumerate(script.done) if isinstance(c, Call) and c.path.endswith("/grant"))
    last_scan = max(i for i, c in enumerate(script.done) if isinstance(c, Scan))
    # the turn under way: its answer and its transcript go first
    assert [on for _, on in lanes] == [True, False] and lanes[0][0] < grant < last_scan < lanes[1][0]


def test_the_token_budget_reads_our_runs_rounds_in_any_tie_order_and_cancels() -> None:
    """Our first round is listed before our user message, the previous turn's reply among them (one
    second, no defined order): it is counted, the previous reply is not (the pre-send read saw it)."""
    turn = TurnKey.of(1, "hi")
    earlier = [record("u0", "user", "earlier"), record("a0", "assistant", "done", "end_turn")]
    ours = [record("a1", "assistant", "", "tool_use", tool_call_count=1), earlier[1], record("u1", "user", "hi")]
    usage = [
        BackendMessage(id="a0", role="assistant", input_tokens=900, output_tokens=900),
        BackendMessage(id="a1", role="assistant", input_tokens=80, output_tokens=30),
    ]
    supervisor = Supervisor(SESSION, budget=Budget.checked(max_tokens=100), baseline=TurnBaseline(user_messages=1))
    send = ops.send_message(SESSION, "hi", turn=turn)
    script = Script(
        (OpenEvents, None),
        (NextEvent, StreamEvent("connected")),
        (Scan, ScannedTranscript(earlier)),
        (send.path, None),
        (NextEvent, StreamEvent("tool_execution_start", {"toolCallId": "t1", "toolName": "bash"})),
        (Scan, ScannedTranscript([*ours, earlier[0]], DONE.totals)),
        (f"/api/sessions/{SESSION}/messages", usage),
        (f"/api/sessions/{SESSION}/cancel", None),
    )
    with pytest.raises(MixBudgetExceededError) as raised:
        drive(reply_flow(Wait.start(SESSION, turn, 5.0, 0.5, supervisor), 30.0, send, None), script)
    assert (raised.value.limit, raised.value.spent) == ("max_tokens", 110) and script.steps == []


def test_an_undecided_request_cancels_the_run_and_raises_even_if_the_cancel_fails() -> None:
    refused = MixTransportError("POST", "/cancel", "reset", sent=True)
    script = Script(
        (OpenEvents, None),
        (NextEvent, StreamEvent("connected")),
        (SEND.path, None),
        (NextEvent, PERMISSION),
        (f"/api/sessions/{SESSION}/cancel", refused),
    )
    with pytest.raises(MixUndecidedRequestError, match="bash"):
        _run(script, _wait(supervisor=Supervisor(SESSION)))
    assert script.steps == []


def test_polling_stops_before_a_poll_would_end_past_the_deadline() -> None:
    unavailable = MixTransportError("GET", "/stream", "x", sent=False)
    script = Script((OpenEvents, unavailable), (Scan, PENDING), (CloseEvents, None), (Scan, PENDING))
    with pytest.raises(MixReplyTimeoutError):
        _run(script, _wait(timeout=0.1, poll=0.5), send=None)
    assert script.steps == [] and not any(isinstance(command, Sleep) for command in script.done)


def test_a_permanent_stream_error_is_raised() -> None:
    missing = MixNotFoundError(404, "not_found", "no session", "GET", "/stream")
    with pytest.raises(MixNotFoundError):
        _run(Script((OpenEvents, missing)), _wait())


@pytest.mark.parametrize("driver", ["sync", "async"])
def test_both_drivers_run_the_same_flow(driver: str) -> None:
    import asyncio

    script = Script((OpenEvents, None), (NextEvent, None), (SEND.path, None), (CloseEvents, None), (Scan, DONE))
    flow = reply_flow(_wait(), 30.0, SEND, None)
    run: Callable[[], Any] = (
        (lambda: drive(flow, script))
        if driver == "sync"
        else (lambda: asyncio.run(adrive(flow, script.asynchronously)))
    )
    assert run().message_id == "a1" and [type(c) for c in script.done][-2:] == [CloseEvents, Scan]


def _tied(*rows: tuple[str, str, str, str | None]) -> ScannedTranscript:
    """Records all stored in one second (listed in the order given, as a shuffled tie lists them)."""
    stamp = "2026-01-01T00:00:05Z"
    return ScannedTranscript(
        [MessageRecord(id=i, role=r, content=c, finish_reason=f, created_at=stamp) for i, r, c, f in rows]
    )


PREVIOUS = (("u0", "user", "before", "stop"), ("a-prev", "assistant", "You said: before", "end_turn"))
#: The previous turn and ours stored in one second, listed in an order that says nothing.
TIED = _tied(
    ("a-mine", "assistant", "You said: hi", "end_turn"), PREVIOUS[0], ("u1", "user", "hi", "stop"), PREVIOUS[1]
)


@pytest.mark.parametrize("stream", [True, False], ids=["streaming", "polling"])
def test_the_read_before_sending_tells_our_reply_from_the_previous_turns_in_the_same_second(stream: bool) -> None:
    """The previous turn's answer was in the transcript read before the send: never ours. Our user
    message is pinned by the id the stream gave, the reply by its own."""
    turn = TurnKey.of(1, "hi")
    opened = [(NextEvent, StreamEvent("connected"))] if stream else []
    following = [
        (NextEvent, StreamEvent("user_message_created", {"messageId": "u1", "content": "hi"})),
        (NextEvent, StreamEvent("complete", {"messageId": "a-mine"})),
    ]
    script = Script(
        (OpenEvents, None if stream else MixTransportError("GET", "/stream", "refused", sent=False)),
        *opened,
        (Scan, _tied(*PREVIOUS)),
        (SEND.path, None),
        *(following if stream else [(CloseEvents, None)]),
        (Scan, TIED),
    )
    reply = _run(script, Wait.start(SESSION, turn, 5.0, 0.5))
    assert (reply.message_id, reply.user_message_id) == ("a-mine", "u1")
    assert (turn.pins.user_message_id if stream else "u1", turn.pins.reply_id) == ("u1", "a-mine")
    saved = TurnKey.from_json(turn.to_json()).pins
    assert (saved.reply_id, saved.before) == ("a-mine", frozenset({"a-prev"})), "the pins travel in the key's JSON"


def test_without_the_read_before_sending_the_same_second_is_ambiguous_not_guessed() -> None:
    """Re-attached (no send in this wait, no pins): the transcript alone cannot tell."""
    script = Script((OpenEvents, None), (NextEvent, StreamEvent("connected")), (Scan, TIED))
    with pytest.raises(MixReplyAmbiguousError):
        _run(script, Wait.start(SESSION, TurnKey.of(1, "hi"), 5.0, 0.5), send=None)


def _ended_at(stamp: float) -> ScannedTranscript:
    """The previous turn, its last message stored in the whole second of ``stamp``."""
    when = datetime.fromtimestamp(int(stamp), timezone.utc)
    return ScannedTranscript(
        [MessageRecord(id=i, role=r, content=c, finish_reason=f, created_at=when) for i, r, c, f in PREVIOUS]
    )


@pytest.mark.parametrize(
    ("ended", "pause"),
    [(0.05, 1.15), (0.5, 0.15), (1.5, 0.0), (5.0, 0.0), (-3.0, 1.25)],
    ids=["this-second", "last-second-within-skew", "over", "long-over", "server-clock-ahead"],
)
def test_a_turn_starts_in_a_second_of_its_own(ended: float, pause: float) -> None:
    """``second_fence``: the pause before sending ends the second the last read message was stored in
    (with ``CLOCK_SKEW`` to spare), and never exceeds ``1 + CLOCK_SKEW`` whatever the clocks say."""
    now, key = 1_000_000.1, TurnKey.of(1, "hi")
    transcript = _ended_at(now - ended)
    assert second_fence(transcript, now, key) == pytest.approx(pause)
    assert 0 <= second_fence(transcript, now, key) <= 1 + CLOCK_SKEW
    assert second_fence(ScannedTranscript([]), now, key) == 0


def test_no_pause_while_a_run_is_in_progress() -> None:
    """Ours overlaps a running turn anyway; pausing would only gather concurrent senders into the
    moment its second ends, all in one second."""
    now = time.time()
    running = ScannedTranscript([_ended_at(now).messages[0]])  # a user message, no reply yet
    assert second_fence(running, now, TurnKey.of(1, "hi")) == 0
    assert second_fence(_ended_at(now), now, TurnKey.of(1, "hi")) > 0


def test_the_flow_pauses_before_sending_into_the_second_the_last_turn_ended_in() -> None:
    turn = TurnKey.of(1, "hi")
    script = Script(
        (OpenEvents, None),
        (NextEvent, StreamEvent("connected")),
        (Scan, _ended_at(time.time())),
        (Sleep, None),
        (SEND.path, None),
        (NextEvent, StreamEvent("complete", {"messageId": "a-mine"})),
        (Scan, TIED),
    )
    _run(script, Wait.start(SESSION, turn, 5.0, 0.5))
    (sleep,) = [command for command in script.done if isinstance(command, Sleep)]
    assert 0 < sleep.seconds <= 1 + CLOCK_SKEW
