"""Fixtures of the browser end-to-end test: a real ``airflow standalone`` (PostgreSQL or SQLite),
the local Mix server beside it, Airflow's REST API and headless Chromium through Playwright.

Everything is session-scoped and torn down by finalizers whatever happens. Screenshots, the
standalone log and ``timings.json`` go to ``.artifacts/e2e/`` (git-ignored). Set
``MIX_E2E_DB=sqlite`` or ``MIX_E2E_DB=postgres`` to force a metadata DB (default: PostgreSQL when
its server binaries and drivers are installed, else SQLite).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_airflow import AirflowStandalone
from e2e_ui import UI_TIMEOUT_MS, chromium_path, launch_chromium

from airflow_stack.postgres import PostgresCluster, unavailable_reason
from airflow_stack.report import SUMMARY, timed
from mix_provider.devserver.testing import MixDevServer, free_port
from support.airflow_suite import copy_dags, rest, teardown_on_sigterm

__all__ = ["rest", "teardown_on_sigterm"]  # the shared fixtures, registered by this import

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".artifacts" / "e2e"
#: The example DAGs, plus the suite's own (``tests/e2e/dags``: DAGs whose runs wait for a person).
DAG_SOURCES = (REPO / "dags_examples", Path(__file__).parent / "dags")
USERNAME = "mix_e2e"
# The scripted agent's reply time: a REST poll sees the turns in ``deferred``. A trigger whose event comes
# at once no longer loses Airflow's defer race (test_defer_race.py).
REPLY_DELAY_MS = 8000
#: How long the local server's permission requests wait: a person answers them in the browser, after the
#: task resumed on a worker and wrote its required action (the real server's 30 s is too short for that here).
PERMISSION_TIMEOUT_S = 600
#: The scheduler's executor: LocalExecutor, but it learns late that a deferring process of the defer-race
#: DAG exited (late_exit_executor.py), so that Airflow's defer race happens on every run of that DAG.
EXECUTOR = "late_exit_executor.LateDeferExitExecutor"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test of this folder ``e2e``."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print which DB ran and the timings; keep them in ``.artifacts/e2e/timings.json``."""
    if not SUMMARY["timings_s"]:
        return
    terminalreporter.write_sep("-", "e2e summary")
    terminalreporter.write_line(json.dumps(SUMMARY, indent=1))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "timings.json").write_text(json.dumps(SUMMARY, indent=1))


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The screenshots folder, emptied of the previous run's PNGs."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    return ARTIFACTS


@pytest.fixture(scope="session")
def metadata_db(request: pytest.FixtureRequest) -> str | None:
    """A PostgreSQL URL from a throwaway cluster, or ``None`` for standalone's SQLite."""
    wanted = os.environ.get("MIX_E2E_DB", "auto")
    reason = unavailable_reason()
    if wanted == "sqlite" or (wanted == "auto" and reason):
        SUMMARY["metadata_db"] = f"sqlite ({reason or 'MIX_E2E_DB=sqlite'})"
        return None
    if reason:
        pytest.fail(f"MIX_E2E_DB=postgres but {reason}")
    cluster = PostgresCluster(free_port())
    request.addfinalizer(cluster.stop)
    with timed("postgres_start"):
        url = cluster.start()
    SUMMARY["metadata_db"] = f"postgresql (own cluster on 127.0.0.1:{cluster.port})"
    return url


@pytest.fixture(scope="session")
def e2e_mix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MixDevServer]:
    """The local Mix server the Airflow connection points at."""
    data = tmp_path_factory.mktemp("e2e-mix-data")
    flags = ["--permission-timeout-seconds", str(PERMISSION_TIMEOUT_S)]
    with MixDevServer(data, reply_delay_ms=REPLY_DELAY_MS, extra_args=flags) as server:
        yield server


@pytest.fixture(scope="session")
def airflow(metadata_db: str | None, artifacts: Path) -> Iterator[AirflowStandalone]:
    """``airflow standalone`` with this provider, ``dags_examples/`` and a fixed admin password."""
    home = Path(tempfile.mkdtemp(prefix="mix-e2e-airflow-"))
    dags = copy_dags((path for source in DAG_SOURCES for path in source.glob("*.py")), home / "dags")
    ports = (free_port(), free_port(), free_port())
    python_path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    instance = AirflowStandalone(
        home,
        dags,
        ports,
        db_url=metadata_db,
        username=USERNAME,
        password=secrets.token_urlsafe(12),
        executor=EXECUTOR,
        extra_env={"PYTHONPATH": python_path},
    )
    try:
        with timed("airflow_start_to_healthy"):
            instance.start()
        with timed("execution_api_warmup"):
            instance.warm_execution_api()
        yield instance
    finally:
        with timed("airflow_stop"):
            instance.stop()
        with contextlib.suppress(OSError):
            shutil.copyfile(instance.log_path, artifacts / "airflow-standalone.log")
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def deployment(airflow: AirflowStandalone) -> AirflowStandalone:
    """The Airflow the shared ``rest`` fixture logs into (:mod:`support.airflow_suite`)."""
    return airflow


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless system Chromium (``scripts/e2e_setup.sh`` installs it)."""
    if chromium_path() is None:
        message = "chromium is not installed: run scripts/e2e_setup.sh"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = launch_chromium(playwright)
        yield instance
        instance.close()


@pytest.fixture(scope="session")
def page(browser: Any) -> Iterator[Any]:
    """One browser tab for the whole session (the login cookie carries over between tests)."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()
