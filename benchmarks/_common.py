"""What the benchmark scripts share: a throw-away Airflow environment, the local Mix server, the
machine line, interleaved timing rounds, medians and the printed tables.

Enter :func:`airflow_home` before anything imports Airflow (``mix_provider.hooks`` does).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NamedTuple

#: The Airflow connection id every benchmark points at the local server.
MIX_CONN_ID = "mix_bench"


@contextmanager
def airflow_home(prefix: str) -> Iterator[Path]:
    """Point Airflow at a fresh temporary home (no DB: connections come from environment variables)
    and delete it afterwards. Enter it before anything imports Airflow."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    (home / "dags").mkdir()
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def server_data_dir(home: Path, room: int) -> Iterator[Path]:
    """Where the server keeps its SQLite file: in memory (``/dev/shm``) when it has ``room`` bytes
    free (seeding is quicker, and no disk write slows the server), else under ``home``."""
    shm = Path("/dev/shm")
    if not shm.is_dir() or shutil.disk_usage(shm).free < room:
        yield home / "mix-data"
        return
    path = Path(tempfile.mkdtemp(prefix="mix-bench-", dir=shm))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with the module docstring as help and the common ``--quick`` flag."""
    result = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    result.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    return result


def set_connection(conn_id: str, conn: Mapping[str, Any]) -> None:
    """Define an Airflow connection through its ``AIRFLOW_CONN_<ID>`` environment variable."""
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(dict(conn))


@contextmanager
def mix_server(
    data_dir: Path, *, reply_delay_ms: int = 0, generation: Literal["current", "legacy"] = "current"
) -> Iterator[Any]:
    """The local Mix server on a free loopback port; the ``mix_bench`` connection points at it.

    :param generation: the real server generation it imitates (``legacy`` lists every session).
    """
    from mix_provider.devserver.testing import MixDevServer

    with MixDevServer(data_dir, reply_delay_ms=reply_delay_ms, generation=generation) as server:
        set_connection(MIX_CONN_ID, {"conn_type": "mix", "host": server.base_url})
        yield server


def execute(task: Any, context: Mapping[str, Any] | None = None) -> Any:
    """Run an operator's ``execute`` directly, as its tests do (no Task Runner, no metadata DB)."""
    from airflow.sdk.bases.operator import ExecutorSafeguard

    ExecutorSafeguard.test_mode = True
    return task.execute(dict(context or {}))


def seed_sessions(server: Any, sessions: int, messages: int, size: int) -> list[str]:
    """Create ``sessions`` transcripts of ``messages`` messages of ``size`` bytes (4 requests at a time); their ids."""

    def one(index: int) -> str:
        return str(server.seed_large_session(title=f"bench {index}", messages=messages, message_bytes=size)["id"])

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(one, range(sessions)))


def machine() -> str:
    """CPU count and model, RAM, Python and the load average, on one line."""
    model = ram = "?"
    with Path("/proc/cpuinfo").open() as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), model)
    with Path("/proc/meminfo").open() as meminfo:
        total_kib = next((int(line.split()[1]) for line in meminfo if line.startswith("MemTotal")), 0)
        ram = f"{total_kib / 2**20:.0f} GiB"
    return f"{os.cpu_count()} x {model}, {ram} RAM, Python {platform.python_version()}, load {loadavg()}"


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def status_kib(field: str) -> int:
    """A ``VmRSS``/``VmHWM`` figure of this process from ``/proc/self/status``, in KiB."""
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no {field} in /proc/self/status")
    return int(match.group(1))


class PeakRSS:
    """The peak resident set size while the ``with`` block runs, in bytes (``.peak``)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._sampler: threading.Thread | None = None

    def __enter__(self) -> PeakRSS:
        try:
            Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        except OSError:
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, status_kib("VmRSS") * 1024)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._sampler is not None:
            self._sampler.join()
        else:
            self.peak = status_kib("VmHWM") * 1024


class Sample(NamedTuple):
    """One timed run: wall-clock seconds and CPU seconds of this process (the server's excluded)."""

    wall: float
    cpu: float


def interleave(
    contenders: Mapping[str, Callable[[], Any]],
    rounds: int,
    *,
    budget_s: float = math.inf,
    min_rounds: int = 1,
) -> dict[str, list[Sample]]:
    """Run every contender once per round, the order rotating each round; the samples, by name.

    :param rounds: the most rounds to run.
    :param budget_s: stop starting rounds once this many seconds have passed (after ``min_rounds``):
        the run takes about as long on a slow or noisy machine, with fewer samples, which the tables
        then report (``len`` of any contender's samples).
    :param min_rounds: rounds run whatever the budget.
    """
    names = list(contenders)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    started = time.perf_counter()
    for round_ in range(rounds):
        if round_ >= min_rounds and time.perf_counter() - started > budget_s:
            break
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            wall, cpu = time.perf_counter(), time.process_time()
            contenders[name]()
            samples[name].append(Sample(time.perf_counter() - wall, time.process_time() - cpu))
    return samples


def median(values: Sequence[float]) -> float:
    """The median."""
    return statistics.median(values)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown table (left-aligned first column, right-aligned numbers) under ``title``."""
    cells = [[str(cell) for cell in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) for i, h in enumerate(header)]

    def line(row: Sequence[str]) -> str:
        first, *rest = (str(cell) for cell in row)
        padded = [first.ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(rest, widths[1:], strict=True))]
        return "| " + " | ".join(padded) + " |"

    print(f"\n{title}\n")
    print(line(header))
    print("| " + " | ".join(["-" * widths[0], *("-" * (w - 1) + ":" for w in widths[1:])]) + " |")
    for row in cells:
        print(line(row))
    print(flush=True)
