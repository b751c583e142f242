"""MixArchiveSessionsOperator through ``dag.test()``: skip unchanged, re-export changed, bounded
concurrency, partial failure then a re-run that completes the rest without touching what is there."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG, ObjectStoragePath

from mix_provider.archive import PARTIAL_SUFFIX, PARTS_DIR, read_manifest
from mix_provider.hooks.mix import MixHook
from mix_provider.operators.archive import MixArchiveSessionsOperator
from support.integration import MixAPI, states, xcom

START = datetime(2026, 1, 1)
EXPORTS = "/api/sessions/[^/]+/export"


def archive_dag(dag_id: str, base: Path, ids: list[str], **kwargs: Any) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        MixArchiveSessionsOperator(task_id="archive", base_path=f"file://{base}", session_ids=ids, retries=0, **kwargs)
    return dag


def manifest(base: Path) -> dict[str, Any]:
    """The merged manifest (every part under ``manifest.d/``), entries as dicts."""
    return {sid: asdict(entry) for sid, entry in read_manifest(ObjectStoragePath(f"file://{base}")).entries.items()}


def inodes(base: Path) -> dict[str, tuple[int, int]]:
    """``{name: (inode, mtime_ns)}``: a rewritten file gets a new inode (rename over it)."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in base.iterdir()}


def check_files(base: Path, api: MixAPI, ids: list[str]) -> None:
    """Every archived file is the gzipped JSON Lines of the current transcript and matches the manifest."""
    entries = manifest(base)
    for sid in ids:
        stored = (base / f"{sid}.jsonl.gz").read_bytes()
        assert entries[sid]["sha256"] == hashlib.sha256(stored).hexdigest()
        assert entries[sid]["bytes"] == len(stored) and entries[sid]["path"] == f"{sid}.jsonl.gz"
        lines = [json.loads(line) for line in gzip.decompress(stored).split(b"\n")[:-1]]
        export = api.export(sid)
        assert lines[1:] == export.pop("messages") and lines[0] == export
        assert entries[sid]["messages"] == len(lines) - 1
    assert not list(base.glob(f"*{PARTIAL_SUFFIX}")) and not list(base.glob(".*"))


def test_unchanged_sessions_are_skipped_and_changed_ones_archived_again(
    run_dag: Callable[..., Any], mix_server: Any, api: MixAPI, conversations: Any, archive_dir: Path, uid: str
) -> None:
    ids = conversations(3)
    first = run_dag(archive_dag(f"archive_first_{uid}", archive_dir, ids))
    assert first.state == "success", states(first)
    (part,) = (archive_dir / PARTS_DIR).iterdir()
    assert xcom(first, "archive") == {
        "archived": 3,
        "skipped": 0,
        "failed": 0,
        "bytes": sum((archive_dir / f"{sid}.jsonl.gz").stat().st_size for sid in ids),
        "base_path": f"file://{archive_dir}",
        "manifest": f"file://{part}",
        "shard": 0,
        "shards": 1,
        "listing": None,  # the sessions were given by id
    }
    check_files(archive_dir, api, ids)
    before = inodes(archive_dir)

    mix_server.reset_request_counts()
    again = run_dag(archive_dag(f"archive_again_{uid}", archive_dir, ids))
    assert (xcom(again, "archive")["archived"], xcom(again, "archive")["skipped"]) == (0, 3)
    assert mix_server.request_count("GET", EXPORTS) == 0  # decided from the list entries alone
    assert xcom(again, "archive")["manifest"] is None  # nothing changed: no part written
    assert {k: v for k, v in inodes(archive_dir).items() if k != PARTS_DIR} == {
        k: v for k, v in before.items() if k != PARTS_DIR
    }

    api.converse(ids[1], "one more turn")
    changed = run_dag(archive_dag(f"archive_changed_{uid}", archive_dir, ids))
    assert (xcom(changed, "archive")["archived"], xcom(changed, "archive")["skipped"]) == (1, 2)
    after = inodes(archive_dir)
    assert after[f"{ids[1]}.jsonl.gz"] != before[f"{ids[1]}.jsonl.gz"]
    assert [after[f"{sid}.jsonl.gz"] for sid in (ids[0], ids[2])] == [
        before[f"{sid}.jsonl.gz"] for sid in (ids[0], ids[2])
    ]
    check_files(archive_dir, api, ids)
    assert manifest(archive_dir)[ids[1]]["messages"] == 8  # 2 + 4 (tool run) + 2


