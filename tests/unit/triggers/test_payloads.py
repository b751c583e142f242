"""The message trigger's event contract: built, cut to size and validated in one place."""

from __future__ import annotations

import pytest

from mix_provider.client import Reply
from mix_provider.models import SessionData
from mix_provider.triggers.payloads import (
    REPLY_XCOM_LIMIT,
    baseline_of,
    failure_payload,
    success_payload,
    validate_event,
)

BEFORE = SessionData(id="s1", user_message_count=2, prompt_tokens=100, completion_tokens=40, cost=0.25)
AFTER = SessionData(id="s1", user_message_count=3, prompt_tokens=130, completion_tokens=52, cost=0.3000001)


def test_baseline_is_small_json() -> None:
    assert baseline_of(BEFORE) == {"user_messages": 2, "prompt_tokens": 100, "completion_tokens": 40, "cost": 0.25}


def test_success_payload_reports_the_turn_not_the_session() -> None:
    reply = Reply(message_id="m6", text="hello", finish_reason="end_turn", tool_calls=2, user_message_id="m3")
    payload = success_payload("s1", reply, baseline_of(BEFORE), AFTER)
    assert payload == {
        "status": "success",
        "session_id": "s1",
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
    }
    assert validate_event(payload) is payload


def test_usage_shared_with_other_turns_is_not_reported_as_ours() -> None:
    """Two more user messages since the baseline: the totals' change includes another turn's spend."""
    reply = Reply(message_id="m6", text="hello", finish_reason="end_turn", tool_calls=0, user_message_id="m3")
    busier = AFTER.model_copy(update={"user_message_count": 4})
    payload = success_payload("s1", reply, baseline_of(BEFORE), busier)
    assert (payload["prompt_tokens"], payload["completion_tokens"], payload["cost"]) == (None, None, None)
    assert payload["usage_attributable"] is False
    assert validate_event(payload) is payload


@pytest.mark.parametrize(("size", "truncated"), [(REPLY_XCOM_LIMIT, False), (REPLY_XCOM_LIMIT + 1, True)])
def test_long_replies_are_cut_and_flagged(size: int, truncated: bool) -> None:
    reply = Reply(message_id="m", text="x" * size, finish_reason="end_turn", tool_calls=0)
    payload = success_payload("s1", reply, baseline_of(BEFORE), AFTER)
    assert len(payload["reply"]) == min(size, REPLY_XCOM_LIMIT)
    assert payload["reply_truncated"] is truncated


def test_failure_payload_validates() -> None:
    payload = failure_payload("timeout", "s1", "too slow")
    assert validate_event(payload) == {"status": "timeout", "session_id": "s1", "message": "too slow"}


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
    ],
)
def test_validate_event_names_the_problem(event: object, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        validate_event(event)


def test_usage_of_a_turn_overlapped_by_a_run_already_in_progress_is_not_ours() -> None:
    """One user message since the baseline, but a run started before it finished meanwhile: its spend is in the totals."""
    reply = Reply(message_id="m6", text="hello", finish_reason="end_turn", tool_calls=0, overlapped=True)
    payload = success_payload("s1", reply, baseline_of(BEFORE), AFTER)
    assert (payload["prompt_tokens"], payload["completion_tokens"], payload["cost"]) == (None, None, None)
    assert payload["usage_attributable"] is False
