"""Fixtures of the distributed-Airflow suite: PostgreSQL, Redis, the local Mix server and a
:class:`DistributedAirflow` (api-server, two schedulers with CeleryExecutor, dag-processor, two Celery
workers, two triggerers), all on 127.0.0.1 free ports and session-scoped.

Run it with ``make e2e-distributed``. It is collected only when asked for by path
(``pytest tests/distributed``) or with ``MIX_DISTRIBUTED=1``; ``make test`` leaves it out.
Every process's output is kept in ``<run dir>/logs/`` (a temp dir, printed in the summary); when a
test fails, the tail of each log is added to its report.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dist_cluster import DistributedAirflow, MetadataDB

from airflow_stack.postgres import PostgresCluster, unavailable_reason
from airflow_stack.redis import RedisServer, redis_server_path
from airflow_stack.report import SUMMARY, timed
from mix_provider.devserver.testing import MixDevServer, free_port
from support.airflow_suite import copy_dags, rest, teardown_on_sigterm

__all__ = ["rest", "teardown_on_sigterm"]  # the shared fixtures, registered by this import

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ARTIFACTS = REPO / ".artifacts" / "distributed"
#: The DAG files the cluster parses: the two examples under test and the drills.
DAG_FILES = (
    REPO / "dags_examples" / "mix_session_lifecycle.py",
    REPO / "dags_examples" / "mix_archive_transcripts.py",
    HERE / "dags" / "mix_drills.py",
)
USERNAME = "mix_distributed"
# The scripted agent's default reply time (the examples' turns): long enough that a trigger still
# waits when the triggerer picks it up (apache/airflow#72716; see tests/e2e/conftest.py).
REPLY_DELAY_MS = 8000
#: The settings the drills depend on: failure detection in seconds rather than minutes.
DRILL_SETTINGS = {
    # A triggerer whose heartbeat is older than this is dead: the others take its triggers over.
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
    # A running task whose supervisor has not heartbeaten for this long is failed (then retried).
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
}


def _requested(config: pytest.Config) -> bool:
    """Whether this run asked for the suite: by a path inside it, or with MIX_DISTRIBUTED=1."""
    if os.environ.get("MIX_DISTRIBUTED") == "1":
        return True
    for arg in config.args:
        path = Path(str(arg).split("::", 1)[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``distributed``; skip them unless the run asked for them."""
    requested = _requested(config)
    skip = pytest.mark.skip(reason="the distributed suite runs with `make e2e-distributed` (or MIX_DISTRIBUTED=1)")
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.distributed)
            if not requested:
                item.add_marker(skip)


_STATE: dict[str, Any] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """On a failure, add the tail of every process log to the report."""
    report = yield
    cluster: DistributedAirflow | None = _STATE.get("cluster")
    if report.failed and cluster is not None:
        report.sections.append(("process logs (tails)", cluster.log_tails()))
    return report


def pytest_sessionstart(session: pytest.Session) -> None:
    """Note when the run began (for the total in the summary)."""
    _STATE["started"] = time.monotonic()


