"""A distributed Airflow 3 on this machine: one api-server, two schedulers (CeleryExecutor), one
dag-processor, two Celery workers and two triggerers, each a separate process tree on 127.0.0.1,
sharing one AIRFLOW_HOME, a PostgreSQL metadata DB and a Redis broker.

Every component writes its output to ``<logs>/<name>.log``; :meth:`DistributedAirflow.stop` ends
each process tree (SIGTERM, then SIGKILL) whatever state the test left it in.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg2

from airflow_stack.airflow_env import airflow_environment, wait_healthy, warm_execution_api
from airflow_stack.processes import ManagedProcess, stop_all
from airflow_stack.report import timed
from mix_provider.devserver.testing import free_port

START_TIMEOUT_S = 600.0
MIGRATE_TIMEOUT_S = 600.0
SCHEDULERS = ("scheduler-1", "scheduler-2")
WORKERS = ("worker-1", "worker-2")
TRIGGERERS = ("triggerer-1", "triggerer-2")
WORKER_CONCURRENCY = 2


class MetadataDB:
    """Read-only queries on the metadata DB (what REST does not show: trigger assignment, jobs).

    :param port: the PostgreSQL port; database and user ``airflow``, trust auth.
    """

    def __init__(self, port: int) -> None:
        self.port = port

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="airflow", dbname="airflow")
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                yield cursor
        finally:
            conn.close()

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """All rows of one query."""
        with self._cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def triggerer_job_ids(self) -> list[int]:
        """The ids of every triggerer job ever started, oldest first."""
        return [row[0] for row in self.rows("SELECT id FROM job WHERE job_type = 'TriggererJob' ORDER BY id")]

    def trigger_assignment(self, dag_id: str, run_id: str) -> dict[str, int | None]:
        """``task_id -> triggerer job id`` (``None`` while unassigned) of a run's deferred tasks."""
        rows = self.rows(
            "SELECT ti.task_id, t.triggerer_id FROM task_instance ti JOIN trigger t ON ti.trigger_id = t.id "
            "WHERE ti.dag_id = %s AND ti.run_id = %s",
            dag_id,
            run_id,
        )
        return {task_id: triggerer for task_id, triggerer in rows}


