"""A daily incremental archive at scale on a private server: of ``MIX_ARCHIVE_SCALE_SESSIONS``
(default 2,000) sessions, 1 % change and exactly those are exported, as one task and as mapped
shards (``benchmarks/archive_scale.py`` runs the same at 100,000)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG, ObjectStoragePath

from mix_provider.archive import read_manifest, shard_indices
from mix_provider.operators.archive import MixArchiveSessionsOperator
from support.integration import states, xcom

SESSIONS = int(os.environ.get("MIX_ARCHIVE_SCALE_SESSIONS", "2000"))
SHARDS = 4
EXPORTS = "/api/sessions/[^/]+/export"


def daily(dag_id: str, base: Path, shards: int) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        if shards == 1:
            MixArchiveSessionsOperator(task_id="archive", base_path=f"file://{base}", retries=0)
        else:
            MixArchiveSessionsOperator.partial(
                task_id="archive", base_path=f"file://{base}", shards=shards, retries=0
            ).expand(shard=shard_indices(shards))
    return dag


def archived(dr: Any, shards: int) -> int:
    indices = [-1] if shards == 1 else range(shards)
    return sum(xcom(dr, "archive", map_index=i)["archived"] for i in indices)


@pytest.mark.parametrize("fresh_mix_server", ["legacy"], indirect=True)  # lists every session (issue 24)
def test_a_daily_run_exports_only_the_changed_sessions(
    run_dag: Callable[..., Any], fresh_mix_server: Any, tmp_path: Path
) -> None:
    server = fresh_mix_server
    ids = server.seed_sessions(SESSIONS, title_prefix="scale")
    base = tmp_path / "archive"
    first = run_dag(daily("scale_first", base, SHARDS))
    assert first.state == "success", states(first)
    assert archived(first, SHARDS) == SESSIONS

    for day, shards in enumerate((1, SHARDS), start=1):
        changed = ids[day::100]
        server.touch_sessions(changed)
        server.reset_request_counts()
        dr = run_dag(daily(f"scale_day_{day}", base, shards))
        assert dr.state == "success", states(dr)
        assert server.request_count("GET", EXPORTS) == len(changed) == archived(dr, shards)
        assert server.request_count("GET", "/api/sessions") == shards
        entries = read_manifest(ObjectStoragePath(f"file://{base}")).entries
        assert len(entries) == SESSIONS
        assert all(entries[sid].messages == 4 for sid in changed)  # 2 seeded + the touch's exchange
