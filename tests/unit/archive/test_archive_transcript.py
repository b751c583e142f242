"""The incremental ExportSession parser and the JSON Lines encoder, fed at awkward chunk boundaries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mix_provider.archive.transcript import JsonlEncoder, TranscriptParser, TranscriptSyntaxError, json_line

TRANSCRIPT: dict[str, Any] = {
    "id": "3f1c",
    "title": "naïve café — 日本語 🚀",
    "createdAt": "2026-01-02T03:04:05+01:00",
    "userMessageCount": 2,
    "cost": 0.000126,
    "callbacks": [{"type": "bash_script", "bashCommand": "echo {}"}],
    "messages": [
        {"id": "m1", "role": "user", "content": 'line\nbreak \u2028 sep "quoted" \\ é', "toolCalls": []},
        {"id": "m2", "role": "assistant", "content": "🚀" * 50, "toolCalls": [{"id": "t", "input": {"a": [1, 2.5]}}]},
        {"id": "m3", "role": "assistant", "content": "", "finishReason": "end_turn", "reasoningDuration": 12},
    ],
}
BODY = json.dumps(TRANSCRIPT, ensure_ascii=False).encode()


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    """``data`` in pieces of ``size`` bytes (multi-byte UTF-8 characters get split)."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def parse(data: bytes, size: int, *, keep: bool) -> tuple[TranscriptParser, list[Any]]:
    parser = TranscriptParser(keep_messages=keep)
    messages: list[Any] = []
    for chunk in chunked(data, size):
        messages += parser.feed(chunk)
    parser.close()
    return parser, messages


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(BODY)])
def test_messages_and_header_survive_any_chunking(size: int) -> None:
    parser, messages = parse(BODY, size, keep=True)
    expected = dict(TRANSCRIPT)
    assert messages == expected.pop("messages")
    assert parser.header == expected
    assert parser.messages == 3
    assert not parser.fields_after_messages


@pytest.mark.parametrize("size", [1, 5, 4096])
def test_counting_mode_builds_nothing_but_counts(size: int) -> None:
    parser, messages = parse(BODY, size, keep=False)
    assert messages == []
    assert parser.messages == 3
    assert parser.header["title"] == TRANSCRIPT["title"]
    assert parser.header["callbacks"] == TRANSCRIPT["callbacks"]


def test_null_or_missing_messages_count_zero() -> None:
    for body in (b'{"id": "a", "messages": null}', b'{"id": "a"}', b'{"id": "a", "messages": []}'):
        parser, messages = parse(body, 3, keep=True)
        assert (parser.messages, messages, parser.header) == (0, [], {"id": "a"})


def test_fields_after_a_non_empty_messages_array_are_flagged() -> None:
    body = b'{"id": "a", "messages": [{"id": "m"}], "cost": 1.5}'
    parser, _ = parse(body, 4, keep=True)
    assert parser.fields_after_messages
    assert parser.header == {"id": "a", "cost": 1.5}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (BODY[: len(BODY) // 2], "ends"),
        (BODY[:-1], "ends"),
        (b'{"status": "ok", "truncated', "ends"),
        (b'{"id": "a", "messages": [}', "invalid JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"id": "a", "messages": {"m": 1}}', "'messages' must be an array"),
        (b'{"id": "a", "messages": "x"}', "'messages' must be an array"),
        (BODY + b"{}", "invalid JSON"),
        (b"", "ends"),
    ],
)
def test_broken_bodies_raise(body: bytes, reason: str) -> None:
    with pytest.raises(TranscriptSyntaxError, match=reason):
        parse(body, 5, keep=True)


def test_json_line_keeps_unicode_and_splits_only_on_newline() -> None:
    line = json_line({"text": "a\nb\u2028c 日本"})
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert "日本".encode() in line
    assert json.loads(line) == {"text": "a\nb\u2028c 日本"}


@pytest.mark.parametrize(
    "value",
    [
        {"big": 10**30, "negative": -(2**70)},  # beyond 64 bits: the Rust encoder must not wrap or fail
        {"floats": [1e-06, 0.1, 1e308, -0.0, 5e-324]},
        {"control": "x\u0000y\t\u001f", "quote": '"\\', "nested": [True, None, {"k": []}]},
    ],
)
def test_json_line_round_trips_every_json_value(value: dict[str, object]) -> None:
    line = json_line(value)
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert json.loads(line) == value


def encode(body: bytes, size: int) -> tuple[list[bytes], bool]:
    out: list[bytes] = []
    encoder = JsonlEncoder(out.append)
    for chunk in chunked(body, size):
        encoder.feed(chunk)
    stale = encoder.close()
    return b"".join(out).split(b"\n"), stale


@pytest.mark.parametrize("size", [1, 9, 1 << 16])
def test_jsonl_is_header_then_one_line_per_message(size: int) -> None:
    lines, stale = encode(BODY, size)
    assert lines[-1] == b""
    records = [json.loads(line) for line in lines[:-1]]
    expected = dict(TRANSCRIPT)
    assert records[1:] == expected.pop("messages")
    assert records[0] == expected
    assert not stale


def test_jsonl_of_an_empty_transcript_is_the_header_only() -> None:
    lines, stale = encode(b'{"id": "a", "messages": [], "title": "t"}', 2)
    assert [json.loads(line) for line in lines[:-1]] == [{"id": "a", "title": "t"}]
    assert not stale


def test_jsonl_reports_a_stale_header_when_fields_follow_messages() -> None:
    lines, stale = encode(b'{"id": "a", "messages": [{"id": "m"}], "title": "late"}', 3)
    assert stale
    assert json.loads(lines[0]) == {"id": "a"}
