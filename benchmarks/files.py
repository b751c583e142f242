"""Session files: a 1 GiB download and uploads at the server's size limit, MixHook against raw httpx.

    .venv/bin/python benchmarks/files.py [--quick] [--download-mib 1024] [--rounds 3] [--upload-rounds 5]

The agent of the local server makes a file of ``--download-mib`` MiB in a session's storage
(``[[file:big.bin:BYTES]]``); an upload is a 32 MiB file (the API's limit) on the local disk. Each
round runs every contender once, the order rotating; the table shows median throughput, the ratio to
raw httpx, and the peak RSS growth of each transfer (the kernel's peak mark reset just before it).
Every contender runs once unmeasured first (imports, connection pools, first allocations).
Contenders, each writing to (or reading from) a local file:

- *raw httpx* — one ``httpx.Client``: ``stream("GET")`` + ``iter_bytes()`` into a file; an upload is
  ``post(files={"file": (name, open file, type)})``.
- *MixHook* — ``hook.consume_file`` writing the chunks into a file; ``hook.upload_file(path)``.
- *MixHook + store_file* — what ``MixCollectFilesOperator`` and archives do: the same download,
  written atomically (temporary name, rename) with its SHA-256.

Then an upload one byte over the limit must be refused before anything is sent (the server's
request count for the upload path is checked).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from _common import (
    MIX_CONN_ID,
    PeakRSS,
    airflow_home,
    interleave,
    machine,
    median,
    mix_server,
    parser,
    print_table,
    server_data_dir,
    status_kib,
)

MIB = 1 << 20
RAW = "raw httpx"
HOOK = "MixHook"
STORED = "MixHook + store_file (atomic, sha256)"


def _measured(action: Callable[[], Any], growth: list[float]) -> Callable[[], Any]:
    """``action``, recording the peak RSS growth of each run in ``growth`` (MiB)."""

    def run() -> None:
        baseline = status_kib("VmRSS") * 1024
        with PeakRSS() as peak:
            action()
        growth.append((peak.peak - baseline) / MIB)

    return run


def _write_chunks(out: Path) -> Callable[[Any], int]:
    def consume(chunks: Any) -> int:
        written = 0
        with out.open("wb") as file:
            for chunk in chunks:
                written += file.write(chunk)
        return written

    return consume


def download_contenders(base_url: str, session_id: str, home: Path, size: int) -> dict[str, Callable[[], Any]]:
    """The download contenders, each fetching ``big.bin`` into its own file under ``home``."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from mix_provider.archive.media import store_file
    from mix_provider.hooks.mix import MixHook

    raw = httpx.Client(base_url=base_url, timeout=600)
    hook = MixHook(MIX_CONN_ID)
    path = f"/api/sessions/{session_id}/files/big.bin"

    def raw_download() -> None:
        with raw.stream("GET", path) as response, (home / "raw.bin").open("wb") as file:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                file.write(chunk)

    def hook_download() -> None:
        assert hook.consume_file(session_id, "big.bin", _write_chunks(home / "hook.bin")) == size

    def stored_download() -> None:
        assert store_file(hook, session_id, "big.bin", ObjectStoragePath((home / "stored.bin").as_uri())).size == size

    return {RAW: raw_download, HOOK: hook_download, STORED: stored_download}


def upload_contenders(base_url: str, session_id: str, source: Path) -> dict[str, Callable[[], Any]]:
    """The upload contenders, each sending ``source``."""
    from mix_provider.hooks.mix import MixHook

    raw = httpx.Client(base_url=base_url, timeout=600)
    hook = MixHook(MIX_CONN_ID)

    def raw_upload() -> None:
        with source.open("rb") as file:
            files = {"file": (source.name, file, "application/octet-stream")}
            raw.post(f"/api/sessions/{session_id}/files/upload", files=files).raise_for_status()

    def hook_upload() -> None:
        assert hook.upload_file(session_id, str(source)).size == source.stat().st_size

    return {RAW: raw_upload, HOOK: hook_upload}


