"""A real Airflow 3 (``airflow standalone``) on loopback, in its own AIRFLOW_HOME and process group.

``airflow standalone`` runs the api-server, the scheduler (LocalExecutor), the dag-processor and the
triggerer; it only shuts its children down on SIGINT, so :meth:`AirflowStandalone.stop` signals the
whole process group: SIGINT, then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
START_TIMEOUT_S = 600.0
STOP_GRACE_S = 15.0


class AirflowStandalone:
    """One ``airflow standalone`` process tree.

    :param home: the AIRFLOW_HOME (created; holds ``airflow.cfg``, logs and ``standalone.log``).
    :param dags_folder: the DAGs folder to parse.
    :param ports: ``(api, worker log server, trigger log server)`` loopback ports.
    :param db_url: SQLAlchemy URL of the metadata DB; ``None`` keeps standalone's SQLite.
    :param username: the user to create (role admin) with ``password``.
    """

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        ports: tuple[int, int, int],
        *,
        db_url: str | None,
        username: str,
        password: str,
    ) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.api_port, self.worker_log_port, self.trigger_log_port = ports
        self.db_url = db_url
        self.username = username
        self.password = password
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.log_path = home / "standalone.log"
        self._process: subprocess.Popen[bytes] | None = None

    def environment(self) -> dict[str, str]:
        """The child environment: this venv first on PATH, no inherited Airflow settings or connections.

        Bytecode writing is allowed: without ``.pyc`` files every Airflow process compiles its imports again.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "PYTHONDONTWRITEBYTECODE"}
        passwords = self.home / "passwords.json"
        passwords.write_text(json.dumps({self.username: self.password}))
        env.update(
            {
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__PARALLELISM": "2",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.username}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.base_url,
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.worker_log_port),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.trigger_log_port),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                # Each file is parsed once when found: re-parsing every 30 s (the default) costs seconds of
                # CPU per file, taken from the tasks and the Execution API set-up.
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
                # The workers' calls to the Execution API time out after 5 s by default; a busy 2-core
                # machine answers slower, and a timed-out "start task" call fails the task outright.
                "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "60",
                # Only the runs the test triggers: no scheduled run of the @daily example competes with them.
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            }
        )
        if self.db_url is not None:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = self.db_url
        return env

    def start(self) -> None:
        """Launch ``airflow standalone`` and wait until every component reports healthy.

        :raises RuntimeError: when it is not healthy within START_TIMEOUT_S (with the log tail); it is stopped first.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        env = self.environment()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                ["airflow", "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def warm_execution_api(self) -> None:
        """Pay the Execution API's one-off set-up now rather than inside the first task.

        Cadwyn builds the versioned routers of ``/execution`` on its first request, inside the
        api-server's event loop, so every request waits meanwhile: the first task's "start" call took
        tens of seconds, up to minutes on a busy machine, stalling the DAG run being timed.
        """
        httpx.get(f"{self.base_url}/execution/health", timeout=START_TIMEOUT_S).raise_for_status()

    def health(self) -> dict[str, str]:
        """``component -> status`` from ``/api/v2/monitor/health`` (empty while the api-server is down)."""
        try:
            body = httpx.get(f"{self.base_url}/api/v2/monitor/health", timeout=2.0).json()
        except (httpx.HTTPError, ValueError):
            return {}
        return {name: str((body.get(name) or {}).get("status")) for name in HEALTH_COMPONENTS}

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self._process is not None
        status: dict[str, str] = {}
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"airflow standalone exited ({self._process.returncode}):\n{self.log_tail()}")
            status = self.health()
            if status and all(value == "healthy" for value in status.values()):
                return
            time.sleep(0.5)
        raise RuntimeError(f"airflow standalone not healthy in {START_TIMEOUT_S:.0f} s ({status}):\n{self.log_tail()}")

    def log_tail(self, size: int = 6000) -> str:
        """The end of the combined standalone output."""
        with contextlib.suppress(OSError):
            return self.log_path.read_bytes()[-size:].decode(errors="replace")
        return ""

    def stop(self) -> None:
        """Stop the whole process group: SIGINT, SIGTERM, then SIGKILL; idempotent."""
        if self._process is None:
            return
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, sig)
            if self._wait_group_gone(STOP_GRACE_S):
                break
        self._process = None

    def _wait_group_gone(self, timeout: float) -> bool:
        """Reap the leader and wait until no process of its group is left."""
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._process.poll()
            try:
                os.killpg(self._process.pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.2)
        return False
