"""The turn contract: a turn's usage computed once, its events built, cut to size, validated and turned back into typed errors."""

from __future__ import annotations

from typing import Any

import pytest

from mix_provider.client import Reply, TurnKey
from mix_provider.client.outcome import (
    REPLY_XCOM_LIMIT,
    AskEvent,
    ErrorEvent,
    IdleErrorEvent,
    IdleEvent,
    StoppedEvent,
    SuccessEvent,
    TimeoutEvent,
    TurnStatus,
    interrupted,
    parse_event,
    parse_idle_event,
)
from mix_provider.client.usage import TurnBaseline, TurnUsage, message_tokens, turn_usage
from mix_provider.errors import (
    MixAskRequired,
    MixBudgetExceededError,
    MixReplyTimeoutError,
    MixSupervisionError,
    MixUndecidedRequestError,
    MixWaitFailedError,
)
from mix_provider.models import SessionData

BEFORE = SessionData(id="s1", user_message_count=2, prompt_tokens=100, completion_tokens=40, cost=0.25)
AFTER = SessionData(id="s1", user_message_count=3, prompt_tokens=130, completion_tokens=52, cost=0.3000001)
BASELINE = TurnBaseline.of(BEFORE)


def test_baseline_is_small_json() -> None:
    assert BASELINE.to_json() == {"user_messages": 2, "cost": 0.25}
    assert TurnBaseline.from_json(BASELINE.to_json()) == BASELINE
    saved_by_an_earlier_release = {"user_messages": 2, "prompt_tokens": 100, "completion_tokens": 40, "cost": 0.25}
    assert TurnBaseline.from_json(saved_by_an_earlier_release) == BASELINE
    assert TurnBaseline.from_json({"user_messages": 3}) == TurnBaseline(user_messages=3)


def test_usage_is_the_cost_change_and_the_per_message_tokens() -> None:
    """``agent.go`` ``TrackUsage`` adds cost but assigns the last call's tokens: their change is no turn's."""
    usage = turn_usage(BASELINE, AFTER, (30, 12))
    assert usage == TurnUsage(prompt_tokens=30, completion_tokens=12, cost=0.0500001)
    assert usage.tokens == 42 and TurnUsage.from_json(usage.to_json()) == usage
    assert TurnUsage(prompt_tokens=None, completion_tokens=None, cost=0.1).tokens == 0


def test_without_per_message_usage_tokens_are_unknown_never_a_difference() -> None:
    smaller = AFTER.model_copy(update={"prompt_tokens": 60, "completion_tokens": 5})  # a shorter last call
    for totals in (AFTER, smaller):
        usage = turn_usage(BASELINE, totals)
        assert (usage.prompt_tokens, usage.completion_tokens) == (None, None), "never last-call counts' change"
    assert turn_usage(BASELINE, smaller).cost == pytest.approx(0.0500001)


def test_per_message_tokens_are_summed_only_when_every_message_has_them() -> None:
    found = {"a1": (10, 3), "a2": (20, 4), "a3": (None, None)}
    assert message_tokens(found, ["a1", "a2"]) == (30, 7)
    assert message_tokens(found, ["a1", "a3"]) is None, "one message without usage: unknown"
    assert message_tokens(found, ["a1", "a9"]) is None and message_tokens(found, []) is None


def test_success_payload_reports_the_turn_not_the_session() -> None:
    reply = Reply(message_id="m6", text="hello", finish_reason="end_turn", tool_calls=2, user_message_id="m3")
    event = SuccessEvent.of("s1", reply, BASELINE, AFTER, tokens=(30, 12), stored_before={"m2", "m1"})
    payload = event.to_json()
    assert payload == {
        "status": "success",
        "session_id": "s1",
        "baseline": BASELINE.to_json(),
        "user_message_id": "m3",
        "message_id": "m6",
        "reply": "hello",
        "reply_truncated": False,
        "finish_reason": "end_turn",
        "tool_calls": 2,
        "steps": 0,
        "overlapped": False,
        "prompt_tokens": 30,
        "completion_tokens": 12,
        "cost": pytest.approx(0.0500001),
        "usage_attributable": True,
        "decisions": {},
        "stored_before": ["m1", "m2"],
    }
    assert parse_event(payload) == event
    assert parse_event(event) is event


def test_usage_shared_with_other_turns_is_not_reported_as_ours() -> None:
    """Two more user messages since the baseline: the totals' change includes another turn's spend."""
    reply = Reply(message_id="m6", text="hello", finish_reason="end_turn", tool_calls=0, user_message_id="m3")
    busier = AFTER.model_copy(update={"user_message_count": 4})
    payload = SuccessEvent.of("s1", reply, BASELINE, busier).to_json()
    assert (payload["prompt_tokens"], payload["completion_tokens"], payload["cost"]) == (None, None, None)
    assert payload["usage_attributable"] is False
    assert parse_event(payload).to_json() == payload
    assert SuccessEvent.of("s1", reply, BASELINE, busier).usage is None


