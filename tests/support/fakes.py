"""Fakes shared by the unit and reliability tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

Handler = Callable[[httpx.Request], httpx.Response]

#: A session as the server answers it, for handlers that need one.
SESSION = {
    "id": "11111111-1111-4111-8111-111111111111",
    "title": "unit",
    "createdAt": "2026-01-01T00:00:00Z",
    "browserMode": "local-browser-service",
    "sessionType": "main",
}


def conn_env(conn_id: str, **conn: Any) -> dict[str, str]:
    """The environment variable defining the ``mix`` connection ``conn_id`` (``conn``: host, password, extra...)."""
    return {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps({"conn_type": "mix", **conn})}


def define_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, **conn: Any) -> str:
    """Define the ``mix`` connection ``conn_id`` in the environment for one test; returns the id."""
    for name, value in conn_env(conn_id, **conn).items():
        monkeypatch.setenv(name, value)
    return conn_id


class FakeTI:
    """A task instance that collects XCom pushes (``pushed``: value by key, ``last``: the last push).

    :param frozen: refuse every push (nothing may be pushed before the arguments are valid).
    """

    def __init__(self, *, frozen: bool = False) -> None:
        self.frozen = frozen
        self.pushed: dict[str, Any] = {}
        self.last: tuple[str, Any] | None = None

    def xcom_push(self, key: str, value: Any) -> None:
        if self.frozen:
            raise AssertionError("nothing may be pushed before the arguments are valid")
        self.pushed[key] = value
        self.last = (key, value)


def _session(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=SESSION)


def refuse(request: httpx.Request) -> httpx.Response:
    """A handler for tests that expect no request at all."""
    return httpx.Response(500, json={"error": {"code": 500, "message": "no request was expected"}})


@dataclass
class Recorder:
    """An ``httpx.MockTransport`` handler that records every request and answers with ``handler``."""

    handler: Handler = _session
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def transport(self) -> httpx.MockTransport:
        """A transport whose requests this recorder answers."""
        return httpx.MockTransport(self)

    def bodies(self, method: str, path_suffix: str) -> list[Any]:
        """JSON bodies of the recorded ``method`` requests whose path ends with ``path_suffix``."""
        return [
            json.loads(r.content)
            for r in self.requests
            if r.method == method and r.url.path.endswith(path_suffix) and r.content
        ]
