"""The example DAGs: every file imports cleanly, and every DAG runs to success on the local server,
triggered with the conf its docs show (nothing more: a run that only works with extra conf is a trap).

The server runs as ``make demo`` runs it: in its default mode, asking permission before every tool as
a real Mix server does, its scripted agent following the demo's reply rules; each DAG's own
permission policy must answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import runpy
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider.archive import read_manifest
from mix_provider.devserver.testing import MixDevServer
from support.fakes import define_conn
from support.integration import MixAPI, api, dag_bundles, run_dag, states, uid, user_messages, xcom

__all__ = ["api", "dag_bundles", "run_dag", "uid"]

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"
DEMO_REPLIES = EXAMPLES.parent / "scripts" / "demo_replies.json"
#: Every example DAG and the test that runs it with its documented conf; a new DAG must be added here.
RUN_TESTS = {
    "mix_session_lifecycle": "test_lifecycle_dag_runs_to_success",
    "mix_parallel_research": "test_parallel_research_dag_runs_to_success",
    "mix_archive_transcripts": "test_daily_archive_dag_runs_with_no_conf",
    "mix_export_transcript": "test_export_dag_runs_with_only_the_documented_session_id",
    "mix_managed_agent": "test_managed_agent_dag_consults_mix_through_common_ai",
    "mix_typed_triage": "test_typed_triage_dag_routes_on_the_parsed_reply",
    "mix_archive_to_asset": "test_archive_asset_event_schedules_the_consumer_dag",
    "mix_on_new_transcripts": "test_archive_asset_event_schedules_the_consumer_dag",
    "mix_cost_report": "test_cost_report_rolls_up_the_archive_by_day_and_model",
    "mix_supervised_turn": "test_supervised_dag_decides_every_request_by_rule",
    "mix_first_turn": "test_readme_first_dag_runs_with_the_server_asking",
    "mix_files_round_trip": "test_files_dag_sends_a_pdf_and_stores_the_chart_the_agent_made",
}


@pytest.fixture(scope="module")
def mix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MixDevServer]:
    """The local server as ``make demo`` starts it (asking before tools); ``mix_default`` points at it."""
    replies = ("--replies-file", str(DEMO_REPLIES))
    data = tmp_path_factory.mktemp("asking-mix-data")
    with MixDevServer(data, reply_delay_ms=30, extra_args=replies) as server, pytest.MonkeyPatch.context() as mp:
        define_conn(mp, "mix_default", host=server.base_url, extra={"max_retries": 2})
        yield server


@pytest.fixture(scope="module")
def example_bag(airflow_db: Any) -> Any:
    """The example folder parsed as the DAG processor would."""
    from mix_provider.version_compat import dag_bag_class

    return dag_bag_class()(dag_folder=EXAMPLES)


def test_every_example_file_imports_and_defines_a_dag(example_bag: Any) -> None:
    assert example_bag.import_errors == {}
    files = {path.name for path in EXAMPLES.glob("*.py") if not path.name.startswith("_")}
    assert files, "no example DAG files found"
    assert {Path(dag.fileloc).name for dag in example_bag.dags.values()} == files


def test_examples_use_airflow_sdk_and_clean_up_in_teardowns(example_bag: Any) -> None:
    """``from airflow.sdk import DAG``; a session deleted at the end is a teardown of the task creating it."""
    from mix_provider.operators.session import MixCreateSessionOperator, MixDeleteSessionOperator

    for path in EXAMPLES.glob("*.py"):
        source = path.read_text()
        assert "common.compat.sdk" not in source and "trigger_rule" not in source, path.name
    deletes = [
        (dag.dag_id, task)
        for dag in example_bag.dags.values()
        for task in dag.tasks
        if isinstance(task, MixDeleteSessionOperator)
    ]
    assert {dag_id for dag_id, _ in deletes} == {
        "mix_first_turn",
        "mix_session_lifecycle",
        "mix_supervised_turn",
        "mix_typed_triage",
    }
    for dag_id, delete in deletes:
        setups = [task for task in delete.upstream_list if task.is_setup]
        assert delete.is_teardown, dag_id
        assert [type(task) for task in setups] == [MixCreateSessionOperator], dag_id


def test_lifecycle_dag_runs_to_success(example_bag: Any, run_dag: Any, api: MixAPI) -> None:
    dag = example_bag.get_dag("mix_session_lifecycle")
    dr = run_dag(dag)
    assert dr.state == "success", states(dr)

    session_id = xcom(dr, "create_session")
    assert xcom(dr, "first_turn")["session_id"] == session_id
    assert xcom(dr, "first_turn")["tool_calls"] == 1
    assert xcom(dr, "first_turn")["decisions"]["granted"] == 1  # the server asked; the DAG's policy granted
    summary = xcom(dr, "session_summary")
    # the kept tool turn: user, assistant (tool_use), tool results, final assistant
    assert (summary["id"], summary["user_message_count"], summary["assistant_message_count"]) == (session_id, 1, 2)
    exported = xcom(dr, "export_transcript")
    # user, assistant (tool_use), the bash tool's results, the bash_script callback's result, final assistant
    assert (exported["session_id"], exported["messages"]) == (session_id, 5)
    assert xcom(dr, "delete_session") is True
    assert api.session(session_id).status_code == 404


def test_every_example_dag_is_run_by_a_test(example_bag: Any) -> None:
    assert set(example_bag.dag_ids) == set(RUN_TESTS)
    assert all(name in globals() for name in RUN_TESTS.values())


def test_parallel_research_dag_runs_to_success(example_bag: Any, run_dag: Any, api: MixAPI) -> None:
    dr = run_dag(example_bag.get_dag("mix_parallel_research"))
    assert dr.state == "success", states(dr)
    created = [xcom(dr, "create_sessions", map_index=i) for i in range(3)]
    assert all(xcom(dr, "research", map_index=i)["session_id"] == created[i] for i in range(3))
    assert set(created) <= set(xcom(dr, "list_research_sessions"))


def test_readme_first_dag_runs_with_the_server_asking(example_bag: Any, run_dag: Any, api: MixAPI) -> None:
    """The README's first DAG (its snippet is synced from the example): the server asks before the
    agent's ``ls``, the DAG's policy grants it, the turn succeeds and the teardown deletes the session."""
    dr = run_dag(example_bag.get_dag("mix_first_turn"))
    assert dr.state == "success", states(dr)
    result = xcom(dr, "ask")
    assert (result["tool_calls"], result["decisions"]["granted"]) == (1, 1)
    assert "permission granted: bash" in result["reply"]
    assert api.session(result["session_id"]).status_code == 404


def test_supervised_dag_decides_every_request_by_rule(example_bag: Any, run_dag: Any, api: MixAPI) -> None:
    dr = run_dag(example_bag.get_dag("mix_supervised_turn"))
    assert dr.state == "success", states(dr)
    result = xcom(dr, "supervised_turn")
    for line in ("permission granted: bash", "permission denied: Write", "acknowledged", "answered: no"):
        assert line in result["reply"]
    assert result["decisions"] == {"granted": 1, "denied": 1, "answered": 2, "asked": 0}
    assert xcom(dr, "supervised_turn", key="mix_usage")["turn"]["cost"] == result["cost"]


def test_daily_archive_dag_runs_with_no_conf(example_bag: Any, run_dag: Any, api: MixAPI) -> None:
    """No conf: the base is ``$AIRFLOW_HOME/mix-archive`` (no ``base_path`` param, no Variable)."""
    session_id = api.create_session()["id"]
    dr = run_dag(example_bag.get_dag("mix_archive_transcripts"), logical_date=datetime(2026, 2, 3, tzinfo=timezone.utc))
    assert dr.state == "success", states(dr)
    partition = Path(os.environ["AIRFLOW_HOME"]) / "mix-archive" / "dt=2026-02-03"
    assert xcom(dr, "archive_transcripts")["base_path"] == f"file://{partition}"
    assert session_id in read_manifest(ObjectStoragePath(f"file://{partition}")).entries


def test_export_dag_runs_with_only_the_documented_session_id(example_bag: Any, run_dag: Any, api: MixAPI) -> None:
    """The docs' conf ``{"session_id": ...}`` alone (``params.base_path`` used to fail to render here)."""
    session_id = api.create_session()["id"]
    api.converse(session_id, "hello")
    dr = run_dag(example_bag.get_dag("mix_export_transcript"), run_conf={"session_id": session_id})
    assert dr.state == "success", states(dr)
    stored = Path(os.environ["AIRFLOW_HOME"]) / "mix-archive" / "by-id" / f"{session_id}.json"
    assert xcom(dr, "export_transcript")["uri"] == f"file://{stored}"
    assert json.loads(stored.read_bytes()) == api.export(session_id)


