"""Sharded archives through ``dag.test()``: mapped shards each archive their own sessions and write
their own manifest parts; a ``manifest.json`` of an older release is honoured; overlapping runs
never lose an entry or leave a broken transcript."""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG, ObjectStoragePath

from mix_provider.archive import PARTS_DIR, Shard, read_manifest, shard_indices
from mix_provider.errors import MixConfigError
from mix_provider.operators.archive import MixArchiveSessionsOperator
from support.integration import MixAPI, states, xcom

START = datetime(2026, 1, 1)
EXPORTS = "/api/sessions/[^/]+/export"
SHARDS = 3


def sharded_dag(dag_id: str, base: Path, ids: list[str]) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        MixArchiveSessionsOperator.partial(
            task_id="archive", base_path=f"file://{base}", session_ids=ids, shards=SHARDS, retries=0
        ).expand(shard=shard_indices(SHARDS))
    return dag


def entries(base: Path) -> dict[str, Any]:
    return read_manifest(ObjectStoragePath(f"file://{base}")).entries


def check_transcripts(base: Path, api: MixAPI, ids: list[str]) -> None:
    """Each file is the complete current transcript and its merged entry describes it."""
    merged = entries(base)
    for sid in ids:
        stored = (base / f"{sid}.jsonl.gz").read_bytes()
        assert (merged[sid].sha256, merged[sid].bytes) == (hashlib.sha256(stored).hexdigest(), len(stored))
        lines = [json.loads(line) for line in gzip.decompress(stored).split(b"\n")[:-1]]
        assert lines[1:] == api.export(sid)["messages"]
    assert not [p.name for p in base.iterdir() if p.name.startswith(".")]


def test_mapped_shards_split_the_sessions_and_their_manifest_parts(
    run_dag: Callable[..., Any], mix_server: Any, api: MixAPI, conversations: Any, archive_dir: Path, uid: str
) -> None:
    ids = conversations(8)
    dr = run_dag(sharded_dag(f"archive_shards_{uid}", archive_dir, ids))
    assert dr.state == "success", states(dr)
    results = [xcom(dr, "archive", map_index=i) for i in range(SHARDS)]
    assert [(r["shard"], r["shards"]) for r in results] == [(i, SHARDS) for i in range(SHARDS)]
    assert sum(r["archived"] for r in results) == len(ids)
    for index, result in enumerate(results):
        mine = [sid for sid in ids if Shard(index, SHARDS).owns(sid)]
        assert result["archived"] == len(mine)
        if mine:
            part = json.loads(ObjectStoragePath(result["manifest"]).read_bytes())
            assert sorted(part["sessions"]) == sorted(mine) and f"shard-{index}-of-{SHARDS}-" in result["manifest"]
    check_transcripts(archive_dir, api, ids)

    mix_server.reset_request_counts()
    again = run_dag(sharded_dag(f"archive_shards_again_{uid}", archive_dir, ids))
    assert again.state == "success", states(again)
    assert mix_server.request_count("GET", EXPORTS) == 0
    api.converse(ids[0], "one more")
    mix_server.reset_request_counts()
    changed = run_dag(sharded_dag(f"archive_shards_changed_{uid}", archive_dir, ids))
    assert sum(xcom(changed, "archive", map_index=i)["archived"] for i in range(SHARDS)) == 1
    assert mix_server.request_count("GET", EXPORTS) == 1
    check_transcripts(archive_dir, api, ids)


def test_a_manifest_json_of_an_older_release_is_read_and_left_alone(
    run_dag: Callable[..., Any], mix_server: Any, api: MixAPI, conversations: Any, archive_dir: Path, uid: str
) -> None:
    ids = conversations(3)
    with DAG(f"archive_legacy_{uid}", schedule=None, start_date=START) as dag:
        MixArchiveSessionsOperator(task_id="archive", base_path=f"file://{archive_dir}", session_ids=ids)
    assert run_dag(dag).state == "success"
    (part,) = (archive_dir / PARTS_DIR).iterdir()
    legacy = json.loads(part.read_bytes())
    (archive_dir / "manifest.json").write_text(json.dumps({"version": 1, "sessions": legacy["sessions"]}))
    part.unlink()
    before = (archive_dir / "manifest.json").read_bytes()

    api.converse(ids[1], "again")
    mix_server.reset_request_counts()
    dr = run_dag(sharded_dag(f"archive_legacy_sharded_{uid}", archive_dir, ids))
    assert dr.state == "success", states(dr)
    assert mix_server.request_count("GET", EXPORTS) == 1
    assert (archive_dir / "manifest.json").read_bytes() == before
    check_transcripts(archive_dir, api, ids)


def test_overlapping_runs_lose_no_entry_and_no_transcript(
    faults: Any, api: MixAPI, conversations: Any, archive_dir: Path
) -> None:
    """Two runs of the same directory at once, with overlapping sessions, each slowed so they interleave."""
    ids = conversations(6)
    faults.add_fault("hang", method="GET", path=EXPORTS, delay_ms=150, count=8)
    batches = [ids[:4], ids[2:]]
    barrier = threading.Barrier(2)
    results: list[Any] = []

    def run(batch: list[str]) -> None:
        task = MixArchiveSessionsOperator(
            task_id="archive", base_path=f"file://{archive_dir}", session_ids=batch, max_concurrency=2
        )
        barrier.wait()
        results.append(task.execute({}))

    threads = [threading.Thread(target=run, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(results) == 2 and all(r["failed"] == 0 for r in results)
    assert len(list((archive_dir / PARTS_DIR).iterdir())) == 2
    assert sorted(entries(archive_dir)) == sorted(ids)
    check_transcripts(archive_dir, api, ids)


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"shard": 3, "shards": 3}, "shard"), ({"shards": 0}, "shards"), ({"shard": "x"}, "shard")]
)
def test_shard_arguments_are_refused_before_any_request(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(MixConfigError, match=f"^{field}: "):
        MixArchiveSessionsOperator(task_id="archive", base_path="file:///tmp/a", **kwargs)


def test_templated_shards_are_checked_once_rendered() -> None:
    task = MixArchiveSessionsOperator(
        task_id="archive", base_path="file:///tmp/a", shard="{{ params.shard }}", shards="{{ params.n }}"
    )
    task.shard, task.shards = "5", "4"  # as rendered
    with pytest.raises(MixConfigError, match=r"^shard: must be from 0 to shards - 1 = 3, got 5"):
        task.execute({})
