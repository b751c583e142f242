"""Archiving throughput: small sessions archived to a local directory by MixArchiveSessionsOperator versus
a sequential loop with mix-python-sdk that writes one JSON file per session.

    .venv/bin/python benchmarks/archive_throughput.py [--quick] [--sessions 1000] [--rounds 4] [--budget 120]
                                                      [--latency-ms 20] [--latency-sessions 1000]
                                                      [--latency-rounds 3] [--sdk-sessions 100] [--profile]

The sessions are split into ``--rounds`` equal slices; in each round every contender archives the
same slice into a fresh directory (the order rotating; no round starts after ``--budget`` seconds,
so a slow machine archives fewer, at least one slice). The table shows the median sessions/s over
rounds (a host stall moves one sample, not the result), the total seconds, the CPU per session of
the client (this process) and of the server process, and the speed-up over the SDK loop. The
operator runs ``execute()`` directly (no scheduler; the connection comes from an environment
variable). A ceiling line shows what the server allows any client: 8 threads of raw httpx
downloading the exports and dropping them.

Two scenarios: the server on loopback as it is, and the same server answering every API request
``--latency-ms`` later (the devserver's ``hang`` fault), as a remote Mix server would. With latency,
every round archives the same ``--latency-sessions`` (one operator run each, into a fresh
directory) except the sequential SDK loop, which archives the first ``--sdk-sessions`` of them (its
rate does not depend on the batch size, and 1,000 sequential exports would take most of the
budget). The last column is each contender's rate over the ceiling's, measured in the same rounds.
``--profile`` first prints a cProfile of the operator's per-session work, one session at a time.
"""

from __future__ import annotations

import cProfile
import pstats
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import (
    MIX_CONN_ID,
    airflow_home,
    execute,
    interleave,
    machine,
    median,
    mix_server,
    parser,
    print_table,
)

SDK_LOOP = "mix-python-sdk, sequential loop (json)"
CEILING = "(ceiling: raw httpx, 8 threads, download only)"
OPERATOR = "MixArchiveSessionsOperator, jsonl.gz (default)"
OLD_DEFAULT = "MixArchiveSessionsOperator, jsonl.gz, max_concurrency=8"


#: A contender archives the given sessions into a directory and returns how many files it wrote.
Contender = Callable[[Path, list[str]], int]


def operator(format: str, compression: str | None, concurrency: int | None = None) -> Contender:
    """Contender: ``MixArchiveSessionsOperator(...).execute()`` over every listed session."""
    from mix_provider.operators.archive import MixArchiveSessionsOperator

    def run(out: Path, ids: list[str]) -> int:
        task = MixArchiveSessionsOperator(
            task_id="archive",
            mix_conn_id=MIX_CONN_ID,
            base_path=out.as_uri(),
            session_ids=ids,
            format=format,
            compression=compression,
            **({} if concurrency is None else {"max_concurrency": concurrency}),
        )
        try:
            archived = int(execute(task)["archived"])
        finally:
            task.hook.close()
        return archived

    return run


def sdk_loop(base_url: str) -> Contender:
    """Contender: the SDK, one session after another: list, export (parsed whole), write ``<id>.json``."""
    from mix_python_sdk import Mix

    sdk = Mix(server_url=base_url)

    def run(out: Path, ids: list[str]) -> int:
        out.mkdir(parents=True)
        for session_id in ids:
            exported = sdk.sessions.export_session(id=session_id).result
            (out / f"{session_id}.json").write_text(exported.model_dump_json(by_alias=True))
        return len(list(out.iterdir()))

    return run


def ceiling(base_url: str, concurrency: int = 8) -> Contender:
    """Not a contender: raw httpx, ``concurrency`` threads, each export downloaded and dropped (no parsing,
    no files) - what this server and machine allow any client at best."""
    import httpx

    client = httpx.Client(base_url=base_url, limits=httpx.Limits(max_keepalive_connections=concurrency))

    def run(out: Path, ids: list[str]) -> int:
        with ThreadPoolExecutor(concurrency) as pool:
            return sum(pool.map(lambda sid: client.get(f"/api/sessions/{sid}/export").status_code == 200, ids))

    return run


def scenario(
    home: Path,
    server_pid: int,
    contenders: dict[str, Contender],
    ids: list[str],
    rounds: int,
    budget_s: float,
    *,
    repeat: bool = False,
    caps: dict[str, int] | None = None,
) -> tuple[list[tuple[str, ...]], int]:
    """Time every contender over ``ids`` split into ``rounds`` equal slices, one slice per interleaved
    round (after a short warm-up; no round starts after ``budget_s``); the table rows and the rounds run.

    Every contender archives the same slice in the same round; figures are medians over rounds, so a
    host stall during one run moves one sample, not the result. With ``repeat``, every round archives
    all of ``ids`` (a fresh directory each time); ``caps`` limits some contenders to the first sessions.
    """
    import psutil

    runs = iter(range(10**6))
    server = psutil.Process(server_pid)
    server_cpu: dict[str, list[float]] = {name: [] for name in contenders}
    size = len(ids) if repeat else len(ids) // rounds
    slices = [ids[index * size : (index + 1) * size] for index in range(rounds)] if not repeat else [ids] * rounds
    done = dict.fromkeys(contenders, 0)
    sizes = {name: min(size, (caps or {}).get(name, size)) for name in contenders}

    def timed(name: str, only: list[str] | None = None) -> Callable[[], None]:
        def run() -> None:
            batch = only if only is not None else slices[done[name]][: sizes[name]]
            out = home / f"out-{next(runs)}"
            before = sum(server.cpu_times()[:2])
            archived = contenders[name](out, batch)
            server_cpu[name].append(sum(server.cpu_times()[:2]) - before)
            if archived != len(batch):
                raise RuntimeError(f"archived {archived} of {len(batch)} sessions")
            shutil.rmtree(out, ignore_errors=True)
            if only is None:
                done[name] += 1

        return run

    for name in contenders:  # imports, clients, connection pools, code paths
        timed(name, ids[:10])()
        server_cpu[name].clear()
    samples = interleave({name: timed(name) for name in contenders}, rounds, budget_s=budget_s)
    wall = {name: median([s.wall for s in runs_]) / sizes[name] for name, runs_ in samples.items()}
    cpu = {name: median([s.cpu for s in runs_]) / sizes[name] for name, runs_ in samples.items()}
    rows = [
        (
            name,
            f"{1 / t:.0f}",
            f"{sum(s.wall for s in samples[name]):.2f}",
            f"{cpu[name] * 1000:.2f}",
            f"{median(server_cpu[name]) / sizes[name] * 1000:.2f}",
            f"{wall[SDK_LOOP] / t:.2f}x",
            f"{wall[CEILING] / t:.0%}",
        )
        for name, t in wall.items()
    ]
    return rows, len(samples[SDK_LOOP])


