"""``[mix] session_ledger`` on both local server generations (``current``: the newest twenty listed,
without counts; ``legacy``: everything listed), over real sockets and on the local disk.

``GET /api/messages/history`` holds user messages only (``db/sql/messages.sql`` ``ListUserMessageHistory``),
so on ``current`` a session never sent a message is listed by nothing once twenty newer ones exist:
the ledger finds those the provider created, and without it the result names what may be unseen.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.providers.common.compat.sdk import DAG

from mix_provider.hooks.mix import MixHook
from mix_provider.operators.archive import MixArchiveSessionsOperator
from mix_provider.operators.session import MixCreateSessionOperator, MixListSessionsOperator
from support.integration import states, xcom

ENV = "AIRFLOW__MIX__SESSION_LEDGER"
BOTH = pytest.mark.parametrize("fresh_mix_server", ["current", "legacy"], indirect=True)


@BOTH
@pytest.mark.parametrize("ledger", [True, False], ids=["ledger", "no-ledger"])
def test_25_sessions_3_of_them_empty_beyond_the_newest_20(
    fresh_mix_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger: bool
) -> None:
    if ledger:
        monkeypatch.setenv(ENV, f"file://{tmp_path}/ledger")
    else:
        monkeypatch.delenv(ENV, raising=False)
    with MixHook() as hook:
        empty = {hook.create_session(f"never used {n}").id for n in range(3)}
    seed = httpx.post(f"{fresh_mix_server.base_url}/_devserver/seed/sessions", json={"count": 22})
    with_messages = set(seed.raise_for_status().json()["ids"])
    archive = tmp_path / "archive"
    op = MixArchiveSessionsOperator(task_id="archive", base_path=f"file://{archive}", compression=None)
    result = op.execute({})
    listed = set(MixListSessionsOperator(task_id="list").execute({}))
    archived = {path.name.removesuffix(".jsonl") for path in archive.glob("*.jsonl")}
    capped = fresh_mix_server.generation == "current"
    assert result["listing"]["complete"] and result["listing"]["capped"] is capped
    if ledger or not capped:
        assert archived == listed == empty | with_messages, "every session, the empty ones included"
    else:
        assert archived == listed == with_messages, "the server shows no way to the 3 empty ones"
    named = result["listing"]["empty_unseen"]
    assert (named is not None) is capped, "a capped server's result names what may be unseen"
    if capped:
        assert ("created outside the provider" if ledger else "Set [mix] session_ledger") in named, named


def test_a_create_in_a_dag_run_records_its_task(
    run_dag: Any, mix_server: Any, uid: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, f"file://{tmp_path}")
    with DAG(f"ledger_{uid}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        MixCreateSessionOperator(task_id="create", title=f"ledger {uid}")
    dr = run_dag(dag)
    assert dr.state == "success", states(dr)
    session_id = xcom(dr, "create")
    assert "ledger_error" not in xcom(dr, "create", key="session")
    record = json.loads((tmp_path / "mix_default" / f"{session_id}.json").read_text())
    assert record["session_id"] == session_id and record["created_at"]
    assert (record["dag_id"], record["task_id"], record["run_id"]) == (dag.dag_id, "create", dr.run_id)
