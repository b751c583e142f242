"""Atomic writes and the transcript writer on a local disk and on an object-store-like filesystem."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath
from airflow.sdk.io import attach
from fsspec.implementations.memory import MemoryFileSystem
from test_archive_transcript import BODY, TRANSCRIPT, chunked

from mix_provider.archive import (
    PARTIAL_SUFFIX,
    ArchiveCancelledError,
    AtomicFile,
    ExportSpec,
    WriteTracker,
)
from mix_provider.archive.export import TranscriptWriter
from mix_provider.errors import MixConfigError, MixMalformedResponseError
from mix_provider.storage_paths import storage_path


@pytest.fixture(params=["file", "memory"])
def base(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStoragePath]:
    """An empty directory on the local disk, or in fsspec's in-memory store (rename = copy + delete)."""
    if request.param == "file":
        yield ObjectStoragePath(f"file://{tmp_path}/archive")
        return
    fs = MemoryFileSystem()
    attach("memory", fs=fs)
    yield ObjectStoragePath(f"memory://bucket/{tmp_path.name}")
    if fs.exists(f"/bucket/{tmp_path.name}"):
        fs.rm(f"/bucket/{tmp_path.name}", recursive=True)


def names(base: ObjectStoragePath) -> list[str]:
    return sorted(p.name for p in base.iterdir()) if base.exists() else []


def write(base: ObjectStoragePath, spec: ExportSpec, body: bytes, size: int = 5) -> tuple[ObjectStoragePath, dict]:
    target = base / f"t{spec.extension}"
    with TranscriptWriter("s1", target, spec) as writer:
        for chunk in chunked(body, size):
            writer.feed(chunk)
        result = writer.finish()
        writer.commit()
    return target, result.xcom()


def test_atomic_file_creates_the_directory_and_replaces_the_target(base: ObjectStoragePath) -> None:
    target = base / "deep" / "er" / "x.bin"
    for payload in (b"first", b"second"):
        file = AtomicFile(target)
        file.open().write(payload)
        assert not target.exists() or target.read_bytes() == b"first"
        file.commit()
    assert target.read_bytes() == b"second"
    assert names(target.parent) == ["x.bin"]


def test_a_failed_atomic_write_leaves_nothing(base: ObjectStoragePath) -> None:
    target = base / "x.bin"
    file = AtomicFile(target)
    file.open().write(b"partial")
    assert file.temp.name.startswith(".x.bin.") and file.temp.name.endswith(PARTIAL_SUFFIX)
    file.abort()
    file.abort()
    assert names(base) == []


def test_cancel_deletes_open_temporary_files_and_refuses_writes(base: ObjectStoragePath) -> None:
    tracker = WriteTracker()
    writer = TranscriptWriter("s1", base / "t.json", ExportSpec(), tracker)
    writer.open()
    writer.feed(BODY[:10])
    tracker.cancel()
    with pytest.raises(ArchiveCancelledError):
        writer.feed(BODY[10:])
    writer.abort()
    assert [n for n in names(base) if n.endswith(PARTIAL_SUFFIX)] == []
    assert not (base / "t.json").exists()


@pytest.mark.parametrize("size", [1, 13, 1 << 16])
def test_json_is_stored_byte_for_byte_with_its_hash(base: ObjectStoragePath, size: int) -> None:
    target, result = write(base, ExportSpec("json"), BODY, size)
    stored = target.read_bytes()
    assert stored == BODY
    assert result["bytes"] == len(stored) and result["sha256"] == hashlib.sha256(stored).hexdigest()
    assert result["messages"] == 3 and result["uri"] == str(target)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_gzip_round_trips_and_is_reproducible(base: ObjectStoragePath, fmt: str) -> None:
    plain_target, _ = write(base, ExportSpec(fmt), BODY)
    target, first = write(base, ExportSpec(fmt, "gzip"), BODY, 7)
    _, second = write(base, ExportSpec(fmt, "gzip"), BODY, 1 << 16)
    stored = target.read_bytes()
    assert gzip.decompress(stored) == plain_target.read_bytes()
    assert first["sha256"] == second["sha256"] == hashlib.sha256(stored).hexdigest()
    assert first["bytes"] == len(stored)


def test_late_header_fields_are_rewritten_into_the_first_line(base: ObjectStoragePath) -> None:
    body = json.dumps({"id": "a", "messages": TRANSCRIPT["messages"], "title": "late", "cost": 2.5}).encode()
    for compression in (None, "gzip"):
        target, result = write(base, ExportSpec("jsonl", compression), body, 11)
        stored = target.read_bytes()
        text = gzip.decompress(stored) if compression else stored
        records = [json.loads(line) for line in text.split(b"\n")[:-1]]
        assert records == [{"id": "a", "title": "late", "cost": 2.5}, *TRANSCRIPT["messages"]]
        assert result["sha256"] == hashlib.sha256(stored).hexdigest() and result["bytes"] == len(stored)
    assert names(base) == ["t.jsonl", "t.jsonl.gz"]


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
@pytest.mark.parametrize("body", [BODY[:-3], b'{"status": "ok", "truncated', b"<html>502</html>"])
def test_broken_bodies_fail_and_leave_no_file(base: ObjectStoragePath, fmt: str, body: bytes) -> None:
    with pytest.raises(MixMalformedResponseError, match="/api/sessions/s1/export"):
        write(base, ExportSpec(fmt, "gzip"), body)
    assert names(base) == []


def test_a_failed_write_keeps_the_previous_file(base: ObjectStoragePath) -> None:
    target, _ = write(base, ExportSpec("json"), BODY)
    with pytest.raises(MixMalformedResponseError):
        write(base, ExportSpec("json"), BODY[:20])
    assert target.read_bytes() == BODY
    assert names(base) == ["t.json"]


@pytest.mark.parametrize(
    ("fmt", "compression", "field"),
    [("xml", None, "format"), ("json", "zip", "compression"), ("JSONL", None, "format"), ("json", "", "compression")],
)
def test_spec_validation_names_the_field_and_the_choices(fmt: str, compression: str | None, field: str) -> None:
    with pytest.raises(MixConfigError, match=rf"^{field}: .*one of") as info:
        ExportSpec(fmt, compression)
    assert info.value.field == field


@pytest.mark.parametrize("value", [None, "", "  ", 42, Path("/tmp/x")])
def test_storage_path_refuses_other_types(value: object) -> None:
    with pytest.raises(MixConfigError, match=r"^output_path: must be an ObjectStoragePath or a URI"):
        storage_path("output_path", value)


def test_storage_path_accepts_uris_and_paths(tmp_path: Path) -> None:
    assert str(storage_path("p", f"file://{tmp_path}/x.json")) == f"file://{tmp_path}/x.json"
    path = ObjectStoragePath(f"file://{tmp_path}")
    assert storage_path("p", path) is path
