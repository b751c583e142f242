"""The example DAGs: every file imports cleanly, and every DAG runs to success on the local server,
triggered with the conf its docs show (nothing more: a run that only works with extra conf is a trap).
"""

from __future__ import annotations

import json
import os
import runpy
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider.archive import read_manifest
from support.integration import MixAPI, api, dag_bundles, run_dag, states, uid, xcom

__all__ = ["api", "dag_bundles", "run_dag", "uid"]

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"
#: Every example DAG and the test that runs it with its documented conf; a new DAG must be added here.
RUN_TESTS = {
    "mix_session_lifecycle": "test_lifecycle_dag_runs_to_success",
    "mix_parallel_research": "test_parallel_research_dag_runs_to_success",
    "mix_archive_transcripts": "test_daily_archive_dag_runs_with_no_conf",
    "mix_export_transcript": "test_export_dag_runs_with_only_the_documented_session_id",
}


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


def test_lifecycle_dag_runs_to_success(example_bag: Any, run_dag: Any, api: MixAPI) -> None:
    dag = example_bag.get_dag("mix_session_lifecycle")
    dr = run_dag(dag)
    assert dr.state == "success", states(dr)

    session_id = xcom(dr, "create_session")
    assert xcom(dr, "first_turn")["session_id"] == session_id
    assert xcom(dr, "first_turn")["tool_calls"] == 1
    summary = xcom(dr, "session_summary")
    # the kept tool turn: user, assistant (tool_use), tool results, final assistant
    assert (summary["id"], summary["user_message_count"], summary["assistant_message_count"]) == (session_id, 1, 2)
    exported = xcom(dr, "export_transcript")
    assert (exported["session_id"], exported["messages"]) == (session_id, 4)
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

    from mix_provider.operators.export import ExportSessionOperator

    snippets = runpy.run_path(str(EXAMPLES.parent / "scripts" / "sync_docs.py"))["regions"]()
    session_id = api.create_session()["id"]
    params = {"session_id": Param(type="string")}
    with DAG(f"docs_export_{uid}", schedule=None, start_date=datetime(2026, 1, 1), params=params) as dag:
        namespace: dict[str, Any] = {"os": os, "ExportSessionOperator": ExportSessionOperator}
        exec(snippets["howto_mix_archive_base_path"] + snippets["howto_operator_mix_export_to_file"], namespace)
    dr = run_dag(dag, run_conf={"session_id": session_id})
    assert dr.state == "success", states(dr)
    assert (Path(os.environ["AIRFLOW_HOME"]) / "mix-archive" / "by-id" / f"{session_id}.json").exists()
