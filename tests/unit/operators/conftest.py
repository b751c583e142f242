"""Fixtures of the operator unit tests: a MixHook on a recording ``httpx.MockTransport`` (no sockets)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from mix_provider.hooks.mix import MixHook

Handler = Callable[[httpx.Request], httpx.Response]

SESSION = {
    "id": "11111111-1111-4111-8111-111111111111",
    "title": "unit",
    "createdAt": "2026-01-01T00:00:00Z",
    "browserMode": "local-browser-service",
    "sessionType": "main",
}


@dataclass
class Recorder:
    """Records every request; answers with ``handler`` (a session by default)."""

    handler: Handler = lambda request: httpx.Response(200, json=SESSION)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def bodies(self, method: str, path_suffix: str) -> list[Any]:
        """JSON bodies of the recorded ``method`` requests whose path ends with ``path_suffix``."""
        return [
            json.loads(r.content)
            for r in self.requests
            if r.method == method and r.url.path.endswith(path_suffix) and r.content
        ]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """The recorder behind ``attach``; ``mix_default`` points at an address nothing listens on."""
    monkeypatch.setenv("AIRFLOW_CONN_MIX_DEFAULT", json.dumps({"conn_type": "mix", "host": "http://mix.invalid:8088"}))
    return Recorder()


@pytest.fixture
def attach(recorder: Recorder) -> Callable[[Any], Any]:
    """Give an operator a hook whose requests go to ``recorder``; returns the operator."""

    def _attach(operator: Any) -> Any:
        operator.__dict__["hook"] = MixHook(
            operator.mix_conn_id, max_retries=0, transport=httpx.MockTransport(recorder)
        )
        return operator

    return _attach
