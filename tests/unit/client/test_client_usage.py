"""A turn's tokens from per-message usage, or unknown; whether a server can measure them at all.

``agent.go`` ``TrackUsage`` (1fa5f2d6) assigns the session's token fields from the last LLM call and
adds the cost; the spec's per-message ``inputTokens``/``outputTokens`` on ``GET .../messages`` are
the only source of a turn's tokens (the real handlers read send none: ``convertMessagesToData``).
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from mix_fake import config

from mix_provider.client import AsyncMixClient, MixClient
from mix_provider.client import operations as ops
from mix_provider.client.scan import scan_usage
from mix_provider.client.turns import TurnKey
from mix_provider.client.usage import USAGE_SHAPE_SECONDS, UsageShape, budget_ids, running_tokens, usage_probe
from mix_provider.errors import MixMalformedResponseError
from mix_provider.models import BackendMessage, MessageRecord

CALL = ops.get_messages("s1")


def rows(*usage: tuple[Any, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"id": "u1", "sessionId": "s1", "role": "user", "userInput": "x" * 5000}]
    for n, (prompt, completion) in enumerate(usage):
        row = {"id": f"a{n}", "sessionId": "s1", "role": "assistant", "userInput": "y" * 5000}
        if prompt is not None:
            row.update(inputTokens=prompt, outputTokens=completion, cost=0.001)
        out.append(row)
    return out


def chunked(data: bytes, size: int = 97) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def test_the_turns_messages_usage_is_summed_from_the_streamed_body() -> None:
    body = json.dumps(rows((10, 2), (30, 4), (500, 50))).encode()
    assert scan_usage(CALL, chunked(body), ["a0", "a1"]) == (40, 6)


def test_a_server_without_per_message_usage_gives_unknown_tokens() -> None:
    body = json.dumps(rows((None, None), (None, None))).encode()
    assert scan_usage(CALL, chunked(body), ["a0", "a1"]) is None
    assert scan_usage(CALL, [json.dumps(rows((1, 1))).encode()], ["a0", "gone"]) is None


def test_a_truncated_body_is_a_malformed_response() -> None:
    with pytest.raises(MixMalformedResponseError):
        scan_usage(CALL, [json.dumps(rows((1, 1))).encode()[:-30]], ["a0"])


def record(message_id: str, role: str, second: int, finish: str | None = None, **fields: Any) -> MessageRecord:
    """A transcript record stored in whole second ``second`` (the real server's resolution)."""
    stamp = datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=second)
    return MessageRecord(id=message_id, role=role, created_at=stamp, finish_reason=finish, **fields)


def test_the_budget_counts_our_runs_rounds_in_any_order_of_their_second() -> None:
    """Listed in a tie order that puts our first round and the previous turn's reply before our user
    message (``messages.sql`` ``ListMessagesBySession`` orders by whole seconds only)."""
    key = TurnKey.of(1, "hi")
    key.pins.before = frozenset({"a0"})  # the pre-send read saw it: stored before ours
    listed = [
        record("a1", "assistant", 1, "tool_use", tool_call_count=1),
        record("a0", "assistant", 1, "end_turn"),
        record("u1", "user", 1, content="hi"),
        record("u0", "user", 1, content="earlier"),
        record("t1", "tool", 2),
        record("a2", "assistant", 2, "end_turn"),
    ]
    assert budget_ids(listed[:4], key) == ["a1"], "by position, nothing is after our user message"
    assert sorted(budget_ids(listed, key)) == ["a1", "a2"]
    assert budget_ids(listed[:2], key) == [], "our user message not stored yet"


def test_with_another_run_overlapping_ours_the_budget_counts_every_later_round() -> None:
    key = TurnKey.of(1, "hi")
    listed = [
        record("u0", "user", 0, content="earlier"),
        record("a0", "assistant", 0, "tool_use", tool_call_count=1),
        record("u1", "user", 1, content="hi"),
        record("t0", "tool", 1),
        record("aX", "assistant", 1, "end_turn"),
        record("aY", "assistant", 2, "end_turn"),
    ]
    assert budget_ids(listed, key) == ["aX", "aY"], "either may be ours: a budget errs on the safe side"


def test_running_tokens_sum_the_counted_messages_only() -> None:
    found = [BackendMessage(id="a0", role="assistant", input_tokens=900, output_tokens=900)]
    found.append(BackendMessage(id="a1", role="assistant", input_tokens=80, output_tokens=30))
    assert running_tokens(found, ["a1"]) == (80, 30)
    assert running_tokens(found, []) == (0, 0), "no round yet: nothing spent"
    assert running_tokens([BackendMessage(id="a1", role="assistant")], ["a1"]) is None, "no usage: unknown"


def probe(sessions: dict[str, list[dict[str, Any]]]) -> bool | None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/sessions":
            return httpx.Response(200, json=[{"id": sid, "title": sid} for sid in sessions])
        return httpx.Response(200, json=sessions[request.url.path.split("/")[3]])

    with MixClient(config(), transport=httpx.MockTransport(handler)) as client:
        return client.run(usage_probe("ours"))


def test_the_probe_reads_the_first_answered_message_it_finds() -> None:
    assert probe({"ours": rows((10, 2))}) is True
    assert probe({"ours": rows((None, None))}) is False
    assert probe({"ours": rows(), "other": rows((None, None))}) is False, "another session's answer tells"
    assert probe({"ours": rows(), "other": rows()}) is None, "nothing answered anywhere: cannot tell"


def reads_of_turn_tokens(rows_of_reply: list[dict[str, Any]], turns: int, concurrent: bool) -> tuple[list[Any], int]:
    """``turns`` reads of a turn's tokens on one async client; their results and the requests made."""
    requests = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal requests
        requests += 1
        await asyncio.sleep(0.01)
        return httpx.Response(200, json=rows_of_reply)

    async def main() -> list[Any]:
        async with AsyncMixClient(config(), transport=httpx.MockTransport(handler)) as client:
            if concurrent:
                return list(await asyncio.gather(*(client.turn_tokens("s1", ["a0"]) for _ in range(turns))))
            return [await client.turn_tokens("s1", ["a0"]) for _ in range(turns)]

    return asyncio.run(main()), requests


@pytest.mark.parametrize("concurrent", [False, True], ids=["one-after-another", "all-at-once"])
def test_an_async_client_stops_reading_usage_a_server_does_not_send(concurrent: bool) -> None:
    assert reads_of_turn_tokens(rows((None, None)), 5, concurrent) == ([None] * 5, 1)
    assert reads_of_turn_tokens(rows((10, 2)), 5, concurrent) == ([(10, 2)] * 5, 5), "usage sent: read each turn"
    assert reads_of_turn_tokens(rows(), 3, concurrent) == ([None] * 3, 3), "no answered message: cannot tell yet"


def test_what_a_client_saw_of_the_usage_fields_is_trusted_for_a_while_only() -> None:
    now = [0.0]
    shape = UsageShape(clock=lambda: now[0])
    assert shape.carried() is None
    shape.saw(None)
    assert shape.carried() is None, "a body without assistant messages tells nothing"
    shape.saw(False)
    now[0] = USAGE_SHAPE_SECONDS
    assert shape.carried() is False
    now[0] += 1
    assert shape.carried() is None, "read again: the server may have been upgraded"