@pytest.mark.parametrize(("size", "truncated"), [(REPLY_XCOM_LIMIT, False), (REPLY_XCOM_LIMIT + 1, True)])
def test_long_replies_are_cut_and_flagged(size: int, truncated: bool) -> None:
    reply = Reply(message_id="m", text="x" * size, finish_reason="end_turn", tool_calls=0)
    payload = SuccessEvent.of("s1", reply, BASELINE, AFTER).to_json()
    assert len(payload["reply"]) == min(size, REPLY_XCOM_LIMIT)
    assert payload["reply_truncated"] is truncated


def test_failure_payload_validates() -> None:
    payload = TimeoutEvent(session_id="s1", message="too slow").to_json()
    assert parse_event(payload).to_json() == {
        "status": "timeout",
        "session_id": "s1",
        "baseline": None,
        "message": "too slow",
    }


@pytest.mark.parametrize(
    ("event", "complaint"),
    [
        ([], "must be a dict"),
        ({"status": "ok"}, "is not one of"),
        (
            {"status": "success", "session_id": "s1"},
            "lacks completion_tokens, cost, finish_reason, message_id, prompt_tokens, reply$",
        ),
        ({"status": "error"}, "lacks message, session_id"),
        ({"status": "ask", "session_id": "s1", "request": []}, r"has a bad request: Input should be a valid dict"),
    ],
)
def test_validate_event_names_the_problem(event: object, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_event(event)


def test_usage_of_a_turn_overlapped_by_a_run_already_in_progress_is_not_ours() -> None:
    """One user message since the baseline, but a run started before it finished meanwhile: its spend is in the totals."""
    reply = Reply(message_id="m6", text="hello", finish_reason="end_turn", tool_calls=0, overlapped=True)
    payload = SuccessEvent.of("s1", reply, BASELINE, AFTER).to_json()
    assert (payload["prompt_tokens"], payload["completion_tokens"], payload["cost"]) == (None, None, None)
    assert payload["usage_attributable"] is False


TURN = TurnKey.of(2, "hello")
USAGE = TurnUsage(prompt_tokens=5, completion_tokens=None, cost=0.02)


@pytest.mark.parametrize(
    ("exc", "status", "rebuilt"),
    [
        (MixBudgetExceededError("s1", "max_cost_usd", 0.01, 0.02), TurnStatus.STOPPED, MixBudgetExceededError),
        (MixUndecidedRequestError("s1", "permission", "bash 'ls'"), TurnStatus.STOPPED, MixUndecidedRequestError),
        (MixSupervisionError("s1", "stopped by a policy"), TurnStatus.STOPPED, MixSupervisionError),
        (MixAskRequired("s1", {"kind": "permission", "id": "p1"}), TurnStatus.ASK, None),
    ],
)
def test_a_supervisor_s_end_crosses_the_trigger_boundary_and_comes_back_typed(
    exc: Any, status: TurnStatus, rebuilt: type[Exception] | None
) -> None:
    event = interrupted(exc, BASELINE, TURN, USAGE, {"granted": 1})
    back = parse_event(event.to_json())
    assert back == event and back.status is status
    assert isinstance(back, (AskEvent, StoppedEvent)) and back.turn == TURN and back.decisions == {"granted": 1}
    if isinstance(back, StoppedEvent):
        error = back.to_error(60)
        assert type(error) is rebuilt and str(error) == str(exc) and back.usage == USAGE
        assert vars(error) == vars(exc)
    else:
        assert back.request == exc.request


def test_timeouts_and_errors_come_back_as_their_typed_errors() -> None:
    timeout = parse_event(TimeoutEvent(session_id="s1", message="late").to_json())
    assert isinstance(timeout, TimeoutEvent) and isinstance(timeout.to_error(42), MixReplyTimeoutError)
    assert "42" in str(timeout.to_error(42))
    error = parse_event(ErrorEvent(session_id="s1", message="MixServerError: boom").to_json())
    assert isinstance(error, ErrorEvent) and isinstance(error.to_error(42), MixWaitFailedError)
    assert "boom" in str(error.to_error(42))


def test_idle_events_round_trip_and_rebuild_the_error() -> None:
    idle, failed = IdleEvent(session_id="s"), IdleErrorEvent(session_id="s", message="gone")
    assert idle.to_json() == {"status": "idle", "session_id": "s"}
    assert parse_idle_event(idle.to_json()) == idle and parse_idle_event(failed.to_json()) == failed
    assert parse_idle_event(failed) is failed
    error = failed.to_error()
    assert isinstance(error, MixWaitFailedError) and "gone" in str(error)


@pytest.mark.parametrize(
    ("event", "says"),
    [
        (None, "must be a dict"),
        ({"status": "done", "session_id": "s"}, "'done' is not one of"),
        ({"status": "success", "session_id": "s"}, "is not one of"),  # a turn's event is not the idle wait's
        ({"status": "idle"}, "lacks session_id"),
        ({"status": "error", "session_id": "s"}, "lacks message"),
    ],
)
def test_idle_events_breaking_the_contract_are_refused(event: Any, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_idle_event(event)
