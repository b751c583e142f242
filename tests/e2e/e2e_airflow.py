"""A real Airflow 3 (``airflow standalone``) on loopback, in its own AIRFLOW_HOME and process group.

``airflow standalone`` runs the api-server, the scheduler (LocalExecutor), the dag-processor and the
triggerer; it only shuts its children down on SIGINT, so :meth:`AirflowStandalone.stop` signals the
whole process tree: SIGINT, then SIGTERM, then SIGKILL.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from airflow_stack.airflow_env import airflow_environment, health, wait_healthy, warm_execution_api
from airflow_stack.processes import ManagedProcess

START_TIMEOUT_S = 600.0
STOP_GRACE_S = 15.0


class AirflowStandalone:
    """One ``airflow standalone`` process tree.

    :param home: the AIRFLOW_HOME (created; holds ``airflow.cfg``, logs and ``standalone.log``).
    :param dags_folder: the DAGs folder to parse.
    :param ports: ``(api, worker log server, trigger log server)`` loopback ports.
    :param db_url: SQLAlchemy URL of the metadata DB; ``None`` keeps standalone's SQLite.
    :param username: the user to create (role admin) with ``password``.
    :param executor: ``[core] executor``: a local one (standalone forces LocalExecutor otherwise).
    :param extra_env: more environment for every component (e.g. ``PYTHONPATH`` for the executor's module).
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
        executor: str = "LocalExecutor",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.home = home
        self.dags_folder = dags_folder
        self.api_port, self.worker_log_port, self.trigger_log_port = ports
        self.db_url = db_url
        self.username = username
        self.password = password
        self.executor = executor
        self.extra_env = extra_env or {}
        self.base_url = f"http://127.0.0.1:{self.api_port}"
        self.log_path = home / "standalone.log"
        self._process: ManagedProcess | None = None

    def environment(self) -> dict[str, str]:
        """The child environment (:func:`airflow_stack.airflow_env.airflow_environment`) and ``extra_env``."""
        env = airflow_environment(
            self.home,
            self.dags_folder,
            api_port=self.api_port,
            username=self.username,
            password=self.password,
            db_url=self.db_url,
            worker_log_port=self.worker_log_port,
            trigger_log_port=self.trigger_log_port,
            executor=self.executor,
        )
        return {**env, **self.extra_env}

    def start(self) -> None:
        """Launch ``airflow standalone`` and wait until every component reports healthy.

        :raises RuntimeError: when it is not healthy within START_TIMEOUT_S (with the log tail); it is stopped first.
        """
        self.home.mkdir(parents=True, exist_ok=True)
        self._process = ManagedProcess("standalone", ["airflow", "standalone"], self.environment(), self.log_path)
        self._process.start()
        try:
            wait_healthy(self.base_url, START_TIMEOUT_S, self._check_alive)
        except RuntimeError as exc:
            self.stop()
            raise RuntimeError(f"{exc}:\n{self.log_tail()}") from None
        except BaseException:
            self.stop()
            raise

    def _check_alive(self) -> None:
        assert self._process is not None
        if not self._process.running():
            raise RuntimeError(f"airflow standalone exited ({self._process.returncode()})")

    def warm_execution_api(self) -> None:
        """Pay the Execution API's one-off set-up now (:func:`airflow_stack.airflow_env.warm_execution_api`)."""
        warm_execution_api(self.base_url, START_TIMEOUT_S)

    def health(self) -> dict[str, str]:
        """``component -> status`` from ``/api/v2/monitor/health`` (empty while the api-server is down)."""
        return health(self.base_url)

    def log_tail(self, size: int = 6000) -> str:
        """The end of the combined standalone output."""
        return self._process.log_tail(size) if self._process is not None else ""

    def wait_exit_read(self, task_id: str, run_id: str, state: str, timeout: float) -> None:
        """Wait until the scheduler has read that a process of the task exited leaving it in ``state``
        (its ``TaskInstance Finished`` line).

        A person answering a required action sooner loses one of Airflow's races on its own resume path:
        the answer queues the task again before that exit is read, and the scheduler then fails the task
        as "state changed externally"; the provider has no event of its own there to hold.

        :raises RuntimeError: after ``timeout`` seconds.
        """
        wanted = (f"task_id={task_id}, run_id={run_id},", f"state={state},")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_text(errors="replace").splitlines():
                if "TaskInstance Finished:" in line and all(part in line for part in wanted):
                    return
            time.sleep(0.5)
        raise RuntimeError(f"the scheduler did not read the exit of {task_id} ({state}) within {timeout:.0f} s")

    def stop(self) -> None:
        """Stop the whole process tree: SIGINT, SIGTERM, then SIGKILL; idempotent."""
        if self._process is None:
            return
        self._process.stop((signal.SIGINT, signal.SIGTERM, signal.SIGKILL), STOP_GRACE_S)
