"""A turn read over a crowded second runs off the event loop (``adrive``); an ordinary one stays on it.

Several whole runs stored in one second (concurrent turns) make :func:`~mix_provider.client.ties.readings`
explore many orders; the asyncio driver does that reading in a worker thread so other waits of a
triggerer go on meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from test_client_callback_turns import at
from test_client_ties import run_rows
from test_client_turns import messages

from mix_provider.client.drivers import adrive
from mix_provider.client.scan import ScannedTranscript
from mix_provider.client.ties import crowded
from mix_provider.client.turns import TurnKey
from mix_provider.client.wait import Scan
from mix_provider.models import MessageRecord

HISTORY = [at(run_rows("h", "plain")[0], 1), at(run_rows("h", "plain")[-1], 1)]


def _records(rows: list[dict[str, Any]]) -> ScannedTranscript:
    return ScannedTranscript([MessageRecord.model_validate(row) for row in rows])


CROWDED = [*HISTORY, *(at(row, 2) for name in "abc" for row in run_rows(name, "tool"))]
ALONE = [*HISTORY, *(at(row, 2) for row in run_rows("a", "tool"))]


def test_crowded_means_two_run_starts_in_one_second_after_the_baseline() -> None:
    assert crowded(messages(*CROWDED), 1)
    assert not crowded(messages(*ALONE), 1)
    assert not crowded(messages(*CROWDED), 3), "starts before the baseline are not ours to read"
    tied_history = [at(row, 2) for row in (*run_rows("h", "plain"), *run_rows("a", "plain"))]
    assert not crowded(messages(*tied_history), 1), "the turn before ours in our second: pinned, cheap"


@pytest.mark.parametrize(("rows", "offloaded"), [(CROWDED, True), (ALONE, False)], ids=["crowded", "alone"])
def test_the_asyncio_driver_reads_a_crowded_second_in_a_worker_thread(
    rows: list[dict[str, Any]], offloaded: bool
) -> None:
    key = TurnKey.of(1, "text of a")
    threads: list[str] = []

    def flow() -> Any:
        yield Scan("s", key)
        threads.append(threading.current_thread().name)  # the flow's work after the read
        return "done"

    async def do(command: Any) -> ScannedTranscript:
        return _records(rows)

    assert asyncio.run(adrive(flow(), do)) == "done"
    assert (threads[0] != threading.main_thread().name) is offloaded
