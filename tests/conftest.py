"""Shared test harness: an isolated AIRFLOW_HOME with a migrated SQLite DB, the local Mix server,
and a helper that runs a DAG through ``dag.test()`` (see docs/airflow-runtime.md).

The environment is set at import time, before anything imports Airflow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.fakes import conn_env

REPO = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="mix-airflow-home-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(_HOME / "dags"),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__MIN_LENGTH_MASKED_SECRET": "5",
    }
)
(_HOME / "dags").mkdir()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Migrate the Airflow metadata DB of this test session once."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()
    return _HOME


@pytest.fixture(scope="session")
def mix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One local Mix server for the session, its tools running unasked; ``mix_default`` points at it.

    The tests that are about permissions start a server in its default (asking) mode of their own.
    """
    from mix_provider.devserver.testing import MixDevServer

    with MixDevServer(tmp_path_factory.mktemp("mix-data"), reply_delay_ms=30, skip_permissions=True) as server:
        os.environ.update(conn_env("mix_default", host=server.base_url, extra={"max_retries": 2, "retry_max_wait": 1}))
        yield server
        os.environ.pop("AIRFLOW_CONN_MIX_DEFAULT", None)


@pytest.fixture
def tie_order() -> str | None:
    """The ``--tie-order`` of :func:`fresh_mix_server`; None: the server's default. A test reading turns
    over both orders parametrizes it: ``@pytest.mark.parametrize("tie_order", ["insertion", "shuffled"])``."""
    return None


@pytest.fixture
def fresh_mix_server(tmp_path: Path, request: pytest.FixtureRequest, tie_order: str | None) -> Iterator[Any]:
    """A private local Mix server for tests that inject faults, restart or kill it.

    Its generation is ``current`` unless the test parametrizes it indirectly:
    ``@pytest.mark.parametrize("fresh_mix_server", ["current", "legacy"], indirect=True)``; its tie
    order is :func:`tie_order`'s.
    """
    from mix_provider.devserver.testing import MixDevServer

    previous = os.environ.get("AIRFLOW_CONN_MIX_DEFAULT")
    generation = getattr(request, "param", "current")
    ties = ("--tie-order", tie_order) if tie_order else ()
    with MixDevServer(
        tmp_path / "mix-data", reply_delay_ms=30, generation=generation, skip_permissions=True, extra_args=ties
    ) as server:
        os.environ.update(conn_env("mix_default", host=server.base_url, extra={"max_retries": 3, "retry_max_wait": 1}))
        yield server
    if previous is None:
        os.environ.pop("AIRFLOW_CONN_MIX_DEFAULT", None)
    else:
        os.environ["AIRFLOW_CONN_MIX_DEFAULT"] = previous


@pytest.fixture(scope="session")
def masked_logging() -> None:
    """Route task logs through Airflow's secrets masker, as a real worker does."""
    from airflow.sdk.log import configure_logging

    configure_logging(output=sys.__stdout__)


@pytest.fixture
def run_dag(airflow_db: Path) -> Callable[..., Any]:
    """Run a DAG object through ``dag.test()`` and return the DagRun (assert its ``state``).

    The DAG is registered in the dags-folder bundle first, so DAGs built inside tests run too.
    """
    from mix_provider.version_compat import dag_bag_class, sync_dag_bag_to_db

    def _run(dag: Any, **kwargs: Any) -> Any:
        bag = dag_bag_class()(collect_dags=False)
        bag.bag_dag(dag)
        sync_dag_bag_to_db(bag, "dags-folder")
        return dag.test(**kwargs)

    return _run


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove this session's AIRFLOW_HOME."""
    shutil.rmtree(_HOME, ignore_errors=True)
