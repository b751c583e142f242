"""Soak: an hour (``--minutes``) of Mix work through a distributed Airflow, watched for growth.

    .venv/bin/python benchmarks/soak.py [--minutes 60] [--every 2] [--warmup 3]      # or: make soak

Starts what ``make e2e-distributed`` starts (PostgreSQL, Redis, the local Mix server, an api-server,
two schedulers with CeleryExecutor, a dag-processor, two Celery workers, two triggerers) and keeps up
to four ``mix_soak`` runs going (``benchmarks/soak_dags/mix_soak.py``: a deferrable, a blocking and a
rule-supervised turn, then the session archived), while a fault is injected into the Mix
server every 20 s (a 503, a dropped connection, a truncated body, a malformed body; the provider
retries them). Every ``--every`` minutes it prints one row: the RSS of each Airflow component (its
whole process tree) and of the Mix server, the connections open to the Mix server, pending triggers,
metadata-DB rows, turns completed and failed tries by task.

At the end (after the runs in flight finish), it checks the session of every successful run:
each message sent once (``POST .../messages`` count = user messages) and its archived transcript
present and equal to the server's export. It then prints the growth between the first row after
``--warmup`` minutes and the last, and exits 1 on a duplicate, a lost transcript or a failed run.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "distributed")]

from dist_cluster import DistributedAirflow, MetadataDB  # noqa: E402

from airflow_stack.postgres import PostgresCluster  # noqa: E402
from airflow_stack.redis import RedisServer  # noqa: E402
from airflow_stack.rest import AirflowRest  # noqa: E402
from mix_provider.archive import read_manifest, storage_path  # noqa: E402
from mix_provider.devserver.testing import MixDevServer, free_port  # noqa: E402

SOAK_DAG = "mix_soak"
TURN_TASKS = ("deferred_turn", "blocking_turn", "supervised_turn")
MAX_ACTIVE_RUNS = 4
FAULT_EVERY_S = 20.0
#: The faults injected in turn: ``(kind, method, path regex, options)``; each is retried by the client.
FAULTS = (
    ("status", "GET", r"/api/sessions/[^/]+", {"status": 503}),
    ("reset_before", "GET", r"/api/sessions/[^/]+/export", {}),
    ("truncate", "GET", r"/api/sessions", {}),
    ("malformed", "GET", r"/api/sessions/[^/]+/messages", {}),
)
#: Metadata-DB tables whose rows are counted in each row of the table.
TABLES = ("dag_run", "task_instance", "task_instance_history", "xcom", "log", "trigger", "job", "celery_taskmeta")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="how long to keep runs going (default 60)")
    parser.add_argument("--every", type=float, default=2.0, help="minutes between two rows (default 2)")
    parser.add_argument("--warmup", type=float, default=3.0, help="minutes before growth is measured (default 3)")
    return parser.parse_args()


@contextlib.contextmanager
def services(root: Path) -> Iterator[tuple[DistributedAirflow, MixDevServer, MetadataDB]]:
    """Everything up; everything stopped at the end, whatever happens."""
    dags = root / "dags"
    dags.mkdir()
    shutil.copyfile(REPO / "benchmarks" / "soak_dags" / "mix_soak.py", dags / "mix_soak.py")
    with contextlib.ExitStack() as stack:
        postgres = PostgresCluster(free_port(), root=root / "postgres")
        stack.callback(postgres.stop)
        postgres.start()
        redis = RedisServer(free_port(), root / "redis")
        stack.callback(redis.stop)
        redis.start()
        mix = stack.enter_context(MixDevServer(root / "mix-data"))
        db = MetadataDB(postgres.port)
        cluster = DistributedAirflow.for_services(
            root, dags, db_url=postgres.url, broker_url=redis.url, mix_url=mix.base_url, username="soak", extra_env={}
        )
        stack.callback(cluster.stop)
        cluster.up(db)
        yield cluster, mix, db


def tree_rss_mib(pid: int | None) -> float:
    """Resident set of a process and its descendants, MiB."""
    if not pid:
        return 0.0
    try:
        leader = psutil.Process(pid)
        procs = [leader, *leader.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total / 2**20


def mix_connections(port: int) -> int:
    """Established TCP connections to the Mix server (counted at the client end)."""
    return sum(
        1
        for conn in psutil.net_connections(kind="tcp")
        if conn.status == psutil.CONN_ESTABLISHED and conn.raddr and conn.raddr.port == port
    )


def sample(cluster: DistributedAirflow, mix: MixDevServer, db: MetadataDB, started: float) -> dict[str, Any]:
    """One row of the table."""
    row: dict[str, Any] = {"min": round((time.monotonic() - started) / 60, 1)}
    for name, process in cluster.processes.items():
        row[name] = round(tree_rss_mib(process.pid if process.running() else None))
    row["mix-server"] = round(tree_rss_mib(mix.pid))
    row["mix conns"] = mix_connections(mix.port)
    row["triggers"] = db.rows("SELECT count(*) FROM trigger")[0][0]
    row["db rows"] = sum(db.rows(f"SELECT count(*) FROM {table}")[0][0] for table in TABLES)
    runs = db.rows("SELECT count(*) FROM dag_run WHERE dag_id = %s", SOAK_DAG)[0][0]
    row["rows/run"] = round(row["db rows"] / runs) if runs else 0
    row["turns done"] = db.rows(
        "SELECT count(*) FROM task_instance WHERE dag_id = %s AND state = 'success' AND task_id = ANY(%s)",
        SOAK_DAG,
        list(TURN_TASKS),
    )[0][0]
    failed = db.rows(
        "SELECT task_id, count(*) FROM (SELECT task_id, state FROM task_instance_history WHERE dag_id = %s "
        "UNION ALL SELECT task_id, state FROM task_instance WHERE dag_id = %s) t WHERE state = 'failed' "
        "GROUP BY task_id",
        SOAK_DAG,
        SOAK_DAG,
    )
    row["failed tries"] = dict(failed) or "-"
    return row


def print_row(row: dict[str, Any], header: bool) -> None:
    keys = list(row)
    if header:
        print(" | ".join(keys), flush=True)
    print(" | ".join(str(row[key]) for key in keys), flush=True)


def run_states(rest: AirflowRest, dag_id: str) -> Counter[str]:
    """How many runs of ``dag_id`` are in each state."""
    body = rest.json("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 1000})
    return Counter(str(run["state"]) for run in body["dag_runs"])


def inject(mix: MixDevServer, index: int, injected: Counter[str]) -> None:
    kind, method, path, options = FAULTS[index % len(FAULTS)]
    mix.add_fault(kind, method=method, path=path, count=1, **options)
    injected[kind] += 1


def soak(args: argparse.Namespace, cluster: DistributedAirflow, mix: MixDevServer, db: MetadataDB) -> list[dict]:
    """Keep runs going for ``--minutes``, print a row every ``--every`` minutes; the rows."""
    rest = AirflowRest(cluster.base_url, cluster.username, cluster.password)
    rest.wait_dag(SOAK_DAG, timeout=300)
    base = f"file://{cluster.home}/soak-archive"
    started = time.monotonic()
    rows: list[dict[str, Any]] = []
    injected: Counter[str] = Counter()
    next_row, next_fault, faults = started, started + FAULT_EVERY_S, 0
    while time.monotonic() - started < args.minutes * 60:
        states = run_states(rest, SOAK_DAG)
        if states["queued"] + states["running"] < MAX_ACTIVE_RUNS:
            rest.trigger(SOAK_DAG, {"delay_ms": 1000 + 1000 * (sum(states.values()) % 5), "base_path": base})
        if time.monotonic() >= next_fault:
            inject(mix, faults, injected)
            faults, next_fault = faults + 1, next_fault + FAULT_EVERY_S
        if time.monotonic() >= next_row:
            rows.append({**sample(cluster, mix, db, started), "runs": dict(states), "faults": sum(injected.values())})
            print_row(rows[-1], header=len(rows) == 1)
            next_row += args.every * 60
        time.sleep(2)
    drain(rest, started)
    rows.append(
        {
            **sample(cluster, mix, db, started),
            "runs": dict(run_states(rest, SOAK_DAG)),
            "faults": sum(injected.values()),
        }
    )
    print_row(rows[-1], header=False)
    print(f"faults injected: {dict(injected)}", flush=True)
    return rows


def drain(rest: AirflowRest, started: float) -> None:
    """Wait for the runs in flight."""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        states = run_states(rest, SOAK_DAG)
        if states["queued"] + states["running"] == 0:
            break
        time.sleep(5)
    print(f"drained at {(time.monotonic() - started) / 60:.1f} min", flush=True)


def soak_sessions(db: MetadataDB) -> list[str]:
    """The session of every successful ``mix_soak`` run (its archive task ran after its last turn)."""
    rows = db.rows(
        "SELECT x.value FROM xcom x JOIN dag_run r ON r.id = x.dag_run_id WHERE x.dag_id = %s "
        "AND x.task_id = 'create_session' AND x.key = 'return_value' AND r.state = 'success'",
        SOAK_DAG,
    )
    return [str(json.loads(value) if isinstance(value, str) and value.startswith('"') else value) for (value,) in rows]


def check(cluster: DistributedAirflow, mix: MixDevServer, db: MetadataDB, rest: AirflowRest) -> dict[str, int]:
    """Duplicates and lost transcripts over the soak's sessions."""
    sessions = soak_sessions(db)
    manifest = read_manifest(storage_path("base_path", f"file://{cluster.home}/soak-archive")).entries
    found = {"sessions": len(sessions), "duplicate_messages": 0, "lost_transcripts": 0, "stale_transcripts": 0}
    for sid in sessions:
        export = httpx.get(f"{mix.base_url}/api/sessions/{sid}/export", timeout=60).json()
        users = sum(1 for m in export["messages"] if m.get("role") == "user")
        found["duplicate_messages"] += max(0, mix.request_count("POST", f"/api/sessions/{sid}/messages") - users)
        entry = manifest.get(sid)
        path = cluster.home / "soak-archive" / (entry.path if entry else "")
        if entry is None or not path.is_file():
            found["lost_transcripts"] += 1
            continue
        data = path.read_bytes()
        lines = gzip.decompress(data).decode().splitlines()
        if hashlib.sha256(data).hexdigest() != entry.sha256 or entry.messages != len(export["messages"]):
            found["stale_transcripts"] += 1
        elif len(lines) < len(export["messages"]):
            found["lost_transcripts"] += 1
    failed = run_states(rest, SOAK_DAG)["failed"]
    found["failed_runs"] = failed
    return found


