"""``make demo``: run the example DAGs against the bundled local Mix server and say what happened.

Starts the local Mix server on a free loopback port, points ``mix_default`` at it, migrates the
Airflow metadata DB under ``.airflow/`` (once), runs each example DAG through ``dag.test()``, prints
sessions, replies and where the transcripts went, and stops the server. Exits 1 if any run failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HOME = REPO / ".airflow"
ARCHIVE = REPO / ".artifacts" / "demo-archive"
DAG_IDS = ("mix_session_lifecycle", "mix_parallel_research", "mix_archive_transcripts")

os.environ.update(
    {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags_examples"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_VAR_MIX_ARCHIVE_BASE_PATH": ARCHIVE.as_uri(),
    }
)


def migrate() -> None:
    """Create or upgrade the demo's SQLite metadata DB."""
    HOME.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()


def run(dag_id: str) -> tuple[str, dict[str, Any]]:
    """Run one example DAG; return its state and each task's XCom return value."""
    from mix_provider.version_compat import dag_bag_class

    bag = dag_bag_class()(str(REPO / "dags_examples"))
    if bag.import_errors:
        raise SystemExit(f"example DAGs failed to import: {bag.import_errors}")
    dag_run = bag.get_dag(dag_id).test()
    results = {}
    for ti in dag_run.get_task_instances():
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        results[key] = {"state": str(ti.state), "xcom": ti.xcom_pull(task_ids=ti.task_id, map_indexes=ti.map_index)}
    return str(dag_run.state), results


def report(dag_id: str, state: str, results: dict[str, Any]) -> None:
    """Print a short account of one run."""
    print(f"\n=== {dag_id}: {state.upper()}")
    for task, result in sorted(results.items()):
        value = result["xcom"]
        if isinstance(value, dict) and "reply" in value:
            value = {k: value[k] for k in ("session_id", "finish_reason", "reply", "cost")}
        print(f"  {task:<28} {result['state']:<8} {json.dumps(value, default=str)[:160]}")


def main() -> int:
    """Run the demo; 0 when every DAG run succeeded."""
    from airflow.sdk.log import configure_logging

    from mix_provider.devserver.testing import MixDevServer

    migrate()
    configure_logging()
    failed = []
    with MixDevServer(REPO / ".devserver-data", reply_delay_ms=300) as server:
        os.environ["AIRFLOW_CONN_MIX_DEFAULT"] = json.dumps({"conn_type": "mix", "host": server.base_url})
        print(f"Local Mix server at {server.base_url} (data in .devserver-data/)")
        for dag_id in DAG_IDS:
            state, results = run(dag_id)
            report(dag_id, state, results)
            if state != "success":
                failed.append(dag_id)
    files = sorted(p for p in ARCHIVE.rglob("*") if p.is_file())
    print(f"\nTranscripts archived under {ARCHIVE}: {len(files)} files")
    for path in files[:20]:
        print(f"  {path.relative_to(REPO)} ({path.stat().st_size} bytes)")
    print(
        f"\n{len(DAG_IDS) - len(failed)}/{len(DAG_IDS)} DAG runs succeeded" + (f"; failed: {failed}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
