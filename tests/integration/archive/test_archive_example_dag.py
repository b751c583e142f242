"""The example DAGs of ``dags_examples/mix_archive_transcripts.py``, run as shipped (params only)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider.archive import PARTS_DIR, read_manifest
from support.integration import MixAPI, states, xcom

EXAMPLE = Path(__file__).resolve().parents[3] / "dags_examples" / "mix_archive_transcripts.py"


@cache
def example() -> ModuleType:
    """Import the example file once, as the DAG processor would: a file, not a package module."""
    spec = importlib.util.spec_from_file_location("mix_archive_transcripts_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_daily_archive_partitions_by_date(
    run_dag: Callable[..., Any], mix_server: Any, api: MixAPI, conversations: Any, archive_dir: Path
) -> None:
    mine = conversations(2)
    listed = api.findable(include_subagents=False)  # more than the 20 the list shows when earlier tests left them
    assert set(mine) <= listed
    dag = example().dag
    day = datetime(2026, 3, 4, tzinfo=timezone.utc)
    dr = run_dag(dag, logical_date=day, run_conf={"base_path": f"file://{archive_dir}"})
    assert dr.state == "success", states(dr)
    partition = archive_dir / "dt=2026-03-04"
    result = xcom(dr, "archive_transcripts")
    assert result["base_path"] == f"file://{partition}" and result["failed"] == 0
    assert result["archived"] + result["skipped"] == len(listed)
    entries = read_manifest(ObjectStoragePath(f"file://{partition}")).entries
    assert set(entries) == listed
    # sessions earlier tests gave callbacks also hold their callback results (docs/archive.md)
    callbacks = {e.callback_results["path"] for e in entries.values() if e.callback_results is not None}
    transcripts = {f"{sid}.jsonl.gz" for sid in listed}
    assert {p.name for p in partition.iterdir()} == {PARTS_DIR} | transcripts | callbacks

    next_day = datetime(2026, 3, 5, tzinfo=timezone.utc)
    conf = {"base_path": f"file://{archive_dir}/interval", "only_data_interval": True}
    only_that_day = run_dag(dag, logical_date=next_day, run_conf=conf)
    assert only_that_day.state == "success", states(only_that_day)
    assert xcom(only_that_day, "archive_transcripts")["archived"] == 0  # no session was created that day
    empty = ObjectStoragePath(f"file://{archive_dir}/interval/dt=2026-03-05")
    assert read_manifest(empty).entries == {} and xcom(only_that_day, "archive_transcripts")["manifest"] is None


def test_a_run_without_logical_date_partitions_by_run_after(
    run_dag: Callable[..., Any], mix_server: Any, conversations: Any, archive_dir: Path
) -> None:
    """Airflow 3 manual runs may carry no logical date (no ``ds``): the day the run was due is used."""
    conversations(1)
    due = datetime(2026, 7, 8, 9, 30, tzinfo=timezone.utc)
    conf = {"base_path": f"file://{archive_dir}", "only_data_interval": True}
    dr = run_dag(example().dag, logical_date=None, run_after=due, run_conf=conf)
    assert dr.state == "success", states(dr)
    assert dr.logical_date is None
    result = xcom(dr, "archive_transcripts")
    assert result["base_path"] == f"file://{archive_dir}/dt=2026-07-08" and result["failed"] == 0
    assert result["archived"] >= 1  # no data interval: every session, not an empty window


def test_the_manual_export_writes_the_server_bytes(
    run_dag: Callable[..., Any], mix_server: Any, conversations: Any, archive_dir: Path
) -> None:
    (session_id,) = conversations(1)
    dr = run_dag(example().export_dag, run_conf={"base_path": f"file://{archive_dir}", "session_id": session_id})
    assert dr.state == "success", states(dr)
    stored = (archive_dir / "by-id" / f"{session_id}.json").read_bytes()
    assert stored == httpx.get(f"{mix_server.base_url}/api/sessions/{session_id}/export").content
