"""Reply detection on the streamed export: light records, text kept only where the verdict reads it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from test_client_turns import TOOL_TURN, assistant, messages, tool, user

from mix_provider.client import TurnKey
from mix_provider.client import operations as ops
from mix_provider.client.scan import TranscriptScan, scan_chunks
from mix_provider.client.turns import finished_reply, finished_turns
from mix_provider.errors import MixMalformedResponseError

CALL = ops.export_session("s1")


def body(*rows: dict[str, Any]) -> bytes:
    return json.dumps({"id": "s1", "title": "t", "messages": list(rows), "cost": 0.5}).encode()


def chunked(data: bytes, size: int = 7) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


ROWS = (
    user("u0", "earlier question " * 50),
    assistant("a0", "earlier answer " * 50),
    *TOOL_TURN,
    user("u2", "later"),
    assistant("a4", "later answer", "tool_use", calls=1),
    tool("t3"),
)


@pytest.mark.parametrize(
    "key",
    [TurnKey.of(1, "run the checks"), TurnKey(1), TurnKey.of(0, "run the checks"), TurnKey.of(2, "later")],
)
def test_records_give_the_verdicts_the_whole_models_give(key: TurnKey) -> None:
    records = scan_chunks(CALL, chunked(body(*ROWS)), key).messages
    whole = messages(*ROWS)
    assert finished_reply(records, key) == finished_reply(whole, key)
    assert finished_turns(records) == finished_turns(whole)
    assert [r.tool_call_count for r in records] == [m.tool_call_count for m in whole]


def test_only_our_fingerprint_and_the_reply_candidates_keep_text() -> None:
    records = scan_chunks(CALL, [body(*ROWS)], TurnKey.of(1, "run the checks")).messages
    kept = {r.id: r.content for r in records}
    assert kept["u0"] == "earlier question"[: len("run the checks")] and kept["u1"] == "run the checks"
    assert kept["a0"] == "", "an answer before our message is never our reply"
    assert kept["a3"] == "All green."
    assert scan_chunks(CALL, [body(*ROWS)]).messages[1].content == "", "without a key no text is kept"


def test_user_text_is_cut_to_the_fingerprint_length() -> None:
    records = scan_chunks(CALL, [body(*ROWS)], TurnKey.of(1, "run")).messages
    assert [r.content for r in records if r.role == "user"] == ["ear", "run", "lat"]


@pytest.mark.parametrize(
    "data",
    [
        body(*ROWS)[:-40],
        b'{"messages": [1]}',
        b'{"messages": [{"role": "user"}]}',
        b'{"messages": [{"id": "x", "role": "user"}]] ',
    ],
    ids=["truncated", "not-an-object", "no-id", "bad-json"],
)
def test_a_malformed_body_is_a_retryable_malformed_response(data: bytes) -> None:
    scan = TranscriptScan(CALL, TurnKey(0))
    with pytest.raises(MixMalformedResponseError) as caught:
        for chunk in chunked(data):
            scan.feed(chunk)
        scan.close()
    assert caught.value.path == CALL.path


def test_the_session_totals_come_with_the_records_only_when_all_are_there() -> None:
    totals = {"userMessageCount": 3, "assistantMessageCount": 5, "toolCallCount": 4}
    usage = {"promptTokens": 10, "completionTokens": 20, "cost": 0.25}
    whole = json.dumps({"id": "s1", "messages": [user("u", "x")], **totals, **usage}).encode()
    scanned = scan_chunks(CALL, chunked(whole, 5), TurnKey(0))
    assert scanned.totals is not None
    assert (scanned.totals.user_message_count, scanned.totals.prompt_tokens, scanned.totals.cost) == (3, 10, 0.25)
    assert scan_chunks(CALL, [json.dumps({"messages": [], **totals}).encode()]).totals is None, "usage missing"


def test_a_key_without_fingerprint_keeps_no_text_of_a_long_same_second_history() -> None:
    """Every user message matches a key without a text fingerprint; one stored before the baseline in
    the same second as others must not make every later answer's text kept (a 50 MiB transcript
    seeded in one second made a wait grow by 30 MiB)."""
    second = {"createdAt": "2026-12-07T10:00:00Z"}
    history = [row | second for n in range(50) for row in (user(f"u{n}", "old " * 100), assistant(f"a{n}", "x" * 1000))]
    ours = [
        user("mine", "new") | {"createdAt": "2026-12-07T10:00:05Z"},
        assistant("reply", "done") | {"createdAt": "2026-12-07T10:00:06Z"},
    ]
    key = TurnKey(50)
    records = scan_chunks(CALL, chunked(body(*history, *ours), 4096), key).messages
    assert sum(len(r.content) for r in records if r.role == "assistant") == len("done")
    assert finished_reply(records, key) == finished_reply(messages(*history, *ours), key)
