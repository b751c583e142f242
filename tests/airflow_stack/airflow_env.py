"""What every Airflow process a test starts has in common: its environment, the health poll, the warm-up.

docs/airflow-runtime.md ("A real Airflow on one machine") says why each setting is there.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
WARMUP_TIMEOUT_S = 600.0


def airflow_environment(
    home: Path,
    dags_folder: Path,
    *,
    api_port: int,
    username: str,
    password: str,
    db_url: str | None,
    executor: str = "LocalExecutor",
    parallelism: int = 2,
    worker_log_port: int | None = None,
    trigger_log_port: int | None = None,
) -> dict[str, str]:
    """The environment of one Airflow process: this venv first on PATH, no inherited Airflow settings.

    Writes ``home/passwords.json`` (SimpleAuthManager's password file) with ``username``'s password.
    Bytecode writing is allowed: without ``.pyc`` files every Airflow process compiles its imports again.

    :param db_url: SQLAlchemy URL of the metadata DB; ``None`` keeps Airflow's SQLite default.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "PYTHONDONTWRITEBYTECODE"}
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({username: password}))
    base_url = f"http://127.0.0.1:{api_port}"
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{username}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            # Required on a port other than 8080: workers derive the Execution API URL from it.
            "AIRFLOW__API__BASE_URL": base_url,
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
    # The log servers default to 0.0.0.0:8793/8794 and clash between instances.
    if worker_log_port is not None:
        env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(worker_log_port)
    if trigger_log_port is not None:
        env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(trigger_log_port)
    if db_url is not None:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = db_url
    return env


def health(base_url: str) -> dict[str, str]:
    """``component -> status`` from ``/api/v2/monitor/health`` (empty while the api-server is down)."""
    try:
        body = httpx.get(f"{base_url}/api/v2/monitor/health", timeout=2.0).json()
    except (httpx.HTTPError, ValueError):
        return {}
    return {name: str((body.get(name) or {}).get("status")) for name in HEALTH_COMPONENTS}


def wait_healthy(base_url: str, timeout: float, check_alive: Callable[[], None]) -> None:
    """Poll the health endpoint until every component is ``healthy``.

    :param check_alive: called on each poll; raises when a process the wait depends on has died.
    :raises RuntimeError: when not healthy within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    status: dict[str, str] = {}
    while time.monotonic() < deadline:
        check_alive()
        status = health(base_url)
        if status and all(value == "healthy" for value in status.values()):
            return
        time.sleep(0.5)
    raise RuntimeError(f"Airflow at {base_url} not healthy in {timeout:.0f} s ({status})")


def warm_execution_api(base_url: str, timeout: float = WARMUP_TIMEOUT_S) -> None:
    """Pay the Execution API's one-off set-up now rather than inside the first task.

    Cadwyn builds the versioned routers of ``/execution`` on its first request, inside the
    api-server's event loop, so every request waits meanwhile: the first task's "start" call took
    tens of seconds, up to minutes on a busy machine, stalling the DAG run being timed.
    """
    httpx.get(f"{base_url}/execution/health", timeout=timeout).raise_for_status()
