"""Fixtures of the hook unit tests: real Airflow connections from ``AIRFLOW_CONN_*`` and debug logging."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from support.fakes import define_conn

ConnFactory = Callable[..., str]


@pytest.fixture
def mix_conn(monkeypatch: pytest.MonkeyPatch) -> ConnFactory:
    """Define a ``mix`` connection in the environment; returns its id."""

    def _define(conn_id: str = "mix_unit", *, host: str = "http://mix.test:8088", **fields: Any) -> str:
        return define_conn(monkeypatch, conn_id, host=host, **fields)

    return _define


@pytest.fixture
def debug_masked_logging(masked_logging: None) -> Iterator[None]:
    """Airflow's masked task logging at DEBUG, written to file descriptor 1 (read it with ``capfd``)."""
    from airflow.sdk.log import configure_logging

    # Loggers made while at DEBUG are not cached, and the default level is set again afterwards through
    # the undecorated function: ``configure_logging`` is ``functools.cache``d, so calling it again with
    # the session's arguments would do nothing and leave later tests logging at DEBUG.
    configure_logging(log_level="DEBUG", output=sys.__stdout__, cache_logger_on_first_use=False)
    yield
    configure_logging.__wrapped__(output=sys.__stdout__)
