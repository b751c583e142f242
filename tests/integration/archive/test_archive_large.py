"""A transcript of a few hundred MiB exports with flat memory (json and jsonl, through ``dag.test()``),
and killing an export mid-stream deletes its temporary file.

The size is ``MIX_ARCHIVE_LARGE_MIB`` (default 128; 256 takes about twice as long on 2 cores).
"""

from __future__ import annotations

import os
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
import pytest
from airflow.providers.common.compat.sdk import DAG

from mix_provider.archive import ArchiveCancelledError
from mix_provider.hooks.mix import MixHook
from mix_provider.operators.export import MixExportSessionOperator
from support.integration import states, xcom

MESSAGE_BYTES = 64 * 1024
SIZE_MIB = int(os.environ.get("MIX_ARCHIVE_LARGE_MIB", "128"))
MESSAGES = SIZE_MIB * 1024 * 1024 // MESSAGE_BYTES
TRACED_LIMIT = 32 * 1024 * 1024
RSS_LIMIT = 64 * 1024 * 1024


class TaskMemory:
    """Per task: the peak of Python allocations (tracemalloc) and of RSS growth (sampled every 10 ms)."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.start_rss = 0
        self.peak_rss = 0
        self.results: dict[str, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)

    def begin(self, context: Any) -> None:
        tracemalloc.start()
        self.start_rss = self.peak_rss = self.process.memory_info().rss

    def end(self, context: Any) -> None:
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        self.results[context["ti"].task_id] = (traced, self.peak_rss - self.start_rss)

    def __enter__(self) -> TaskMemory:
        self._sampler.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sampler.join()


@pytest.fixture(scope="module")
def large_session(mix_server: Any) -> Iterator[str]:
    started = time.perf_counter()
    session = mix_server.seed_large_session(title="large transcript", messages=MESSAGES, message_bytes=MESSAGE_BYTES)
    print(f"seeded {SIZE_MIB} MiB in {time.perf_counter() - started:.1f} s")
    yield str(session["id"])


def test_memory_stays_flat_whatever_the_size(
    run_dag: Callable[..., Any], large_session: str, archive_dir: Path, uid: str
) -> None:
    with TaskMemory() as memory, DAG(f"export_large_{uid}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        for fmt in ("jsonl", "json"):
            MixExportSessionOperator(
                task_id=fmt,
                session_id=large_session,
                output_path=f"file://{archive_dir}/large.{fmt}",
                format=fmt,
                on_execute_callback=memory.begin,
                on_success_callback=memory.end,
                retries=0,
            )
        started = time.perf_counter()
        dr = run_dag(dag)
    took = time.perf_counter() - started
    assert dr.state == "success", states(dr)
    print(f"exported {SIZE_MIB} MiB twice in {took:.1f} s; (traced peak, RSS growth) per task: {memory.results}")
    for fmt in ("jsonl", "json"):
        traced, rss = memory.results[fmt]
        assert traced < TRACED_LIMIT, f"{fmt}: {traced / 2**20:.1f} MiB traced"
        assert rss < RSS_LIMIT, f"{fmt}: RSS grew {rss / 2**20:.1f} MiB"
        result = xcom(dr, fmt)
        assert result["messages"] == MESSAGES
        assert result["bytes"] == (archive_dir / f"large.{fmt}").stat().st_size > SIZE_MIB * 2**20
    with (archive_dir / "large.jsonl").open("rb") as lines:
        assert sum(1 for _ in lines) == MESSAGES + 1


def test_on_kill_mid_stream_leaves_nothing(large_session: str, tmp_path: Path) -> None:
    op = MixExportSessionOperator(
        task_id="killed", session_id=large_session, output_path=f"file://{tmp_path}/killed.jsonl", format="jsonl"
    )
    op.hook = MixHook(max_retries=0)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            op.execute({})
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(p.stat().st_size > 1 << 20 for p in tmp_path.glob(".killed*")):
        time.sleep(0.02)
    op.on_kill()
    worker.join(60)
    assert [type(exc) for exc in failure] == [ArchiveCancelledError]
    assert list(tmp_path.iterdir()) == []
