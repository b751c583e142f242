"""Typed replies: every JSON candidate of a reply is tried before an invalid reply costs a retry."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel

from mix_provider.structured import output_adapter, parse_reply


class Triage(BaseModel):
    """The typed answer the tests ask for."""

    priority: Literal["low", "high"]
    reason: str


ADAPTER = output_adapter(Triage)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"priority": "low", "reason": "whole"}', "whole"),
        ('Sure.\n```json\n{"priority": "high", "reason": "fenced"}\n```', "fenced"),
        (
            'The format is {"priority": "urgent|low", "reason": "..."}. My answer: {"priority": "low", "reason": "after"}',
            "after",
        ),
        (
            'Example:\n```json\n{"priority": "p1"}\n```\nAnswer:\n```json\n{"priority": "high", "reason": "second"}\n```',
            "second",
        ),
        ('e.g. {"priority": "low", "reason": "example"} -- so: {"priority": "high", "reason": "answer"}', "answer"),
        ('{"priority": "high", "reason": "answer"} (schema: {"type": "object"})', "answer"),
        ('```json\n{"priority": "low", "reason": "fence"}\n```\nalso {"priority": "high", "reason": "prose"}', "fence"),
    ],
)
def test_every_candidate_is_tried_and_the_answer_after_an_example_wins(reply: str, expected: str) -> None:
    assert parse_reply(reply, ADAPTER).reason == expected


def test_a_nested_object_is_not_a_candidate_of_its_own() -> None:
    with pytest.raises(ValueError, match="priority"):
        parse_reply('Result: {"wrapper": {"priority": "low", "reason": "nested"}}', ADAPTER)


def test_when_none_is_valid_the_error_counts_them_and_quotes_the_last() -> None:
    with pytest.raises(ValueError) as info:
        parse_reply('First {"priority": "p1", "reason": "a"} then ```json\n{"priority": "p2"}\n``` and [1]', ADAPTER)
    message = str(info.value)
    assert message.startswith("none of the 3 JSON values in the reply is valid; the last: ")
    assert "input_value=[1]" in message


def test_a_reply_without_json_says_so() -> None:
    with pytest.raises(ValueError, match="holds no JSON value"):
        parse_reply("I would rather not.", ADAPTER)