def test_the_docs_export_snippet_runs_in_a_dag_of_its_own(run_dag: Any, api: MixAPI, uid: str) -> None:
    """The snippets of docs/archive.md, pasted into a DAG that declares only ``session_id``, run as shown."""
    from airflow.providers.common.compat.sdk import DAG, Param

    from mix_provider.operators.export import MixExportSessionOperator

    snippets = runpy.run_path(str(EXAMPLES.parent / "scripts" / "sync_docs.py"))["regions"]()
    session_id = api.create_session()["id"]
    params = {"session_id": Param(type="string")}
    with DAG(f"docs_export_{uid}", schedule=None, start_date=datetime(2026, 1, 1), params=params) as dag:
        namespace: dict[str, Any] = {"os": os, "MixExportSessionOperator": MixExportSessionOperator}
        exec(snippets["howto_mix_archive_base_path"] + snippets["howto_operator_mix_export_to_file"], namespace)
    dr = run_dag(dag, run_conf={"session_id": session_id})
    assert dr.state == "success", states(dr)
    assert (Path(os.environ["AIRFLOW_HOME"]) / "mix-archive" / "by-id" / f"{session_id}.json").exists()


def test_managed_agent_dag_consults_mix_through_common_ai(
    example_bag: Any, run_dag: Any, api: MixAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AgentOperator on pydantic-ai's TestModel calls the ManagedAgentToolset bound to Mix (common-ai extra)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_PYDANTICAI_DEFAULT", json.dumps({"conn_type": "pydanticai", "extra": {"model": "test"}})
    )
    before = {s["id"] for s in api.sessions()}
    dr = run_dag(example_bag.get_dag("mix_managed_agent"))
    assert dr.state == "success", states(dr)
    answer = xcom(dr, "triage_tickets")
    assert "You said:" in str(answer)
    (session_id,) = {s["id"] for s in api.sessions()} - before
    messages = api.export(session_id)["messages"]
    assert sorted(m["role"] for m in messages) == ["assistant", "user"]
    assert xcom(dr, "triage_tickets", key="usage") is not None