def growth(rows: list[dict[str, Any]], warmup_min: float) -> dict[str, Any]:
    """Last row minus the first row after the warm-up, for every numeric column."""
    after = [row for row in rows if row["min"] >= warmup_min] or rows[-1:]
    first, last = after[0], rows[-1]
    return {k: last[k] - first[k] for k in first if isinstance(first[k], (int, float)) and k != "min"}


def main() -> int:
    args = parse_args()
    root = Path(tempfile.mkdtemp(prefix="mix-soak-"))
    root.chmod(0o755)  # the postgres user must reach its cluster dir inside
    print(f"soak: {args.minutes} min, a row every {args.every} min; logs in {root / 'logs'}", flush=True)
    try:
        with services(root) as (cluster, mix, db):
            rows = soak(args, cluster, mix, db)
            found = check(cluster, mix, db, AirflowRest(cluster.base_url, cluster.username, cluster.password))
    finally:
        for path in root.iterdir():
            if path.name != "logs":
                shutil.rmtree(path, ignore_errors=True)
    print(f"growth after {args.warmup} min of warm-up: {json.dumps(growth(rows, args.warmup))}")
    print(f"checks: {json.dumps(found)}")
    bad = found["duplicate_messages"] or found["lost_transcripts"] or found["stale_transcripts"] or found["failed_runs"]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
