"""Manifest parts (append-only, merged on read, compacted per shard) and shard assignment."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider.archive import PARTS_DIR, Entry, Shard, read_manifest, shard_indices, shard_of
from mix_provider.archive.parts import COMPACT_AFTER, write_part
from mix_provider.errors import MixConfigError

WHOLE = Shard(0, 1)


def entry(sid: str, at: str = "2026-01-01T00:00:00+00:00", **changes: object) -> Entry:
    base = Entry(f"{sid}.jsonl.gz", "jsonl", "gzip", "ab" * 32, 10, 2, "fp", "t", None, at)
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def base(tmp_path: Path) -> ObjectStoragePath:
    return ObjectStoragePath(f"file://{tmp_path}/archive")


def parts(base: ObjectStoragePath) -> list[str]:
    return sorted(p.name for p in (base / PARTS_DIR).iterdir())


def test_each_run_adds_a_part_and_readers_merge_the_latest_entry(base: ObjectStoragePath) -> None:
    stale = read_manifest(base, WHOLE)  # two overlapping runs both read an empty manifest
    write_part(base, WHOLE, {"a": entry("a"), "b": entry("b")}, stale)
    write_part(base, WHOLE, {"a": entry("a", "2026-01-02T00:00:00.000001+00:00", bytes=99), "c": entry("c")}, stale)
    merged = read_manifest(base).entries
    assert sorted(merged) == ["a", "b", "c"] and merged["a"].bytes == 99
    assert len(parts(base)) == 2 and all(name.endswith(f"-{WHOLE.tag}-" + name[-17:]) for name in parts(base))
    assert write_part(base, WHOLE, {}, stale) is None and len(parts(base)) == 2  # nothing changed: no part


def test_an_older_entry_written_later_does_not_win(base: ObjectStoragePath) -> None:
    write_part(base, WHOLE, {"a": entry("a", "2026-01-02T00:00:00+00:00", bytes=2)}, read_manifest(base))
    write_part(base, WHOLE, {"a": entry("a", "2026-01-01T00:00:00+00:00", bytes=1)}, read_manifest(base))
    assert read_manifest(base).entries["a"].bytes == 2
    refreshed = read_manifest(base).entries["a"].refreshed("new")
    write_part(base, WHOLE, {"a": refreshed}, read_manifest(base))
    assert read_manifest(base).entries["a"].fingerprint == "new"


def test_the_legacy_manifest_is_read_as_a_part_and_never_written(base: ObjectStoragePath) -> None:
    legacy = {"version": 1, "sessions": {"old": json.loads(json.dumps(entry("old").__dict__))}}
    base.mkdir(parents=True)
    (base / "manifest.json").write_text(json.dumps(legacy))
    before = (base / "manifest.json").read_bytes()
    write_part(base, WHOLE, {"new": entry("new")}, read_manifest(base))
    assert sorted(read_manifest(base).entries) == ["new", "old"]
    assert (base / "manifest.json").read_bytes() == before


def test_a_shard_compacts_only_its_own_parts(base: ObjectStoragePath) -> None:
    other = Shard(1, 2)
    write_part(base, other, {"o": entry("o")}, read_manifest(base, other))
    mine = Shard(0, 2)
    for number in range(COMPACT_AFTER + 1):
        write_part(base, mine, {f"s{number}": entry(f"s{number}")}, read_manifest(base, mine))
    names = parts(base)
    assert len(names) == 2 and sum(other.tag in name for name in names) == 1
    assert sorted(read_manifest(base).entries) == ["o", *sorted(f"s{n}" for n in range(COMPACT_AFTER + 1))]


def test_overlapping_writers_never_lose_an_entry(base: ObjectStoragePath) -> None:
    """16 writers of one shard, each reading then writing (and compacting) at once: every entry survives."""
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            for turn in range(5):
                read = read_manifest(base, WHOLE)
                if turn == 0:
                    barrier.wait()
                write_part(base, WHOLE, {f"w{number}-{turn}": entry(f"w{number}-{turn}")}, read)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(read_manifest(base).entries) == 16 * 5


def test_a_partial_part_is_ignored(base: ObjectStoragePath) -> None:
    (base / PARTS_DIR).mkdir(parents=True)
    (base / PARTS_DIR / ".x.json.0123.partial").write_text("{not json")
    assert read_manifest(base).entries == {}


def test_shards_are_a_stable_sha256_partition() -> None:
    ids = [f"session-{n}" for n in range(1000)]
    expected = int.from_bytes(hashlib.sha256(b"session-7").digest()[:8], "big") % 4
    assert shard_of("session-7", 4) == expected
    owners = [[s for s in ids if Shard(i, 4).owns(s)] for i in shard_indices(4)]
    assert sorted(s for owned in owners for s in owned) == sorted(ids) and all(150 < len(o) < 350 for o in owners)
    assert all(WHOLE.owns(s) for s in ids)


@pytest.mark.parametrize(
    ("shard", "shards", "field"),
    [(0, 0, "shards"), (2, 2, "shard"), (-1, 2, "shard"), (True, 2, "shard"), ("x", 2, "shard"), (0, 1.5, "shards")],
)
def test_shard_arguments_are_checked(shard: object, shards: object, field: str) -> None:
    with pytest.raises(MixConfigError, match=f"^{field}: "):
        Shard.of(shard, shards)


def test_templated_shard_values_render_as_digit_strings() -> None:
    assert Shard.of("3", " 8 ") == Shard(3, 8) and shard_indices(3) == [0, 1, 2]
