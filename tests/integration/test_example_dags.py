"""The example DAGs: every file imports cleanly, and the lifecycle DAG runs to success on the local server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from integration.operators.support import MixAPI, api, dag_bundles, run_dag, states, xcom

__all__ = ["api", "dag_bundles", "run_dag"]

EXAMPLES = Path(__file__).resolve().parents[2] / "dags_examples"


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
    assert (summary["id"], summary["user_message_count"], summary["assistant_message_count"]) == (session_id, 1, 1)
    assert xcom(dr, "export_transcript")["session_id"] == session_id
    assert xcom(dr, "delete_session") is True
    assert api.session(session_id).status_code == 404