def short_summary(summary: dict[str, Any]) -> list[str]:
    """The per-phase timings and the drills' outcomes, one line each."""
    lines = [f"{'phase':<40} {'s':>7}"]
    lines += [f"{name:<40} {seconds:>7.1f}" for name, seconds in summary["timings_s"].items()]
    if "total_s" in summary:
        lines.append(f"{'total (pytest session)':<40} {summary['total_s']:>7.1f}")
    if "drill_triggerer" in summary:
        a = summary["drill_triggerer"]
        lines.append(
            f"drill (a): killed {a['killed']} holding {a['triggers_held_by_killed']} of 3 triggers; the other "
            f"triggerer held them {a['triggers_on_survivor_after_s']} s later; all turns done "
            f"{a['all_turns_done_after_kill_s']} s after the kill"
        )
    if "drill_worker" in summary:
        b = summary["drill_worker"]
        lines.append(
            f"drill (b): killed {b['killed']}; try 1 left running after {b['try_1_left_running_after_s']} s "
            f"({b['try_1_seen_as']}); try 2 running after {b['try_2_running_after_s']} s; turn done "
            f"{b['turn_done_after_kill_s']} s after the kill; tries {[tuple(t[:2]) for t in b['tries']]}"
        )
    for key in ("drill_redelivery", "drill_scheduler", "drill_postgres", "drill_redis", "drill_mix_restart"):
        if key in summary:
            lines.append(f"{key}: {json.dumps(summary[key])}")
    lines.append(f"logs: {summary.get('logs')}")
    lines.append(f"full summary: {ARTIFACTS / 'summary.json'}")
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the short summary; keep the whole one in ``.artifacts/distributed/summary.json``."""
    if "cluster" not in _STATE:  # the suite did not run (SUMMARY may hold another suite's timings)
        return
    if "started" in _STATE:
        SUMMARY["total_s"] = round(time.monotonic() - _STATE["started"], 1)
    terminalreporter.write_sep("-", "distributed summary")
    for line in short_summary(SUMMARY):
        terminalreporter.write_line(line)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "summary.json").write_text(json.dumps(SUMMARY, indent=1))


@pytest.fixture(scope="session")
def run_dir() -> Iterator[Path]:
    """The run's temp dir: airflow-home/, dags/, postgres/, redis/, mix-data/ and logs/.

    At the end (after every process has stopped) only ``logs/`` is kept, with the Mix server's,
    PostgreSQL's and Redis's logs moved in beside the Airflow components'.
    """
    root = Path(tempfile.mkdtemp(prefix="mix-distributed-"))
    root.chmod(0o755)  # the postgres user must reach its cluster dir inside
    logs = root / "logs"
    logs.mkdir()
    SUMMARY["logs"] = str(logs)
    yield root
    for service, name in (("mix-data", "devserver.log"), ("postgres", "postgres.log"), ("redis", "redis.log")):
        with contextlib.suppress(OSError):
            shutil.move(root / service / name, logs / (name if service != "mix-data" else "mix-devserver.log"))
    for path in root.iterdir():
        if path != logs:
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres(run_dir: Path, request: pytest.FixtureRequest) -> PostgresCluster:
    """Its own PostgreSQL cluster (metadata DB and Celery result backend)."""
    reason = unavailable_reason()
    if reason:
        pytest.fail(f"{reason}: run scripts/distributed_setup.sh")
    cluster = PostgresCluster(free_port(), root=run_dir / "postgres")
    request.addfinalizer(cluster.stop)
    with timed("postgres_start"):
        cluster.start()
    return cluster


@pytest.fixture(scope="session")
def redis(run_dir: Path, request: pytest.FixtureRequest) -> RedisServer:
    """Its own Redis server (Celery's broker)."""
    if redis_server_path() is None:
        pytest.fail("redis-server is not installed: run scripts/distributed_setup.sh")
    server = RedisServer(free_port(), run_dir / "redis")
    request.addfinalizer(server.stop)
    with timed("redis_start"):
        server.start()
    return server


@pytest.fixture(scope="session")
def mix_server(run_dir: Path) -> Iterator[MixDevServer]:
    """The local Mix server every worker and triggerer talks to."""
    with MixDevServer(run_dir / "mix-data", reply_delay_ms=REPLY_DELAY_MS) as server:
        yield server


@pytest.fixture(scope="session")
def dags_folder(run_dir: Path) -> Path:
    """A DAGs folder holding only the files under test."""
    return copy_dags(DAG_FILES, run_dir / "dags")


@pytest.fixture(scope="session")
def metadata_db(postgres: PostgresCluster) -> MetadataDB:
    """Direct read access to the metadata DB."""
    return MetadataDB(postgres.port)


@pytest.fixture(scope="session")
def session_ledger(run_dir: Path) -> Path:
    """Where every worker records the sessions it creates (``[mix] session_ledger``): a directory of
    this machine standing for the object storage a real deployment's workers share."""
    ledger = run_dir / "session-ledger"
    ledger.mkdir()
    ledger.chmod(0o777)
    return ledger


@pytest.fixture(scope="session")
def cluster(
    run_dir: Path,
    session_ledger: Path,
    dags_folder: Path,
    postgres: PostgresCluster,
    redis: RedisServer,
    mix_server: MixDevServer,
    metadata_db: MetadataDB,
) -> Iterator[DistributedAirflow]:
    """The distributed Airflow, migrated, started, healthy and with its Execution API warmed up."""
    instance = DistributedAirflow.for_services(
        run_dir,
        dags_folder,
        db_url=postgres.url,
        broker_url=redis.url,
        mix_url=mix_server.base_url,
        username=USERNAME,
        extra_env={**DRILL_SETTINGS, "AIRFLOW__MIX__SESSION_LEDGER": f"file://{session_ledger}"},
    )
    SUMMARY["settings"] = {
        key: value
        for key, value in instance.env.items()
        if key.startswith(("AIRFLOW__CELERY", "AIRFLOW__TRIGGERER", "AIRFLOW__SCHEDULER", "AIRFLOW__CORE__EXECUTOR"))
    }
    instance.extra_logs = [mix_server.log_path, postgres.log_path, redis.process.log_path]
    _STATE["cluster"] = instance
    try:
        instance.up(metadata_db)
        SUMMARY["triggerer_jobs"] = dict(instance.triggerer_jobs)
        yield instance
    finally:
        with timed("components_stop"):
            instance.stop()
        with contextlib.suppress(OSError):  # task and trigger logs, for a look after a failure
            shutil.move(instance.home / "logs", instance.logs / "airflow-task-logs")
        shutil.rmtree(instance.home, ignore_errors=True)


@pytest.fixture(scope="session")
def deployment(cluster: DistributedAirflow) -> DistributedAirflow:
    """The Airflow the shared ``rest`` fixture logs into (:mod:`support.airflow_suite`)."""
    return cluster