def test_typed_triage_dag_routes_on_the_parsed_reply(example_bag: Any, run_dag: Any, api: MixAPI) -> None:
    dr = run_dag(example_bag.get_dag("mix_typed_triage"))
    assert dr.state == "success", states(dr)
    assert xcom(dr, "triage") == {"priority": "high", "reason": "..."}
    assert xcom(dr, "triage", key="mix_turn")["attempts"] == 1
    assert xcom(dr, "route") == "pager"
    assert api.session(xcom(dr, "create_session")).status_code == 404, "the teardown deleted the session"


def test_archive_asset_event_schedules_the_consumer_dag(example_bag: Any, run_dag: Any, api: MixAPI) -> None:
    """The archive task's asset event carries ids, bytes and sha256, and queues the consumer DAG."""
    from airflow.models.asset import AssetDagRunQueue, AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    session_id = api.create_session()["id"]
    api.converse(session_id, "hello asset")
    consumer = example_bag.get_dag("mix_on_new_transcripts")
    run_dag(consumer)  # registers the consumer (its asset schedule) before the event
    from airflow.models.dag import DagModel
    from sqlalchemy import update

    with create_session() as db:  # DAGs start paused; a paused DAG is not queued by asset events
        db.execute(update(DagModel).where(DagModel.dag_id == consumer.dag_id).values(is_paused=False))
    dr = run_dag(example_bag.get_dag("mix_archive_to_asset"))
    assert dr.state == "success", states(dr)
    with create_session() as db:
        event = db.scalars(select(AssetEvent).order_by(AssetEvent.id.desc()).limit(1)).one()
        queued = db.scalars(select(AssetDagRunQueue.target_dag_id)).all()
        extra = dict(event.extra)
    assert session_id in extra["session_ids"]
    stored = Path(os.environ["AIRFLOW_HOME"]) / "mix-archive" / "assets" / extra["sessions"][session_id]["path"]
    assert extra["sessions"][session_id]["sha256"] == hashlib.sha256(stored.read_bytes()).hexdigest()
    assert extra["sessions"][session_id]["bytes"] == stored.stat().st_size
    assert "mix_on_new_transcripts" in queued
    again = run_dag(consumer)
    assert again.state == "success", states(again)


