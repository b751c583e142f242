"""Archives at scale: a daily incremental run over 100,000 sessions of which 1 % changed, as one
task and split across shards, counting the exports the server served.

    .venv/bin/python benchmarks/archive_scale.py [--quick] [--sessions 100000] [--changed 0.01] [--shards 4]

1. Seeds ``--sessions`` small sessions in one control-plane call (``POST /_devserver/seed/sessions``).
2. Builds yesterday's archive, synthesized from one listing (each session's manifest entry with
   its fingerprint, and a file of the recorded size), as a ``manifest.json`` of an earlier release
   (read as the oldest part): exporting 100,000 sessions here would take minutes, and that first
   run is not what is measured.
3. Day 1: touches ``--changed`` of the sessions (``POST /_devserver/seed/touch``: one more
   exchange each, so their list entries change) and runs ``MixArchiveSessionsOperator.execute()`` as
   one task. Day 2: touches another ``--changed`` and runs ``--shards`` tasks one after another (as
   mapped tasks on separate workers would, each listing every session and archiving its own).
   Day 3: nothing changed, one task. For each: the exports the server counted
   (``GET /_devserver/requests``), the list calls, and the wall time (for the shards, the slowest
   task and the sum).

The run fails if any run exported a session that had not changed, missed one that had, or left the
merged manifest without an entry for every session.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from _common import MIX_CONN_ID, airflow_home, execute, machine, mix_server, parser, print_table

EXPORTS = "/api/sessions/[^/]+/export"
STUB_BYTES = 256


def synthesize(base: Path, listed: list[Any]) -> None:
    """Yesterday's archive of every listed session: files of ``STUB_BYTES`` and a ``manifest.json``
    of an earlier release (version 1) holding their entries."""
    import json

    from mix_provider.archive import fingerprint

    base.mkdir(parents=True)
    stub = b"x" * STUB_BYTES
    sessions = {}
    for session in listed:
        name = f"{session.id}.jsonl.gz"
        (base / name).write_bytes(stub)
        sessions[session.id] = {
            "path": name, "format": "jsonl", "compression": "gzip", "sha256": "0" * 64, "bytes": STUB_BYTES,
            "messages": 2, "fingerprint": fingerprint(session), "title": session.title, "updated_at": None,
            "archived_at": "2026-01-01T00:00:00+00:00",
        }  # fmt: skip
    (base / "manifest.json").write_text(json.dumps({"version": 1, "sessions": sessions}))


def archive(server: Any, base: Path, shard: int = 0, shards: int = 1) -> dict[str, Any]:
    """One task's ``execute()``; its XCom plus the wall time and the exports and lists the server counted."""
    from mix_provider.operators.archive import MixArchiveSessionsOperator

    task = MixArchiveSessionsOperator(
        task_id="archive", mix_conn_id=MIX_CONN_ID, base_path=f"file://{base}", shard=shard, shards=shards
    )
    server.reset_request_counts()
    started = time.perf_counter()
    try:
        result: dict[str, Any] = execute(task)
    finally:
        task.hook.close()
    result["seconds"] = time.perf_counter() - started
    result["exports"] = server.request_count("GET", EXPORTS)
    result["lists"] = server.request_count("GET", "/api/sessions")
    return result


def check(base: Path, results: list[dict[str, Any]], changed: set[str], expect: int, total: int) -> None:
    """Exactly the changed sessions exported, and an entry for every session in the merged manifest."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from mix_provider.archive import read_manifest

    exported = sum(r["exports"] for r in results)
    archived = sum(r["archived"] for r in results)
    if exported != expect or archived != expect or any(r["failed"] for r in results):
        raise SystemExit(f"{base.name}: {exported} exports, {archived} archived, expected {expect}: {results}")
    entries = read_manifest(ObjectStoragePath(f"file://{base}")).entries
    fresh = sum(entries[sid].bytes != STUB_BYTES for sid in changed)
    if len(entries) != total or (expect and fresh != len(changed)):
        raise SystemExit(f"{base.name}: {len(entries)} entries of {total}, {fresh} of {len(changed)} changed renewed")


def row(label: str, results: list[dict[str, Any]], total: int) -> tuple[str, ...]:
    seconds = [r["seconds"] for r in results]
    return (
        label,
        str(len(results)),
        f"{total:,}",
        f"{sum(r['archived'] for r in results):,}",
        f"{sum(r['skipped'] for r in results):,}",
        f"{sum(r['exports'] for r in results):,}",
        str(sum(r["lists"] for r in results)),
        f"{max(seconds):.1f}",
        f"{sum(seconds):.1f}",
    )


def main(argv: list[str]) -> int:
    """Seed, synthesize yesterday's archive, change a few sessions, run the incremental archives, print the table."""
    options = parser(__doc__)
    options.add_argument("--sessions", type=int, default=100_000)
    options.add_argument("--changed", type=float, default=0.01, help="share of sessions changed since yesterday")
    options.add_argument("--shards", type=int, default=4)
    args = options.parse_args(argv)
    total = 5_000 if args.quick else args.sessions
    print(f"archives at scale; {machine()}", flush=True)
    # legacy: the archive finds every session in the full list (the current server lists 20; issue 24)
    with airflow_home("mix-bench-scale-") as home, mix_server(home / "mix-data", generation="legacy") as server:
        from mix_provider.hooks.mix import MixHook

        began = time.perf_counter()
        ids = server.seed_sessions(total, title_prefix="scale")
        print(f"seeded {total:,} sessions in {time.perf_counter() - began:.1f} s", flush=True)
        with MixHook(MIX_CONN_ID) as hook:
            began = time.perf_counter()
            listed = hook.list_sessions()
            print(f"listed {len(listed):,} sessions in {time.perf_counter() - began:.1f} s", flush=True)
        began = time.perf_counter()
        base = home / "archive"
        synthesize(base, listed)
        print(f"synthesized the previous archive in {time.perf_counter() - began:.1f} s", flush=True)
        step = max(1, round(1 / args.changed)) if args.changed > 0 else total + 1
        day1, day2 = set(ids[::step]), set(ids[step // 2 :: step])
        server.touch_sessions(sorted(day1))
        one = [archive(server, base)]
        check(base, one, day1, len(day1), total)
        server.touch_sessions(sorted(day2))
        sharded = [archive(server, base, shard, args.shards) for shard in range(args.shards)]
        check(base, sharded, day2, len(day2), total)
        again = [archive(server, base)]
        check(base, again, day2, 0, total)
        changed = day1
    print_table(
        f"incremental archive of {total:,} sessions ({len(changed):,} changed a day), "
        f"MixArchiveSessionsOperator defaults (jsonl.gz, max_concurrency 16), loopback",
        [
            "run",
            "tasks",
            "sessions",
            "archived",
            "skipped",
            "GET /export",
            "GET /api/sessions",
            "wall s (slowest task)",
            "sum of tasks s",
        ],
        [
            row("day 1: one task, 1 % changed (from a manifest.json)", one, total),
            row(f"day 2: {args.shards} shards (mapped tasks), another 1 % changed", sharded, total),
            row("day 3: one task, nothing changed", again, total),
        ],
    )
    print(f"load after: {machine().rsplit('load ', 1)[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
