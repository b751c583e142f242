"""MixSendMessageOperator: argument checks before any request, and the one completion handler of both modes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mix_provider.client.outcome import REPLY_XCOM_LIMIT
from mix_provider.errors import (
    MixConfigError,
    MixReplyCanceledError,
    MixReplyFailedError,
    MixReplyTimeoutError,
    MixStepLimitError,
    MixTokensUnmeasurableError,
    MixTriggerEventError,
    MixWaitFailedError,
)
from mix_provider.models import ThinkingLevel
from mix_provider.operators.message import MixSendMessageOperator

Attach = Callable[[Any], Any]
SUCCESS_EVENT = {
    "status": "success",
    "session_id": "s1",
    "message_id": "m2",
    "reply": "done",
    "reply_truncated": False,
    "finish_reason": "end_turn",
    "tool_calls": 0,
    "prompt_tokens": 10,
    "completion_tokens": 3,
    "cost": 0.001,
}


def _send(**kwargs: Any) -> MixSendMessageOperator:
    return MixSendMessageOperator(task_id="send", **{"session_id": "s1", "text": "hi", **kwargs})


def test_bad_thinking_level_fails_before_any_request(attach: Attach, recorder: Any) -> None:
    with pytest.raises(MixConfigError) as info:
        attach(_send(thinking_level="extreme")).execute({})
    assert info.value.field == "thinking_level"
    assert all(level.value in str(info.value) for level in ThinkingLevel)
    assert recorder.requests == []


@pytest.mark.parametrize(("kwargs", "field"), [({"text": "  "}, "text"), ({"session_id": "a b"}, "session_id")])
def test_bad_text_or_session_fails_before_any_request(
    attach: Attach, recorder: Any, kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(MixConfigError) as info:
        attach(_send(**kwargs)).execute({})
    assert info.value.field == field
    assert recorder.requests == []


@pytest.mark.parametrize("max_steps", [0, -1, True, "3", 1.5])
def test_max_steps_must_be_a_positive_int(max_steps: Any) -> None:
    with pytest.raises(MixConfigError) as info:
        _send(max_steps=max_steps)
    assert info.value.field == "max_steps"


@pytest.mark.parametrize("timeout", [0, -5, "60"])
def test_timeout_must_be_positive(timeout: Any) -> None:
    with pytest.raises(MixConfigError) as info:
        _send(timeout=timeout)
    assert info.value.field == "timeout"


def test_thinking_level_enum_renders_as_its_value() -> None:
    operator = _send(thinking_level=ThinkingLevel.MAXIMUM)
    operator.render_template_fields({})
    assert operator.thinking_level == "maximum"


def test_no_wait_sends_once_with_every_option(attach: Attach, recorder: Any) -> None:
    result = attach(_send(wait_for_reply=False, plan_mode=True, thinking_level="off", max_steps=2)).execute({})
    assert result == {"session_id": "s1", "status": "sent"}
    assert recorder.bodies("POST", "/messages") == [
        {"text": "hi", "plan_mode": True, "thinking_level": "off", "max_steps": 2}
    ]


@pytest.mark.parametrize(
    "event",
    [
        None,
        "success",
        {},
        {"status": "done", "session_id": "s1"},
        {k: v for k, v in SUCCESS_EVENT.items() if k != "finish_reason"},
        {"status": "error", "session_id": "s1"},
    ],
    ids=["none", "string", "empty", "unknown-status", "success-without-reason", "error-without-message"],
)
def test_invalid_events_are_rejected(event: Any) -> None:
    with pytest.raises(MixTriggerEventError, match="Invalid event from the Mix trigger"):
        _send().execute_complete({}, event)


def test_error_event_fails_with_its_message() -> None:
    with pytest.raises(MixWaitFailedError, match="Mix message error: no reply in s1"):
        _send().execute_complete({}, {"status": "error", "session_id": "s1", "message": "no reply in s1"})


def test_timeout_event_fails_typed() -> None:
    with pytest.raises(MixReplyTimeoutError, match="the reply in session s1 did not finish within 3600 s"):
        _send().execute_complete({}, {"status": "timeout", "session_id": "s1", "message": "no reply in s1"})


@pytest.mark.parametrize("reason", ["error", "max_tokens", "canceled", "permission_denied"])
def test_failing_finish_reasons(reason: str) -> None:
    event = {**SUCCESS_EVENT, "finish_reason": reason}
    kind = MixReplyCanceledError if reason == "canceled" else MixReplyFailedError
    with pytest.raises(kind, match=f"ended with finish reason '{reason}' \\(message m2\\): done") as info:
        _send().execute_complete({}, event)
    assert (info.value.finish_reason, info.value.message_id) == (reason, "m2")
    assert _send(fail_on_finish_reasons=()).execute_complete({}, event)["finish_reason"] == reason


def test_success_event_becomes_the_xcom() -> None:
    """Every field of the typed contract is in the XCom; those the event left out take their defaults."""
    result = _send().execute_complete({}, SUCCESS_EVENT)
    defaults = {
        "user_message_id": "",
        "overlapped": False,
        "usage_attributable": True,
        "decisions": {},
        "stored_before": [],
    }
    expected = {**{k: v for k, v in SUCCESS_EVENT.items() if k != "status"}, **defaults}
    assert result == {**expected, "steps": 0, "step_limited": False}


STEP_LIMITED = {**SUCCESS_EVENT, "finish_reason": "canceled", "steps": 3, "reply": "half done"}


def test_a_run_stopped_by_its_step_limit_raises_the_step_limit_error_not_cancelled() -> None:
    """``agent.go`` ``processGeneration`` finishes the last of ``max_steps`` rounds as ``canceled``."""
    with pytest.raises(MixStepLimitError, match="max_steps=3") as info:
        _send(max_steps=3).execute_complete({}, STEP_LIMITED)
    assert not isinstance(info.value, MixReplyCanceledError) and info.value.max_steps == 3
    with pytest.raises(MixStepLimitError):
        _send(max_steps=3, fail_on_finish_reasons=()).execute_complete({}, STEP_LIMITED)


def test_a_step_limited_partial_reply_can_be_accepted() -> None:
    result = _send(max_steps=3, on_step_limit="accept").execute_complete({}, STEP_LIMITED)
    assert (result["reply"], result["finish_reason"], result["step_limited"]) == ("half done", "canceled", True)


def test_a_canceled_reply_short_of_the_limit_is_a_cancellation() -> None:
    with pytest.raises(MixReplyCanceledError):
        _send(max_steps=5).execute_complete({}, STEP_LIMITED)
    with pytest.raises(MixReplyCanceledError):
        _send().execute_complete({}, STEP_LIMITED)


def test_on_step_limit_is_checked_at_parse_time() -> None:
    with pytest.raises(MixConfigError, match="on_step_limit: 'ignore' is not one of: fail, accept"):
        _send(on_step_limit="ignore")


def test_a_long_reply_is_cut_in_the_failure_message() -> None:
    event = {**SUCCESS_EVENT, "finish_reason": "error", "reply": "x" * REPLY_XCOM_LIMIT}
    with pytest.raises(MixReplyFailedError) as info:
        _send().execute_complete({}, event)
    assert len(str(info.value)) < 1000


def test_max_tokens_without_per_message_usage_is_refused_before_sending(attach: Attach, recorder: Any) -> None:
    """The session's token fields are the last LLM call's (``agent.go`` ``TrackUsage``): unmeasurable."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/messages"):
            return httpx.Response(200, json=[{"id": "m1", "role": "user"}, {"id": "m2", "role": "assistant"}])
        return httpx.Response(200, json={"id": "s1", "title": "t"})

    recorder.handler = handler
    with pytest.raises(MixTokensUnmeasurableError, match="max_tokens cannot be enforced in session s1") as info:
        attach(_send(max_tokens=1000, max_cost_usd=1.0)).execute({})
    assert "no per-message usage" in str(info.value) and "use max_cost_usd" in str(info.value)
    assert not [r for r in recorder.requests if r.method == "POST"], "nothing was sent"
