"""Templated ``max_steps``, ``timeout``, ``max_cost_usd`` and ``max_tokens``: rendered, read as numbers, then checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mix_provider.client.policies import Budget
from mix_provider.errors import MixBudgetExceededError, MixConfigError
from mix_provider.operators.message import MixSendMessageOperator

Attach = Callable[[Any], Any]
TEMPLATED = {
    "max_steps": "{{ params.steps }}",
    "timeout": "{{ params.timeout }}",
    "max_cost_usd": "{{ params.cost }}",
    "max_tokens": "{{ params.tokens }}",
}
PARAMS = {"steps": 3, "timeout": 90, "cost": 0.5, "tokens": 10}
EVENT = {
    "status": "success",
    "session_id": "s1",
    "message_id": "m2",
    "reply": "done",
    "finish_reason": "end_turn",
    "prompt_tokens": 10,
    "completion_tokens": 3,
    "cost": 0.001,
}


def _send(**kwargs: Any) -> MixSendMessageOperator:
    return MixSendMessageOperator(task_id="send", **{"session_id": "s1", "text": "hi", **kwargs})


def _rendered(params: dict[str, Any], **kwargs: Any) -> MixSendMessageOperator:
    operator = _send(**{**TEMPLATED, **kwargs})
    operator.render_template_fields({"params": params})
    return operator


def test_the_four_are_template_fields() -> None:
    assert set(TEMPLATED) <= set(MixSendMessageOperator.template_fields)


def test_rendered_values_are_read_as_numbers_and_used(attach: Attach, recorder: Any) -> None:
    operator = attach(_rendered(PARAMS, wait_for_reply=False))
    assert operator.execute({}) == {"session_id": "s1", "status": "sent"}
    assert recorder.bodies("POST", "/messages") == [{"text": "hi", "max_steps": 3}]
    assert operator.timeout == 90.0
    assert operator.supervision.budget == Budget(max_cost_usd=0.5, max_tokens=10)


def test_a_rendered_budget_is_enforced_on_completion() -> None:
    with pytest.raises(MixBudgetExceededError, match="max_tokens"):
        _rendered(PARAMS).execute_complete({}, EVENT)


def test_a_rendered_none_means_no_limit() -> None:
    operator = _rendered({**PARAMS, "cost": None, "tokens": None})
    assert operator.execute_complete({}, EVENT)["reply"] == "done"
    assert operator.supervision.budget == Budget()


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("max_steps", "lots", "must be an integer >= 1"),
        ("max_steps", 0, "must be an integer >= 1"),
        ("timeout", "soon", "must be a positive number of seconds"),
        ("timeout", -1, "must be a positive number of seconds"),
        ("max_cost_usd", "cheap", "must be a positive number of US dollars"),
        ("max_tokens", 2.5, "must be a positive int"),
    ],
)
def test_a_bad_rendered_value_fails_before_any_request_naming_the_field(
    attach: Attach, recorder: Any, field: str, value: Any, says: str
) -> None:
    key = {"max_steps": "steps", "timeout": "timeout", "max_cost_usd": "cost", "max_tokens": "tokens"}[field]
    operator = attach(_rendered({**PARAMS, key: value}, wait_for_reply=False))
    with pytest.raises(MixConfigError, match=says) as info:
        operator.execute({})
    assert info.value.field == field
    assert recorder.requests == []


@pytest.mark.parametrize(("field", "value"), [("max_cost_usd", "0.5"), ("max_tokens", "100"), ("max_tokens", 0)])
def test_a_literal_budget_is_still_checked_at_parse_time(field: str, value: Any) -> None:
    with pytest.raises(MixConfigError) as info:
        _send(**{field: value})
    assert info.value.field == field