def test_an_unknown_fingerprint_falls_back_to_the_hash(
    run_dag: Callable[..., Any], mix_server: Any, api: MixAPI, conversations: Any, archive_dir: Path, uid: str
) -> None:
    ids = conversations(2)
    assert run_dag(archive_dag(f"archive_hash_{uid}", archive_dir, ids)).state == "success"
    (part,) = (archive_dir / PARTS_DIR).iterdir()
    document = json.loads(part.read_bytes())
    real = document["sessions"][ids[0]]["fingerprint"]
    document["sessions"][ids[0]]["fingerprint"] = "stale"
    part.write_text(json.dumps(document))
    before = inodes(archive_dir)

    mix_server.reset_request_counts()
    dr = run_dag(archive_dag(f"archive_hash_again_{uid}", archive_dir, ids))
    assert (xcom(dr, "archive")["archived"], xcom(dr, "archive")["skipped"]) == (0, 2)
    assert mix_server.request_count("GET", EXPORTS) == 1  # downloaded and hashed, then kept
    assert inodes(archive_dir)[f"{ids[0]}.jsonl.gz"] == before[f"{ids[0]}.jsonl.gz"]
    assert manifest(archive_dir)[ids[0]]["fingerprint"] == real


def test_partial_failure_then_a_rerun_completes_the_rest(
    run_dag: Callable[..., Any], faults: Any, api: MixAPI, conversations: Any, archive_dir: Path, uid: str
) -> None:
    ids = conversations(4)
    broken = ids[2]
    faults.add_fault("status", method="GET", path=f"/api/sessions/{broken}/export", status=500, count=100)
    failed = run_dag(archive_dag(f"archive_partial_{uid}", archive_dir, ids))
    assert failed.state == "failed"
    assert sorted(manifest(archive_dir)) == sorted(set(ids) - {broken})
    assert not (archive_dir / f"{broken}.jsonl.gz").exists()
    check_files(archive_dir, api, [sid for sid in ids if sid != broken])
    before = inodes(archive_dir)

    faults.clear_faults()
    rerun = run_dag(archive_dag(f"archive_rerun_{uid}", archive_dir, ids))
    assert rerun.state == "success", states(rerun)
    assert (xcom(rerun, "archive")["archived"], xcom(rerun, "archive")["skipped"]) == (1, 3)
    check_files(archive_dir, api, ids)
    after = inodes(archive_dir)
    assert all(after[name] == before[name] for name in before if name != PARTS_DIR)


def test_concurrency_is_bounded(
    run_dag: Callable[..., Any],
    faults: Any,
    conversations: Any,
    archive_dir: Path,
    uid: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = conversations(9)
    faults.add_fault("hang", method="GET", path=f"/api/sessions/({'|'.join(ids)})/export", delay_ms=400, count=9)
    flight = {"now": 0, "max": 0}
    lock = threading.Lock()
    original = MixHook.consume_export

    def counted(self: MixHook, session_id: str, consume: Any) -> Any:
        with lock:
            flight["now"] += 1
            flight["max"] = max(flight["max"], flight["now"])
        try:
            return original(self, session_id, consume)
        finally:
            with lock:
                flight["now"] -= 1

    monkeypatch.setattr(MixHook, "consume_export", counted)
    dr = run_dag(archive_dag(f"archive_bounded_{uid}", archive_dir, ids, max_concurrency=3))
    assert dr.state == "success", states(dr)
    assert xcom(dr, "archive")["archived"] == 9
    assert flight == {"now": 0, "max": 3}
