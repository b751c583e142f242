"""Load: 200 sessions created, messaged (reply awaited) and exported concurrently from one process,
through the hook's asyncio client, against a private local server. Nothing may fail, be lost or be
duplicated; throughput and per-session latency go to ``.artifacts/reliability/load.md``.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from mix_provider.client import TurnKey
from mix_provider.client import operations as ops
from mix_provider.devserver.testing import MixDevServer
from mix_provider.hooks.mix import MixHook
from reliability.report import Report
from support.fakes import define_conn

pytestmark = pytest.mark.integration

SESSIONS = 200
CONCURRENCY = 32
REPLY_DELAY_MS = 50
CONN = "mix_load"


@dataclass
class LoadRun:
    """What the load produced: per-session latencies, the replies exported, the errors."""

    prefix: str
    latencies: list[float] = field(default_factory=list)
    exported_replies: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    created: dict[str, int] = field(default_factory=dict)
    wall: float = 0.0


@pytest.fixture(scope="module")
def load_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MixDevServer]:
    """A private server answering each message after 50 ms; ``mix_load`` reaches it."""
    data_dir = tmp_path_factory.mktemp("mix-load")
    # legacy: the check finds all 200 sessions in the full list (the current one shows 20; issue 24)
    legacy = MixDevServer(data_dir, reply_delay_ms=REPLY_DELAY_MS, generation="legacy")
    with legacy as server, pytest.MonkeyPatch.context() as mp:
        conn = {"conn_type": "mix", "host": server.base_url, "extra": {"max_retries": 3, "retry_max_wait": 1}}
        define_conn(mp, CONN, **conn)
        yield server


async def _one_session(hook: MixHook, gate: asyncio.Semaphore, run: LoadRun, index: int) -> None:
    """Create, send one message and wait for its reply, export; record the latency or the error."""
    text = f"load message {index}"
    async with gate:
        started = time.perf_counter()
        try:
            client = await hook.aclient()
            session = await client.execute(ops.create_session(f"{run.prefix} {index}"))
            run.created[session.id] = index
            turn = TurnKey.of(0, text)
            send = ops.send_message(session.id, text, turn=turn)
            reply = await client.wait_for_reply(session.id, turn, send=send, timeout=60, poll_interval=0.5)
            export = await hook.aexport_session(session.id)
        except Exception as exc:  # counted, then asserted to be none
            run.errors.append(f"#{index}: {type(exc).__name__}: {exc}")
            return
        run.latencies.append(time.perf_counter() - started)
        assert reply.text == f"You said: {text}"
        finals = [m.content for m in export.messages if m.role == "assistant" and m.finish_reason == "end_turn"]
        run.exported_replies[session.id] = finals[0] if len(finals) == 1 else ""


async def _load(run: LoadRun) -> None:
    hook = MixHook(CONN)
    gate = asyncio.Semaphore(CONCURRENCY)
    started = time.perf_counter()
    try:
        await asyncio.gather(*(_one_session(hook, gate, run, i) for i in range(SESSIONS)))
    finally:
        run.wall = time.perf_counter() - started
        await hook.aclose()


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def test_200_concurrent_sessions(load_server: MixDevServer, reliability_report: Report, tmp_path: Path) -> None:
    run = LoadRun(prefix=f"load {uuid.uuid4().hex[:8]}")
    asyncio.run(_load(run))
    latencies = sorted(run.latencies)
    figures = {
        "sessions": str(SESSIONS),
        "concurrency": str(CONCURRENCY),
        "reply delay": f"{REPLY_DELAY_MS} ms",
        "errors": str(len(run.errors)),
        "wall": f"{run.wall:.2f} s",
        "sessions/s": f"{len(latencies) / run.wall:.1f}",
        "p50": f"{_percentile(latencies, 0.50) * 1000:.0f} ms" if len(latencies) > 1 else "-",
        "p95": f"{_percentile(latencies, 0.95) * 1000:.0f} ms" if len(latencies) > 1 else "-",
    }
    table = reliability_report.table("load.md", "Load: create + message + reply + export, asyncio hook", list(figures))
    for name, value in figures.items():
        table.set("one process", name, value)
    table.notes = [
        f"Per session: create, SSE stream + send, wait for the reply, export. Server: `{load_server.base_url}`."
    ]

    assert run.errors == []
    listed = httpx.get(f"{load_server.base_url}/api/sessions", timeout=30).json()
    mine = [s for s in listed if s["id"] in run.created]
    assert len({s["id"] for s in mine}) == len(mine) == len(run.created) == SESSIONS
    assert sorted(run.created.values()) == list(range(SESSIONS))
    assert {s["userMessageCount"] for s in mine} == {1}, "every session got exactly one user message"
    assert not any(s["title"].startswith(run.prefix) for s in mine), (
        "renamed after the first message, as the real server does"
    )
    assert len(run.exported_replies) == SESSIONS
    for session_id, reply in run.exported_replies.items():
        assert reply == f"You said: load message {run.created[session_id]}"
