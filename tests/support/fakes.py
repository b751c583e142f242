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


@dataclass
class ListingServer:
    """A Mix server behind ``httpx.MockTransport`` holding ``total`` sessions of ``per`` user messages,
    listing them as the newer server does (``capped``: the 20 newest, counts 0) or the older one.

    ``history`` serves ``GET /api/messages/history``; ``GET /api/sessions/{id}`` and ``/export``
    answer with real counts. The oldest ``empty`` sessions hold no message; ``POST /api/sessions``
    answers with them in turn (as if it created them). ``paths`` records every request path.
    """

    total: int
    capped: bool
    history: bool = True
    per: int = 2
    cap: int = 20
    empty: int = 0
    paths: list[str] = field(default_factory=list)
    created: int = 0

    def messages(self, index: int) -> int:
        return 0 if index < self.empty else self.per

    def session(self, index: int, *, counted: bool = True) -> dict[str, Any]:
        count = self.messages(index) if counted else 0
        return {
            "id": f"s{index:04d}",
            "title": f"session {index}",
            "createdAt": f"2026-01-01T{index // 3600:02d}:{index // 60 % 60:02d}:{index % 60:02d}Z",
            "userMessageCount": count,
            "assistantMessageCount": count,
            "toolCallCount": 0,
            "sessionType": "main",
            "callbacks": [],
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.paths.append(path)
        newest = range(self.total - 1, -1, -1)
        if path == "/api/sessions" and request.method == "POST":
            self.created += 1
            return httpx.Response(201, json=self.session(self.created - 1))
        if path == "/api/sessions":
            shown = list(newest)[: self.cap] if self.capped else list(newest)
            return httpx.Response(200, json=[self.session(i, counted=not self.capped) for i in shown])
        if path == "/api/messages/history" and self.history:
            limit, offset = int(request.url.params["limit"]), int(request.url.params["offset"])
            rows = [
                {"id": f"m{i}-{n}", "sessionId": f"s{i:04d}", "role": "user", "userInput": "hi"}
                for i in newest
                for n in range(self.messages(i))
            ]
            return httpx.Response(200, json=rows[offset : offset + limit])
        parts = path.split("/")
        if len(parts) >= 4 and parts[:3] == ["", "api", "sessions"] and parts[3].startswith("s"):
            index = int(parts[3][1:])
            if index < self.total and request.method == "DELETE":
                return httpx.Response(204)
            if index < self.total:
                body = self.session(index)
                if path.endswith("/export"):
                    body["messages"] = [
                        {"id": f"m{index}-{n}", "role": "user", "content": "hi"} for n in range(self.messages(index))
                    ]
                return httpx.Response(200, json=body)
        return httpx.Response(404, json={"error": {"code": 404, "message": "not found", "type": "not_found"}})