def run(contenders: dict[str, Callable[[], Any]], rounds: int, size: int) -> list[tuple[str, ...]]:
    """Warm each contender up once (imports, pools, first allocations), then interleave them; a row
    each: rounds, median MiB/s, ratio to raw httpx, RSS growth."""
    for action in contenders.values():
        action()
    growth: dict[str, list[float]] = {name: [] for name in contenders}
    samples = interleave({name: _measured(action, growth[name]) for name, action in contenders.items()}, rounds)
    speeds = {name: size / MIB / median([s.wall for s in runs]) for name, runs in samples.items()}
    return [
        (
            name,
            str(len(samples[name])),
            f"{speeds[name]:.0f}",
            f"{speeds[name] / speeds[RAW]:.2f}x",
            f"{median(growth[name]):.1f}",
            f"{max(growth[name]):.1f}",
        )
        for name in contenders
    ]


def make_file(server: Any, session_id: str, size: int) -> None:
    """Have the agent make ``big.bin`` of ``size`` bytes in the session."""
    http = httpx.Client(base_url=server.base_url, timeout=600)
    http.post(f"/api/sessions/{session_id}/messages", json={"text": f"[[file:big.bin:{size}]]"}).raise_for_status()
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        last = http.get(f"/api/sessions/{session_id}/export").json()["messages"][-1]
        if last["role"] == "assistant" and last.get("finishReason") == "end_turn":
            return
        time.sleep(0.2)
    raise RuntimeError("the agent did not make the file in time")


def refused_before_sending(server: Any, session_id: str, home: Path) -> str:
    """Upload a file one byte over the limit: the error, if refused with nothing sent."""
    from mix_provider.client.files import MAX_UPLOAD_BYTES
    from mix_provider.errors import MixFileTooLargeError
    from mix_provider.hooks.mix import MixHook

    over = home / "over.bin"
    with over.open("wb") as file:
        file.truncate(MAX_UPLOAD_BYTES + 1)
    server.reset_request_counts()
    try:
        MixHook(MIX_CONN_ID).upload_file(session_id, str(over))
    except MixFileTooLargeError as exc:
        sent = server.request_count("POST", f"/api/sessions/{session_id}/files/upload")
        return f"refused before sending ({type(exc).__name__}, {sent} requests sent): {exc}"
    return "NOT refused"


def main(argv: list[str]) -> int:
    """Make the file, run both tables, check the over-limit refusal."""
    options = parser(__doc__)
    options.add_argument("--download-mib", type=int, default=1024, help="size of the downloaded file")
    options.add_argument("--rounds", type=int, default=3, help="download rounds")
    options.add_argument("--upload-rounds", type=int, default=5, help="upload rounds")
    args = options.parse_args(argv)
    size = (64 if args.quick else args.download_mib) * MIB
    rounds, upload_rounds = (2, 2) if args.quick else (args.rounds, args.upload_rounds)
    print(f"session files; {machine()}", flush=True)
    header = ["contender", "rounds", "MiB/s (median)", "vs raw httpx", "RSS growth MiB (median)", "(max)"]
    with (
        airflow_home("mix-bench-files-") as home,
        server_data_dir(home, size + 256 * MIB) as data,
        mix_server(data) as server,
    ):
        from mix_provider.client.files import MAX_UPLOAD_BYTES

        session_id = httpx.post(f"{server.base_url}/api/sessions", json={"title": "files"}).json()["id"]
        started = time.perf_counter()
        make_file(server, session_id, size)
        print(f"made a {size // MIB} MiB file in {time.perf_counter() - started:.0f} s", flush=True)
        rows = run(download_contenders(server.base_url, session_id, home, size), rounds, size)
        print_table(f"download of a {size // MIB} MiB session file to a local file", header, rows)
        source = home / "limit.bin"
        source.write_bytes(os.urandom(MAX_UPLOAD_BYTES))
        rows = run(upload_contenders(server.base_url, session_id, source), upload_rounds, MAX_UPLOAD_BYTES)
        print_table(f"upload of a {MAX_UPLOAD_BYTES // MIB} MiB file (the limit) from a local file", header, rows)
        print(f"\nover the limit: {refused_before_sending(server, session_id, home)}")
    print(f"load after: {machine().rsplit('load ', 1)[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
