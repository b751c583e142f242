"""``make demo``: run the example DAGs against the bundled local Mix server and say what happened.

Starts the local Mix server on a free loopback port in its default mode (it asks permission before
every tool, as a real Mix server does; each example DAG's permission policy answers), points
``mix_default`` at it, migrates the
Airflow metadata DB under ``.airflow/`` (once), runs each example DAG through ``dag.test()``, and
stops the server. The server's scripted agent follows ``scripts/demo_replies.json``: its rules make
the examples' first prompts run a shell command, so the demo shows a permission asked and granted
(a real server's model decides that itself). Airflow's own log goes to ``.airflow/demo.log``; the screen gets one line per
task as it finishes, then the sessions, replies, usage and where the transcripts went. Exits 1 if
any run failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from pluggy import HookimplMarker

REPO = Path(__file__).resolve().parents[1]
HOME = REPO / ".airflow"
LOG = HOME / "demo.log"
ARCHIVE = REPO / ".artifacts" / "demo-archive"
REPLIES = REPO / "scripts" / "demo_replies.json"
DAG_IDS = ("mix_first_turn", "mix_session_lifecycle", "mix_parallel_research", "mix_archive_transcripts")
hookimpl = HookimplMarker("airflow")  # the project name Airflow's listener specs use
SUMMARY_KEYS = ("session_id", "finish_reason", "reply", "prompt_tokens", "completion_tokens", "cost")

os.environ.update(
    {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags_examples"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_VAR_MIX_ARCHIVE_BASE_PATH": ARCHIVE.as_uri(),
    }
)


class TaskProgress:
    """An Airflow listener printing one line per task as it finishes (``dag.test()`` runs tasks in this process).

    :param out: where the lines go (the terminal, while Airflow's own output goes to the log file).
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.dag_id = ""
        self._started: dict[tuple[str, int], float] = {}

    def _key(self, ti: Any) -> tuple[str, int]:
        return ti.task_id, getattr(ti, "map_index", -1)

    def _line(self, ti: Any, state: str) -> None:
        task_id, map_index = self._key(ti)
        name = task_id if map_index < 0 else f"{task_id}[{map_index}]"
        elapsed = time.monotonic() - self._started.pop((task_id, map_index), time.monotonic())
        print(f"  {self.dag_id:<26} {name:<30} {state:<8} {elapsed:6.1f} s", file=self.out, flush=True)

    @hookimpl
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        """Remember when the task started (a resumed deferral keeps its first start)."""
        self._started.setdefault(self._key(task_instance), time.monotonic())

    @hookimpl
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        """Print the finished task."""
        self._line(task_instance, "success")

    @hookimpl
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any, error: Any) -> None:
        """Print the failed task and the first line of its error."""
        self._line(task_instance, "failed")
        if error:
            print(f"  {'':<26} {str(error).splitlines()[0][:120]}", file=self.out, flush=True)


def listen(progress: TaskProgress) -> None:
    """Register ``progress`` with the listener manager the task runner calls (its module moved in 3.1)."""
    try:
        from airflow.sdk.listener import get_listener_manager
    except ImportError:  # Airflow 3.0
        from airflow.listeners.listener import get_listener_manager
    get_listener_manager().add_listener(progress)


@contextmanager
def output_to(log_path: Path) -> Iterator[TextIO]:
    """Send this process's stdout/stderr (Airflow's log) to ``log_path``; yield the terminal."""
    terminal = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
    saved = [os.dup(fd) for fd in (1, 2)]
    with open(log_path, "ab") as log:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd in (1, 2):
            os.dup2(log.fileno(), fd)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved, strict=True):
                os.dup2(copy, fd)
                os.close(copy)
            terminal.close()


def migrate() -> None:
    """Create or upgrade the demo's SQLite metadata DB."""
    HOME.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()


def run(dag_id: str) -> tuple[str, dict[str, Any]]:
    """Run one example DAG; return its state and each task's state and XCom return value."""
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


def report(dag_id: str, state: str, results: dict[str, Any], out: TextIO) -> None:
    """Print a short account of one run: each task's state and the useful part of its XCom."""
    print(f"\n=== {dag_id}: {state.upper()}", file=out)
    for task, result in sorted(results.items()):
        value = result["xcom"]
        if isinstance(value, dict) and "reply" in value:
            value = {k: value[k] for k in SUMMARY_KEYS if k in value}
        print(f"  {task:<28} {result['state']:<8} {json.dumps(value, default=str)[:160]}", file=out)


def demo(out: TextIO) -> list[str]:
    """Run every example DAG against a fresh local server; the ids of the runs that failed."""
    from airflow.sdk.log import configure_logging

    from mix_provider.devserver.testing import MixDevServer

    migrate()
    configure_logging()
    progress = TaskProgress(out)
    listen(progress)
    failed, runs = [], []
    with MixDevServer(
        REPO / ".devserver-data", reply_delay_ms=300, extra_args=("--replies-file", str(REPLIES))
    ) as server:
        os.environ["AIRFLOW_CONN_MIX_DEFAULT"] = json.dumps({"conn_type": "mix", "host": server.base_url})
        print(f"Local Mix server at {server.base_url} (data in .devserver-data/)", file=out)
        print(f"Airflow's own log: {LOG.relative_to(REPO)}\n", file=out, flush=True)
        for dag_id in DAG_IDS:
            progress.dag_id = dag_id
            state, results = run(dag_id)
            runs.append((dag_id, state, results))
            if state != "success":
                failed.append(dag_id)
    for dag_id, state, results in runs:
        report(dag_id, state, results, out)
    return failed


def main() -> int:
    """Run the demo; 0 when every DAG run succeeded."""
    HOME.mkdir(exist_ok=True)
    LOG.write_bytes(b"")
    with output_to(LOG) as out:
        failed = demo(out)
        files = sorted(p for p in ARCHIVE.rglob("*") if p.is_file())
        print(f"\nTranscripts archived under {ARCHIVE}: {len(files)} files", file=out)
        for path in files[:20]:
            print(f"  {path.relative_to(REPO)} ({path.stat().st_size} bytes)", file=out)
        total = len(DAG_IDS)
        print(
            f"\n{total - len(failed)}/{total} DAG runs succeeded" + (f"; failed: {failed}" if failed else ""), file=out
        )
        if failed:
            print(f"Details in {LOG.relative_to(REPO)}", file=out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