def profile(ids: list[str]) -> None:
    """Print a cProfile of the operator's per-session work (``export_transcript``, jsonl.gz), one at a time."""
    import tempfile

    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from mix_provider.archive import ExportSpec, export_transcript
    from mix_provider.hooks.mix import MixHook

    spec = ExportSpec("jsonl", "gzip")
    with MixHook(MIX_CONN_ID) as hook, tempfile.TemporaryDirectory() as out:
        base = ObjectStoragePath(Path(out).as_uri())
        profiler = cProfile.Profile()
        for sid in ids:
            profiler.runcall(export_transcript, hook, sid, base / f"{sid}{spec.extension}", spec)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def main(argv: list[str]) -> int:
    """Seed the sessions, run the contenders interleaved on loopback and with added latency, print the table."""
    options = parser(__doc__)
    options.add_argument("--sessions", type=int, default=1000)
    options.add_argument("--messages", type=int, default=8, help="messages per session")
    options.add_argument("--bytes", type=int, default=512, help="bytes per message")
    options.add_argument("--rounds", type=int, default=4, help="rounds the sessions are split into")
    options.add_argument("--latency-ms", type=int, default=20, help="added server latency of the second scenario")
    options.add_argument("--latency-sessions", type=int, default=1000, help="sessions per run with latency")
    options.add_argument("--latency-rounds", type=int, default=3, help="rounds of the latency scenario")
    options.add_argument("--sdk-sessions", type=int, default=100, help="sessions of the SDK loop per latency round")
    options.add_argument(
        "--budget", type=float, default=120, help="seconds after which no loopback round starts (a third for latency)"
    )
    options.add_argument("--profile", action="store_true", help="first cProfile the operator's per-session work")
    args = options.parse_args(argv)
    sessions, rounds = (100, 2) if args.quick else (args.sessions, args.rounds)
    slow_sessions, slow_rounds_max = (100, 2) if args.quick else (args.latency_sessions, args.latency_rounds)
    sdk_cap = min(args.sdk_sessions, slow_sessions)

    print(f"archiving throughput; {machine()}", flush=True)
    rows: list[tuple[str, ...]] = []
    with airflow_home("mix-bench-archive-") as home, mix_server(home / "mix-data") as server:
        began = time.perf_counter()
        ids = server.seed_sessions(max(sessions, slow_sessions), messages=args.messages, message_bytes=args.bytes)
        print(f"seeded {len(ids)} sessions in {time.perf_counter() - began:.0f} s", flush=True)
        contenders: dict[str, Contender] = {
            OPERATOR: operator("jsonl", "gzip"),
            OLD_DEFAULT: operator("jsonl", "gzip", 8),
            SDK_LOOP: sdk_loop(server.base_url),
            CEILING: ceiling(server.base_url),
        }
        if args.profile:
            profile(ids[:200])
        loopback = {name: run for name, run in contenders.items() if name != OLD_DEFAULT}
        fast, fast_rounds = scenario(home, server.pid, loopback, ids[:sessions], rounds, args.budget)
        rows += [(f"loopback: {name}", *rest) for name, *rest in fast]
        server.add_fault("hang", path="/api/.*", count=10**9, delay_ms=args.latency_ms)
        slow, slow_rounds = scenario(
            home,
            server.pid,
            contenders,
            ids[:slow_sessions],
            slow_rounds_max,
            args.budget / 3,
            repeat=True,
            caps={SDK_LOOP: sdk_cap},
        )
        rows += [(f"+{args.latency_ms} ms/request: {name}", *rest) for name, *rest in slow]
        server.clear_faults()
    kib = args.messages * args.bytes / 1024
    print_table(
        f"sessions of {args.messages} messages x {args.bytes} B (~{kib:.0f} KiB), per contender: "
        f"{fast_rounds * (sessions // rounds)} on loopback in {fast_rounds} interleaved rounds of {sessions // rounds}; "
        f"with +{args.latency_ms} ms per request {slow_rounds} rounds of {slow_sessions} (SDK loop: {sdk_cap}); "
        "medians over rounds",
        [
            "contender",
            "sessions/s",
            "seconds",
            "client CPU ms/session",
            "server CPU ms/session",
            "speed-up vs SDK loop",
            "of ceiling",
        ],
        rows,
    )
    print(f"load after: {machine().rsplit('load ', 1)[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
