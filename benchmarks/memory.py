"""Memory on large transcripts: peak RSS growth while exporting 64 MiB, 256 MiB and 1 GiB transcripts
to JSON Lines, MixExportSessionOperator (streamed) versus mix-python-sdk (whole transcript in memory).

    .venv/bin/python benchmarks/memory.py [--quick] [--sizes 64,256,1024] [--sdk-max 256]

Exports run in fresh subprocesses that import everything and export a tiny session first (warm-up).
Then, before each measured export, the child reads its resident set size (the baseline) and resets
the kernel's peak-RSS mark (``/proc/self/clear_refs``; a 5 ms sampling thread where that is not
allowed), exports the large transcript to a local ``.jsonl`` file and reports the peak minus the
baseline. MixExportSessionOperator exports the sizes one after another in one child (what a long-lived
worker does; each row still has its own baseline and peak); the SDK gets a fresh child per size, since
memory freed after one parsed transcript may stay with the process and hide the next one's growth. The
SDK contender calls ``sessions.export_session`` (the parsed ``ExportSession``) and writes the same
header line plus one line per message. ``--sdk-max`` caps the sizes the SDK is run at (time and memory).
The two contenders' children run side by side (each measures its own process), so the table has no
speeds; the server keeps its database in ``/dev/shm`` when there is room (seeding is the slow part).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from _common import (
    MIX_CONN_ID,
    PeakRSS,
    airflow_home,
    execute,
    machine,
    mix_server,
    parser,
    print_table,
    server_data_dir,
    status_kib,
)

MIB = 1 << 20
#: Bytes per seeded message (a 1 GiB transcript has 16,384 of them).
MESSAGE_BYTES = 64 * 1024
OURS = "MixExportSessionOperator -> jsonl"
SDK = "mix-python-sdk export -> jsonl"


# -- the child: one export, measured ----------------------------------------------------------------


def export_ours(session_id: str, out: Path) -> None:
    """MixExportSessionOperator, jsonl to a local path (streamed through the hook)."""
    from mix_provider.operators.export import MixExportSessionOperator

    task = MixExportSessionOperator(
        task_id="export", mix_conn_id=MIX_CONN_ID, session_id=session_id, output_path=out.as_uri(), format="jsonl"
    )
    execute(task)
    task.hook.close()


def sdk_exporter(base_url: str) -> Callable[[str, Path], None]:
    """The SDK's export (parsed whole), written as a header line plus one line per message."""
    from mix_python_sdk import Mix

    sdk = Mix(server_url=base_url, timeout_ms=600_000)

    def export(session_id: str, out: Path) -> None:
        exported = sdk.sessions.export_session(id=session_id).result
        with out.open("w") as file:
            header = exported.model_dump(mode="json", by_alias=True, exclude={"messages"})
            file.write(json.dumps(header) + "\n")
            for message in exported.messages or ():
                file.write(message.model_dump_json(by_alias=True) + "\n")

    return export


def child(contender: str, base_url: str, warmup: str, session_ids: list[str], out: Path) -> list[dict[str, Any]]:
    """Warm up, then export each of ``session_ids`` in turn, each measured from its own baseline (the
    RSS just before it, the peak mark reset); the figures of each, as dicts."""
    export = export_ours if contender == "ours" else sdk_exporter(base_url)
    export(warmup, out)
    out.unlink()
    figures = []
    for session_id in session_ids:
        baseline = status_kib("VmRSS") * 1024
        with PeakRSS() as peak:
            export(session_id, out)
        figures.append({"baseline": baseline, "peak": peak.peak})
        out.unlink()
    return figures


# -- the parent: seed, spawn, tabulate ----------------------------------------------------------


def seed(base_url: str, mib: int) -> str:
    """Create a transcript of about ``mib`` MiB (messages of :data:`MESSAGE_BYTES`); its id."""
    body = {"title": f"{mib} MiB", "messages": mib * MIB // MESSAGE_BYTES, "messageBytes": MESSAGE_BYTES}
    response = httpx.post(f"{base_url}/_devserver/seed/large-session", json=body, timeout=900)
    response.raise_for_status()
    return str(response.json()["id"])


def spawn(contender: str, base_url: str, warmup: str, session_ids: list[str], home: Path) -> list[dict[str, Any]]:
    """Run measured exports in a fresh interpreter, writing under ``home``; their figures."""
    out = home / f"{contender}.jsonl"
    command = [sys.executable, __file__, "--child", contender, base_url, warmup, str(out), *session_ids]
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ.copy())
    out.unlink(missing_ok=True)
    result: list[dict[str, Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def row(name: str, mib: int, got: dict[str, Any]) -> tuple[str, ...]:
    """One table row from a child's figures."""
    growth = (got["peak"] - got["baseline"]) / MIB
    return (
        name,
        f"{mib}",
        f"{got['baseline'] / MIB:.0f}",
        f"{got['peak'] / MIB:.0f}",
        f"{growth:.1f}",
        f"{growth / mib:.2f}x",
    )


def sdk_rows(base_url: str, warmup: str, sessions: dict[int, str], home: Path) -> list[tuple[str, ...]]:
    """The SDK's rows: one fresh child per size, one after another."""
    return [row(SDK, mib, spawn("sdk", base_url, warmup, [sid], home)[0]) for mib, sid in sessions.items()]


def main(argv: list[str]) -> int:
    """Seed each size, export it with each contender in its own process, print the table."""
    if argv[:1] == ["--child"]:
        contender, base_url, warmup, out, *session_ids = argv[1:]
        with airflow_home("mix-bench-memory-child-"):
            print(json.dumps(child(contender, base_url, warmup, session_ids, Path(out))))
        return 0
    options = parser(__doc__)
    options.add_argument("--sizes", default="64,256,1024", help="transcript sizes in MiB")
    options.add_argument("--sdk-max", type=int, default=256, help="largest size (MiB) the SDK exports")
    args = options.parse_args(argv)
    sizes = [8, 32] if args.quick else [int(size) for size in args.sizes.split(",")]
    sdk_max = 32 if args.quick else args.sdk_max

    print(f"memory on large transcripts; {machine()}", flush=True)
    rows: list[tuple[str, ...]] = []
    with airflow_home("mix-bench-memory-") as home, server_data_dir(home, 4 << 30) as data, mix_server(data) as server:
        warmup = seed(server.base_url, 1)
        seeded: dict[int, str] = {}
        for mib in sizes:
            started = time.perf_counter()
            seeded[mib] = seed(server.base_url, mib)
            print(f"seeded {mib} MiB in {time.perf_counter() - started:.0f} s", flush=True)
        with ThreadPoolExecutor(2) as pool:  # each process's own peak: the two can run side by side
            ours = pool.submit(spawn, "ours", server.base_url, warmup, list(seeded.values()), home)
            sdk = pool.submit(
                sdk_rows, server.base_url, warmup, {m: s for m, s in seeded.items() if m <= sdk_max}, home
            )
            rows += [row(OURS, mib, got) for mib, got in zip(seeded, ours.result(), strict=True)]
            rows += sdk.result()
        rows += [(SDK, f"{mib}", "not run", "", "", "") for mib in seeded if mib > sdk_max]
    print_table(
        f"peak RSS growth while exporting one transcript to jsonl (SDK up to {sdk_max} MiB)",
        ["contender", "transcript MiB", "baseline RSS MiB", "peak RSS MiB", "growth MiB", "growth / size"],
        rows,
    )
    print(f"load after: {machine().rsplit('load ', 1)[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
