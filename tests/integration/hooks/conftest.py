"""Fixtures of the hook integration tests: real local Mix servers over loopback sockets.

``mix_server`` (from the root conftest) serves the happy paths through ``mix_default``. Fault tests
share one module-scoped ``fault_server`` (connection ``mix_faults``, faults cleared per test), so
they do not pay a server start each.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.fakes import conn_env

FAULTS_CONN = "mix_faults"
NO_LLM_CONN = "mix_no_llm"


def _server(
    data_dir: Path, conn_id: str, extra_args: tuple[str, ...] = (), generation: str = "current", **extra: Any
) -> Iterator[Any]:
    from mix_provider.devserver.testing import MixDevServer

    server_args: dict[str, Any] = {
        "reply_delay_ms": 20,
        "skip_permissions": True,
        "extra_args": extra_args,
        "generation": generation,
    }
    with MixDevServer(data_dir, **server_args) as server, pytest.MonkeyPatch.context() as mp:
        for key, value in conn_env(conn_id, host=server.base_url, extra=extra).items():
            mp.setenv(key, value)
        yield server


@pytest.fixture(scope="module")
def fault_server_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server for fault injection; ``mix_faults`` allows 3 retries of at most 0.2 s each."""
    yield from _server(tmp_path_factory.mktemp("mix-faults"), FAULTS_CONN, max_retries=3, retry_max_wait=0.2)


@pytest.fixture
def fault_server(fault_server_module: Any) -> Iterator[Any]:
    """The fault server with no faults and fresh request counts."""
    fault_server_module.clear_faults()
    fault_server_module.reset_request_counts()
    yield fault_server_module
    fault_server_module.clear_faults()


@pytest.fixture
def faults_conn(fault_server: Any) -> str:
    """The connection id of ``fault_server``."""
    return FAULTS_CONN


@pytest.fixture(scope="module")
def no_llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server without LLM credentials (messages answer 401); connection ``mix_no_llm``."""
    yield from _server(tmp_path_factory.mktemp("mix-no-llm"), NO_LLM_CONN, ("--no-llm-credentials",))


@pytest.fixture
def no_llm_conn(no_llm_server: Any) -> str:
    """The connection id of ``no_llm_server``."""
    return NO_LLM_CONN


@pytest.fixture
def closed_port_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    """A connection to a loopback port nothing listens on."""
    from mix_provider.devserver.testing import free_port

    conn_id = "mix_closed"
    for key, value in conn_env(conn_id, host=f"http://127.0.0.1:{free_port()}", extra={"timeout": 2}).items():
        monkeypatch.setenv(key, value)
    return conn_id
