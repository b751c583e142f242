"""Asset events of the export and archive tasks: their extra says what was stored (``dag.test()``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG, Asset

from mix_provider.operators.archive import MixArchiveSessionsOperator
from mix_provider.operators.export import MixExportSessionOperator
from support.integration import asset_events, states

pytestmark = pytest.mark.integration


def test_export_and_archive_events_carry_ids_bytes_and_hashes(
    run_dag: Any, conversations: Callable[[int], list[str]], archive_dir: Path, uid: str
) -> None:
    first, second = conversations(2)
    exported, archived = Asset(name=f"exported_{uid}"), Asset(name=f"archived_{uid}")
    with DAG(f"mix_asset_events_{uid}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        MixExportSessionOperator(
            task_id="export", session_id=first, output_path=f"file://{archive_dir}/one.json", outlets=[exported]
        )
        MixExportSessionOperator(task_id="summary", session_id=first, outlets=[exported])
        MixArchiveSessionsOperator(
            task_id="archive", base_path=f"file://{archive_dir}/all", session_ids=[first, second], outlets=[archived]
        )
    dr = run_dag(dag)
    assert dr.state == "success", states(dr)

    by_uri = {e.get("uri"): e for e in asset_events(exported.name)}
    stored = archive_dir / "one.json"
    file_event = by_uri[f"file://{stored}"]
    assert file_event["session_ids"] == [first]
    assert (file_event["bytes"], file_event["sha256"]) == (
        stored.stat().st_size,
        hashlib.sha256(stored.read_bytes()).hexdigest(),
    )
    assert by_uri[None]["session_ids"] == [first] and by_uri[None]["messages"] == file_event["messages"]

    (event,) = asset_events(archived.name)
    assert sorted(event["session_ids"]) == sorted([first, second]) and event["archived"] == 2
    for sid in (first, second):
        path = archive_dir / "all" / event["sessions"][sid]["path"]
        assert event["sessions"][sid]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