def test_cost_report_rolls_up_the_archive_by_day_and_model(example_bag: Any, run_dag: Any, api: MixAPI) -> None:
    """After the daily archive, the report's CSV sums every archived session's tokens and cost once."""
    import csv

    session_id = api.create_session()["id"]
    api.converse(session_id, "cost me something")
    archived = run_dag(
        example_bag.get_dag("mix_archive_transcripts"), logical_date=datetime(2026, 2, 4, tzinfo=timezone.utc)
    )
    assert archived.state == "success", states(archived)
    dr = run_dag(example_bag.get_dag("mix_cost_report"))
    assert dr.state == "success", states(dr)
    report = xcom(dr, "cost_report")
    base = Path(os.environ["AIRFLOW_HOME"]) / "mix-archive"
    rows = list(csv.DictReader((base / "reports" / "costs.csv").read_text().splitlines()))
    assert len(rows) == report["rows"] and sum(int(r["sessions"]) for r in rows) == report["sessions"]
    entry = read_manifest(ObjectStoragePath(f"file://{base}/dt=2026-02-04")).entries[session_id]
    assert entry.model == "devserver-scripted" and entry.cost == api.export(session_id)["cost"] > 0
    # the export carries no per-message usage and the header's token fields are the last LLM call's
    # (agent.go TrackUsage): the entry's tokens are unknown, never those
    assert entry.created_at is not None and entry.prompt_tokens is None
    day = entry.created_at[:10]
    (row,) = [r for r in rows if (r["day"], r["model"]) == (day, "devserver-scripted")]
    assert float(row["cost"]) >= entry.cost and int(row["prompt_tokens"]) >= (entry.prompt_tokens or 0)
    png = (base / "reports" / "costs.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR"


def test_files_dag_sends_a_pdf_and_stores_the_chart_the_agent_made(example_bag: Any, run_dag: Any, api: MixAPI) -> None:
    """No conf: the PDF goes from ``$AIRFLOW_HOME/mix-files/inbox`` to the session, the chart the agent
    made comes back to ``outbox/<run id>/``, hashed; the session runs on the model the params name."""
    dag = example_bag.get_dag("mix_files_round_trip")
    dr = run_dag(dag, run_conf={"model_id": "gemini-3-flash-preview", "provider": "gemini"})
    assert dr.state == "success", states(dr)
    session_id = xcom(dr, "create_session")
    assert xcom(dr, "create_session", key="session")["model_id"] == "gemini-3-flash-preview"
    assert api.session(session_id).json()["modelId"] == "gemini-3-flash-preview"
    [user_text] = [m["content"] for m in user_messages(api.export(session_id))]
    assert f"/api/sessions/{session_id}/files/brief.pdf" in user_text  # the attachment's URL
    assert f"/api/sessions/{session_id}/files/chart.png" in xcom(dr, "ask_for_chart")["reply"]
    assert [f["name"] for f in xcom(dr, "ask_for_chart")["files"]] == ["brief.pdf"]  # reported with the reply
    collected = xcom(dr, "collect_chart")
    assert [f["name"] for f in collected["files"]] == ["chart.png"] and collected["missing"] == []
    chart = collected["files"][0]
    stored = Path(chart["uri"].removeprefix("file://"))
    outbox = Path(os.environ["AIRFLOW_HOME"]) / "mix-files" / "outbox"
    assert stored.parent.parent == outbox and stored.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (chart["size"], chart["sha256"]) == (stored.stat().st_size, hashlib.sha256(stored.read_bytes()).hexdigest())
    assert chart["content_type"] == "image/png"
    assert not [p for p in stored.parent.iterdir() if p.name.endswith(".partial")]
