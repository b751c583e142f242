"""Fixtures of the archive integration tests: registered DAG bundles, a plain-HTTP view of the
server, sessions with conversations, an archive directory, and cleared faults."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.operators.support import MixAPI


@pytest.fixture(scope="session")
def archive_bundles(airflow_db: Any) -> None:
    """Register the configured DAG bundles: ``sync_bag_to_db`` needs the ``dags-folder`` row (FK)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()


@pytest.fixture
def run_dag(run_dag: Callable[..., Any], archive_bundles: None) -> Callable[..., Any]:
    """The harness's ``run_dag``, once the bundles are registered."""
    return run_dag


@pytest.fixture(scope="session")
def api(mix_server: Any) -> Iterator[MixAPI]:
    """Plain HTTP to the shared server (never the provider's client)."""
    client = MixAPI(mix_server.base_url)
    yield client
    client.close()


@pytest.fixture
def uid() -> str:
    """A token unique to the test, for titles and DAG ids."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def faults(mix_server: Any) -> Iterator[Any]:
    """The shared server, with every fault cleared after the test."""
    yield mix_server
    mix_server.clear_faults()


@pytest.fixture
def archive_dir(tmp_path: Path) -> Path:
    """An archive directory that does not exist yet (the operators create it)."""
    return tmp_path / "archive"


@pytest.fixture
def conversations(api: MixAPI, uid: str) -> Callable[[int], list[str]]:
    """Create ``n`` sessions, each with a two-turn conversation (unicode, a tool call); return their ids."""

    def _make(n: int) -> list[str]:
        ids = []
        for i in range(n):
            session_id = api.create_session(f"archive {uid} #{i} — naïve 日本")["id"]
            api.converse(session_id, f"hello {i} 🚀", "use a tool [[tool]]")
            ids.append(session_id)
        return ids

    return _make