class DistributedAirflow:
    """The process trees of one distributed Airflow and what they share.

    :param root: the run's temp dir: ``airflow-home/`` and ``logs/`` go there.
    :param dags_folder: the DAGs folder every component parses.
    :param ports: ``api``, ``worker_log`` and ``trigger_log`` loopback ports.
    :param db_url: SQLAlchemy URL of the PostgreSQL metadata DB.
    :param broker_url: Celery's broker (``redis://127.0.0.1:<port>/0``).
    :param extra_env: more settings for every process (config overrides, connections).
    """

    def __init__(
        self,
        root: Path,
        dags_folder: Path,
        *,
        ports: dict[str, int],
        db_url: str,
        broker_url: str,
        username: str,
        password: str,
        extra_env: dict[str, str],
    ) -> None:
        self.home = root / "airflow-home"
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.dags_folder = dags_folder
        self.base_url = f"http://127.0.0.1:{ports['api']}"
        self.username = username
        self.password = password
        self.env = airflow_environment(
            self.home,
            dags_folder,
            api_port=ports["api"],
            username=username,
            password=password,
            db_url=db_url,
            executor="CeleryExecutor",
            parallelism=8,
            worker_log_port=ports["worker_log"],
            trigger_log_port=ports["trigger_log"],
        )
        self.env.update(
            {
                "AIRFLOW__CELERY__BROKER_URL": broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + db_url,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
                **extra_env,
            }
        )
        self.processes: dict[str, ManagedProcess] = {}
        #: triggerer name -> its job id in the metadata DB (they are started one after the other to tell).
        self.triggerer_jobs: dict[str, int] = {}
        self.killed: set[str] = set()
        #: Logs of the services beside Airflow (Mix server, PostgreSQL, Redis), tailed by :meth:`log_tails`.
        self.extra_logs: list[Path] = []

    @classmethod
    def for_services(
        cls,
        root: Path,
        dags_folder: Path,
        *,
        db_url: str,
        broker_url: str,
        mix_url: str,
        username: str,
        extra_env: dict[str, str],
    ) -> DistributedAirflow:
        """A cluster on free ports whose processes all have the ``mix_default`` connection to ``mix_url``.

        The connection comes from the environment of every process: no DB lookup, and the triggerers
        resolve it without their in-process Execution API.
        """
        connection = {
            "conn_type": "mix",
            "host": mix_url,
            "extra": {"timeout": 30, "max_retries": 2, "retry_max_wait": 1},
        }
        return cls(
            root,
            dags_folder,
            ports={"api": free_port(), "worker_log": free_port(), "trigger_log": free_port()},
            db_url=db_url,
            broker_url=broker_url,
            username=username,
            password=secrets.token_urlsafe(12),
            extra_env={**extra_env, "AIRFLOW_CONN_MIX_DEFAULT": json.dumps(connection)},
        )

    def up(self, db: MetadataDB) -> None:
        """Migrate the metadata DB, start every component and warm the Execution API up, each step timed."""
        with timed("db_migrate"):
            self.migrate()
        with timed("components_start_to_healthy"):
            self.start(db)
        with timed("execution_api_warmup"):
            self.warm_execution_api()

    def _process(self, name: str, *argv: str) -> ManagedProcess:
        process = ManagedProcess(name, ["airflow", *argv], self.env, self.logs / f"{name}.log")
        self.processes[name] = process
        return process

    def migrate(self) -> None:
        """``airflow db migrate`` (its output in ``logs/migrate.log``).

        :raises RuntimeError: when it fails.
        """
        log_path = self.logs / "migrate.log"
        with log_path.open("ab") as log:
            result = subprocess.run(
                ["airflow", "db", "migrate"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=MIGRATE_TIMEOUT_S,
                check=False,
            )
        if result.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed ({result.returncode}):\n{log_path.read_text()[-4000:]}")

    def start(self, db: MetadataDB) -> None:
        """Start every component; return once all are up (health endpoint, Celery ``ready``, triggerer jobs).

        The triggerers start one after the other, so that each one's job id is known.
        """
        self._process("api-server", "api-server", "--host", "127.0.0.1", "--port", self.base_url.rsplit(":", 1)[1])
        for name in SCHEDULERS:
            self._process(name, "scheduler", "--skip-serve-logs")
        self._process("dag-processor", "dag-processor")
        for name in WORKERS:
            self._process(
                name, "celery", "worker", "--concurrency", str(WORKER_CONCURRENCY),
                "--celery-hostname", f"{name}@%h", "--skip-serve-logs", "--without-mingle", "--without-gossip",
            )  # fmt: skip
        for process in self.processes.values():
            process.start()
        for name in TRIGGERERS:
            known = set(db.triggerer_job_ids())
            self._process(name, "triggerer", "--skip-serve-logs").start()
            self.triggerer_jobs[name] = self._wait_new_triggerer_job(db, known)
        wait_healthy(self.base_url, START_TIMEOUT_S, self.check_alive)
        self._wait_workers_ready()

    def _wait_new_triggerer_job(self, db: MetadataDB, known: set[int]) -> int:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(psycopg2.Error):
                new = [job for job in db.triggerer_job_ids() if job not in known]
                if new:
                    return new[-1]
            time.sleep(0.5)
        raise RuntimeError("the triggerer did not register its job in time")

    def _wait_workers_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            self.check_alive()
            if all(self.processes[name].log_contains(b" ready.") for name in WORKERS):
                return
            time.sleep(0.5)
        raise RuntimeError("the Celery workers did not log 'ready.' in time")

    def warm_execution_api(self) -> None:
        """:func:`airflow_stack.airflow_env.warm_execution_api` on the api-server."""
        warm_execution_api(self.base_url, START_TIMEOUT_S)

    def check_alive(self) -> None:
        """Raise when a component has died that the test did not kill."""
        dead = [
            f"{name} (exit {process.returncode()})"
            for name, process in self.processes.items()
            if name not in self.killed and not process.running()
        ]
        if dead:
            raise RuntimeError(f"Airflow components exited: {', '.join(dead)}")

    def kill(self, name: str) -> float:
        """SIGKILL every process group of one component (a crash); return when (monotonic)."""
        self.killed.add(name)
        return self.processes[name].kill()

    def restart(self, name: str, **env: str) -> None:
        """Start a component again (the same command), with ``env`` on top of the cluster's settings."""
        process = self.processes[name]
        process.stop()
        process.env = {**self.env, **env}
        process.start()
        self.killed.discard(name)

    def revive(self) -> list[str]:
        """Start again every component that exited on its own (as a process supervisor would); their names."""
        dead = [name for name, process in self.processes.items() if name not in self.killed and not process.running()]
        for name in dead:
            self.restart(name)
        return dead

    def worker_running(self, pid: int) -> str | None:
        """The Celery worker whose process tree holds ``pid``."""
        for name in WORKERS:
            if name not in self.killed and self.processes[name].contains(pid):
                return name
        return None

    def stop(self) -> None:
        """Stop every component: SIGTERM, then SIGKILL, each process tree; idempotent."""
        stop_all(list(self.processes.values()))

    def listening(self, others: dict[str, int]) -> dict[str, list[str]]:
        """``component -> ["ip:port", ...]`` of every listening TCP socket of the process trees.

        :param others: more trees to look at, by name and leader pid (PostgreSQL, Redis, the Mix server).
        """
        owners: dict[int, str] = {}
        for name, process in self.processes.items():
            for proc in process.tree():
                owners[proc.pid] = name
        for name, pid in others.items():
            with contextlib.suppress(psutil.Error):
                leader = psutil.Process(pid)
                for proc in [leader, *leader.children(recursive=True)]:
                    owners[proc.pid] = name
        found: dict[str, list[str]] = {}
        for conn in psutil.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.pid in owners:
                found.setdefault(owners[conn.pid], []).append(f"{conn.laddr.ip}:{conn.laddr.port}")
        return {name: sorted(set(addresses)) for name, addresses in sorted(found.items())}

    def log_tails(self, lines: int = 30) -> str:
        """The last ``lines`` lines of each component's output."""
        parts = []
        for path in [*sorted(self.logs.glob("*.log")), *self.extra_logs]:
            with contextlib.suppress(OSError):
                tail = path.read_bytes()[-20000:].decode(errors="replace").splitlines()[-lines:]
                parts.append(f"===== {path.name} (last {len(tail)} lines) =====\n" + "\n".join(tail))
        return "\n".join(parts)
