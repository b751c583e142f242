"""What the suites that run a whole Airflow share (tests/e2e, tests/distributed): teardown on SIGTERM,
the REST client fixture and copying DAG files.

Each suite's conftest imports the fixtures (``from support.airflow_suite import rest,
teardown_on_sigterm``), which registers them for its folder only, and provides ``deployment``: the
running Airflow (``base_url``, ``username``, ``password``) the REST client logs into.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_stack.rest import AirflowRest


def _interrupt(signum: int, frame: Any) -> None:
    """Turn SIGTERM into the KeyboardInterrupt pytest tears fixtures down on."""
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session", autouse=True)
def teardown_on_sigterm() -> Iterator[None]:
    """A SIGTERM to pytest (a CI timeout, ``kill``) still stops Airflow, its databases and the Mix server."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="session")
def rest(deployment: Any) -> Iterator[AirflowRest]:
    """Airflow's REST API as the suite's user."""
    client = AirflowRest(deployment.base_url, deployment.username, deployment.password)
    yield client
    client.close()


def copy_dags(files: Iterable[Path], folder: Path) -> Path:
    """Copy the DAG ``files`` into ``folder`` (made if missing); the folder."""
    folder.mkdir(exist_ok=True)
    for path in files:
        shutil.copyfile(path, folder / path.name)
    return folder
