"""Fixtures running the local Mix server in a subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mix_provider.devserver.testing import MixDevServer

INSERTION = ("--tie-order", "insertion")
"""These tests check the server's handlers, and many read stored positions of messages of one
second; they pin ``insertion`` (what SQLite gives in practice). The tie-order conformance tests
set the order themselves; clients' tie handling is tested against the default ``shuffled``."""


@pytest.fixture(scope="session")
def mix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MixDevServer]:
    """A devserver shared by the whole test session (do not restart or reset it); tools run unasked."""
    with MixDevServer(tmp_path_factory.mktemp("mix-devserver"), skip_permissions=True, extra_args=INSERTION) as server:
        yield server


@pytest.fixture
def fresh_mix_server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[MixDevServer]:
    """A devserver of one's own, free to fault, restart, kill or reset; ``current`` unless
    parametrized indirectly with a generation."""
    with MixDevServer(
        tmp_path / "mix-devserver",
        generation=getattr(request, "param", "current"),
        skip_permissions=True,
        extra_args=INSERTION,
    ) as server:
        yield server


@pytest.fixture(scope="session")
def http(mix_server: MixDevServer) -> Iterator[httpx.Client]:
    """An HTTP client bound to the shared devserver."""
    with httpx.Client(base_url=mix_server.base_url, timeout=30, verify=False) as client:
        yield client


@pytest.fixture(scope="session")
def legacy_mix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MixDevServer]:
    """A shared devserver of the ``legacy`` generation (full listing, summed tokens, per-message usage)."""
    with MixDevServer(tmp_path_factory.mktemp("legacy-devserver"), generation="legacy", extra_args=INSERTION) as server:
        yield server


@pytest.fixture(scope="session")
def legacy_http(legacy_mix_server: MixDevServer) -> Iterator[httpx.Client]:
    """An HTTP client bound to the shared legacy devserver."""
    with httpx.Client(base_url=legacy_mix_server.base_url, timeout=30, verify=False) as client:
        yield client
