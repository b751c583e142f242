"""Each injected fault kind, as seen by an httpx client on a real socket; request counts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from mix_provider.devserver.testing import MixDevServer

from .devserver_sse import create_session, send_and_wait

CREATE = {"title": "faults", "browserMode": "local-browser-service"}


@pytest.fixture(scope="module")
def faults_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MixDevServer]:
    """One server for this module, reset before each test."""
    with MixDevServer(tmp_path_factory.mktemp("faults")) as server:
        yield server


@pytest.fixture
def fresh_mix_server(faults_server: MixDevServer) -> MixDevServer:
    """The module's server, with no sessions, faults or request counts."""
    faults_server.reset()
    return faults_server


@pytest.fixture
def http(fresh_mix_server: MixDevServer) -> Iterator[httpx.Client]:
    """A client on the module's server."""
    with httpx.Client(base_url=fresh_mix_server.base_url, timeout=5, verify=False) as client:
        yield client


def test_status_faults(fresh_mix_server: MixDevServer, http: httpx.Client) -> None:
    fresh_mix_server.add_fault("status", method="POST", path="/api/sessions", status=429, retry_after=7)
    fresh_mix_server.add_fault("status", method="GET", path="/api/sessions/.*", status=503, count=2)
    limited = http.post("/api/sessions", json=CREATE)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert limited.json()["error"]["code"] == 429
    session_id = http.post("/api/sessions", json=CREATE).json()["id"]
    assert [http.get(f"/api/sessions/{session_id}").status_code for _ in range(3)] == [503, 503, 200]
    assert http.get("/_devserver/faults").json() == []


def test_hang_times_out(fresh_mix_server: MixDevServer, http: httpx.Client) -> None:
    fresh_mix_server.add_fault("hang", path="/health", delay_ms=3000)
    with pytest.raises(httpx.ReadTimeout):
        http.get("/health", timeout=0.5)
    assert http.get("/health").status_code == 200


def test_reset_before_runs_nothing(fresh_mix_server: MixDevServer, http: httpx.Client) -> None:
    fresh_mix_server.add_fault("reset_before", method="POST", path="/api/sessions")
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/api/sessions", json=CREATE)
    assert http.get("/api/sessions").json() == []
    assert fresh_mix_server.request_count("POST", "/api/sessions") == 1


def test_reset_after_has_side_effects(fresh_mix_server: MixDevServer, http: httpx.Client) -> None:
    fresh_mix_server.add_fault("reset_after", method="POST", path="/api/sessions")
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/api/sessions", json=CREATE)
    assert len(http.get("/api/sessions").json()) == 1


def test_truncate_cuts_the_body(fresh_mix_server: MixDevServer, http: httpx.Client) -> None:
    fresh_mix_server.add_fault("truncate", method="GET", path="/health")
    with pytest.raises(httpx.RemoteProtocolError):
        http.get("/health")


def test_malformed_body(fresh_mix_server: MixDevServer, http: httpx.Client) -> None:
    fresh_mix_server.add_fault("malformed", method="GET", path="/api/sessions")
    response = http.get("/api/sessions")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_fault_listing_clearing_and_counts(fresh_mix_server: MixDevServer, http: httpx.Client) -> None:
    fresh_mix_server.add_fault("status", path="/nothing", count=3, status=500)
    listed = http.get("/_devserver/faults").json()
    assert listed[0]["remaining"] == 3 and listed[0]["kind"] == "status"
    fresh_mix_server.clear_faults()
    assert http.get("/_devserver/faults").json() == []
    bad = http.post("/_devserver/faults", json={"kind": "explode"})
    assert bad.status_code == 400
    fresh_mix_server.reset_request_counts()
    http.get("/health")
    http.get("/health")
    assert fresh_mix_server.request_count("GET", "/health") == 2
    assert fresh_mix_server.request_count("*", "/api/.*") == 0


async def test_in_process_app_raises_on_drop(tmp_path: object) -> None:
    from pathlib import Path

    from mix_provider.devserver import Settings, create_app
    from mix_provider.devserver.faults import ConnectionDropped

    app = create_app(Settings(data_dir=Path(str(tmp_path))))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://devserver") as client:
        assert (await client.post("/api/sessions", json=CREATE)).status_code == 201
        await client.post("/_devserver/faults", json={"kind": "reset_before"})
        with pytest.raises(ConnectionDropped):
            await client.get("/health")


def test_status_fault_can_echo_the_request_headers(fresh_mix_server: MixDevServer, http: httpx.Client) -> None:
    fresh_mix_server.add_fault("status", path="/health", status=502, echo_headers=True)
    answer = http.get("/health", headers={"Authorization": "Bearer tok-echoed"})
    assert answer.status_code == 502
    assert "authorization: Bearer tok-echoed" in answer.json()["error"]["message"]
    assert http.get("/health").status_code == 200


async def test_run_ends_are_published_on_the_shared_monotonic_clock(fresh_mix_server: MixDevServer) -> None:
    with httpx.Client(base_url=fresh_mix_server.base_url, timeout=30) as client:
        session_id = create_session(client)
    before = time.monotonic()
    events = await send_and_wait(fresh_mix_server.base_url, session_id, "hello")
    after = time.monotonic()
    [message_id] = [data["messageId"] for name, data in events if name == "complete"]
    assert before <= fresh_mix_server.run_ends()[message_id] <= after
