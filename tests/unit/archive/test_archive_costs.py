"""Cost reports: manifest usage fields (old and new manifests), the roll-up, CSV and PNG."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider.archive.chart import figure
from mix_provider.archive.costs import CostRow, load_entries, rollup, to_csv, to_png
from mix_provider.archive.manifest import Manifest
from mix_provider.archive.transcript import TranscriptParser

OLD_ENTRY = {
    "path": "s.jsonl.gz", "format": "jsonl", "compression": "gzip", "sha256": "ab", "bytes": 10, "messages": 2,
    "fingerprint": "f", "title": "t", "updated_at": None, "archived_at": "2026-01-01T00:00:00+00:00",
}  # fmt: skip


def _manifest(path: Path, sessions: dict[str, dict[str, Any]]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "manifest.json").write_text(json.dumps({"version": 1, "updated_at": "x", "sessions": sessions}))


def _entry(archived_at: str, created_at: str, model: str, cost: float, tokens: int) -> dict[str, Any]:
    return {
        **OLD_ENTRY, "archived_at": archived_at, "created_at": created_at, "model": model, "models": {model: 1},
        "prompt_tokens": tokens, "completion_tokens": tokens // 2, "cost": cost,
    }  # fmt: skip


def test_old_entries_load_and_unknown_keys_are_ignored(tmp_path: Path) -> None:
    _manifest(tmp_path, {"old": OLD_ENTRY, "new": {**OLD_ENTRY, "cost": 0.5, "added_later": 1}})
    entries = Manifest.load(ObjectStoragePath(f"file://{tmp_path}/manifest.json")).entries
    assert entries["old"].cost is None and entries["old"].model is None
    assert entries["new"].cost == 0.5


def test_rollup_counts_each_session_once_by_day_and_model(tmp_path: Path) -> None:
    _manifest(
        tmp_path / "dt=2026-02-01", {"a": _entry("2026-02-01T01:00:00+00:00", "2026-01-31T23:00:00Z", "m1", 1.0, 10)}
    )
    _manifest(
        tmp_path / "dt=2026-02-02",
        {
            "a": _entry("2026-02-02T01:00:00+00:00", "2026-01-31T23:00:00Z", "m1", 1.5, 20),  # later snapshot wins
            "b": _entry("2026-02-02T01:00:00+00:00", "2026-02-01T10:00:00+00:00", "m2", 0.25, 8),
            "c": {**OLD_ENTRY, "archived_at": "2026-02-02T01:00:00+00:00"},
        },
    )
    rows = rollup(load_entries(ObjectStoragePath(f"file://{tmp_path}")).values())
    table = {
        (r.day, r.model): (r.sessions, r.prompt_tokens, r.completion_tokens, r.cost, r.sessions_without_usage)
        for r in rows
    }
    assert table == {
        ("2026-01-31", "m1"): (1, 20, 10, 1.5, 0),
        ("2026-02-01", "m2"): (1, 8, 4, 0.25, 0),
        ("2026-02-02", "unknown"): (1, 0, 0, 0.0, 1),
    }
    lines = to_csv(rows).decode().splitlines()
    assert lines[0] == "day,model,sessions,prompt_tokens,completion_tokens,cost,sessions_without_usage"
    assert lines[1] == "2026-01-31,m1,1,20,10,1.5,0"


def _pixels(data: bytes) -> bytes:
    """The decompressed image data of a PNG (every IDAT chunk)."""
    position, chunks = 8, []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        if data[position + 4 : position + 8] == b"IDAT":
            chunks.append(data[position + 8 : position + 8 + length])
        position += 12 + length
    return zlib.decompress(b"".join(chunks))


def test_png_is_a_valid_image() -> None:
    rows = rollup([])
    for data in (
        to_png(rows),
        to_png(rollup(Manifest.load(ObjectStoragePath("file:///nonexistent/m.json")).entries.values())),
        to_png([CostRow("2026-01-31", "m1", 1, 20, 10, 1.5, 0), CostRow("2026-02-01", "m2", 1, 8, 4, 0.25, 0)]),
    ):
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
        channels = {2: 3, 6: 4}[colour]
        assert depth == 8 and len(_pixels(data)) == height * (1 + channels * width)


def test_the_chart_names_the_models_in_a_legend_and_labels_days_and_amounts() -> None:
    days, models = ["2026-01-31", "2026-02-01"], ["claude-sonnet", "gpt-5"]
    chart = figure(days, models, {(days[0], models[0]): 1.5, (days[1], models[1]): 0.25})
    (axes,) = chart.axes
    assert [text.get_text() for text in axes.get_legend().get_texts()] == models
    assert axes.get_legend().get_title().get_text() == "model"
    assert [label.get_text() for label in axes.get_xticklabels()] == days
    assert axes.get_ylabel() == "cost (USD)" and axes.get_title() == "Mix cost per day and model"
    stacked = [(round(bar.get_y(), 6), round(bar.get_height(), 6)) for bar in axes.patches]
    assert stacked == [(0.0, 1.5), (0.0, 0.0), (1.5, 0.0), (0.0, 0.25)]


def test_without_the_extra_the_chart_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from mix_provider.archive import chart as module
    from mix_provider.errors import MixMissingExtraError

    monkeypatch.setattr(module, "HAS_CHART", False)
    with pytest.raises(MixMissingExtraError, match=r"pip install 'airflow-provider-mix\[chart\]'") as info:
        to_png([])
    assert info.value.extra == "chart" and isinstance(info.value, ImportError)


def test_the_counting_parser_sees_the_models_of_assistant_messages() -> None:
    body = {"id": "s", "messages": [
        {"id": "1", "role": "user", "content": "hi", "model": "ignored"},
        {"id": "2", "role": "assistant", "model": "m1", "toolCalls": [{"id": "t", "model": "nested"}]},
        {"id": "3", "role": "assistant", "model": "m1"},
        {"id": "4", "role": "assistant", "model": "m2"},
    ]}  # fmt: skip
    for keep in (False, True):
        parser = TranscriptParser(keep_messages=keep)
        parser.feed(json.dumps(body).encode())
        parser.close()
        assert parser.models == {"m1": 2, "m2": 1} and parser.messages == 4


def test_archives_written_as_manifest_parts_are_read(tmp_path: Path) -> None:
    """A directory archived by this release holds ``manifest.d/`` parts, no ``manifest.json``."""
    parts = tmp_path / "dt=2026-02-02" / "manifest.d"
    parts.mkdir(parents=True)
    entry = _entry("2026-02-02T01:00:00+00:00", "2026-02-02T00:00:00Z", "m2", 2.0, 20)
    document = {"version": 1, "updated_at": "x", "shard": 0, "shards": 1, "sessions": {"p": entry}}
    (parts / "20260202T010000000000-shard-0-of-1-ab12.json").write_text(json.dumps(document))
    entries = load_entries(ObjectStoragePath(f"file://{tmp_path}"))
    assert set(entries) == {"p"} and entries["p"].cost == 2.0


def test_transcript_tokens_are_per_message_sums_or_unknown() -> None:
    """A session's own token fields are its last LLM call's (``agent.go`` ``TrackUsage``): never used."""
    with_usage = {"id": "s", "promptTokens": 999, "completionTokens": 999, "messages": [
        {"id": "1", "role": "user", "content": "hi"},
        {"id": "2", "role": "assistant", "model": "m1", "inputTokens": 10, "outputTokens": 3},
        {"id": "3", "role": "assistant", "model": "m1", "inputTokens": 20, "outputTokens": 4},
    ]}  # fmt: skip
    without = {**with_usage, "messages": [*with_usage["messages"], {"id": "4", "role": "assistant"}]}
    for body, tokens in ((with_usage, (30, 7)), (without, None)):
        for keep in (False, True):
            parser = TranscriptParser(keep_messages=keep)
            parser.feed(json.dumps(body).encode())
            parser.close()
            assert parser.tokens() == tokens


def test_a_sub_agent_sessions_cost_is_not_counted_twice(tmp_path: Path) -> None:
    """``IncrementSessionCost`` adds a sub-agent's cost to its parent's (``callbacks/executor.go``)."""
    parent = _entry("2026-02-02T01:00:00+00:00", "2026-02-02T00:00:00Z", "m1", 1.5, 20)
    child = {**_entry("2026-02-02T01:00:00+00:00", "2026-02-02T00:00:00Z", "m1", 0.5, 8), "parent_session_id": "p"}
    _manifest(tmp_path, {"p": parent, "c": child})
    [row] = rollup(load_entries(ObjectStoragePath(f"file://{tmp_path}")).values())
    assert (row.sessions, row.cost, row.prompt_tokens) == (2, 1.5, 20)
