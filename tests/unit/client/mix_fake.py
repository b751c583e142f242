"""A scripted Mix server behind ``httpx.MockTransport`` (no sockets), and body builders."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx

from mix_provider.client import ClientConfig, RetryPolicy

BASE_URL = "http://mix.test:8088"
Outcome = Callable[[httpx.Request], httpx.Response]
#: Executes a call with the sync or the async client (the ``run`` fixture).
Runner = Callable[..., Any]


def answer(status: int = 200, body: Any = None, *, headers: dict[str, str] | None = None) -> Outcome:
    """An outcome answering ``status`` with ``body`` as JSON (``bytes`` are sent as they are)."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    return lambda request: httpx.Response(status, content=content, headers=headers)


def error(status: int, error_type: str, message: str, *, headers: dict[str, str] | None = None) -> Outcome:
    """An outcome answering Mix's error envelope."""
    return answer(status, {"error": {"code": status, "message": message, "type": error_type}}, headers=headers)


def fail(exc_type: type[httpx.HTTPError], effect: Outcome | None = None) -> Outcome:
    """An outcome raising ``exc_type``, after running ``effect`` (the server did the work, the answer is lost)."""

    def _raise(request: httpx.Request) -> httpx.Response:
        if effect is not None:
            effect(request)
        raise exc_type("simulated failure", request=request)  # type: ignore[call-arg]

    return _raise


def session_json(
    session_id: str = "s-1", title: str = "report", *, created_at: datetime | None = None, users: int = 0
) -> dict[str, Any]:
    """A SessionData body as the server sends it."""
    created = (created_at or datetime.now(timezone.utc)).isoformat().replace("+00:00", "Z")
    return {
        "id": session_id,
        "title": title,
        "createdAt": created,
        "sessionType": "main",
        "browserMode": "local-browser-service",
        "callbacks": [],
        "userMessageCount": users,
        "assistantMessageCount": users,
        "toolCallCount": 0,
        "promptTokens": 0,
        "completionTokens": 0,
        "cost": 0.0,
    }


class FakeMix:
    """A scripted server: per-route queues of outcomes (the last one repeats); every request recorded."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self._routes: dict[tuple[str, str], list[Outcome]] = {}

    def on(self, method: str, path: str, *outcomes: Outcome) -> FakeMix:
        """Queue ``outcomes`` for ``method path``."""
        self._routes.setdefault((method, path), []).extend(outcomes)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self._routes.get((request.method, request.url.path))
        if not queue:
            return error(404, "not_found", f"no route {request.method} {request.url.path}")(request)
        outcome = queue.pop(0) if len(queue) > 1 else queue[0]
        return outcome(request)

    def sent(self, method: str, path: str) -> list[httpx.Request]:
        """The requests made to ``method path``."""
        return [r for r in self.requests if r.method == method and r.url.path == path]

    def bodies(self, method: str, path: str) -> list[Any]:
        """The JSON bodies sent to ``method path`` (``None`` for an empty body)."""
        return [json.loads(r.content) if r.content else None for r in self.sent(method, path)]

    def transport(self) -> httpx.MockTransport:
        """A mock transport serving both the sync and the async client."""
        return httpx.MockTransport(self)


def config(**retry: Any) -> ClientConfig:
    """A client configuration for :data:`BASE_URL` with the given retry policy fields."""
    return ClientConfig(BASE_URL, retry=RetryPolicy(**{"max_retries": 3, **retry}))
