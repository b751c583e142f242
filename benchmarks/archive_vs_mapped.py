"""Archive throughput: one MixArchiveSessionsOperator versus mapped MixExportSessionOperator tasks, and
the archiver's thread pool versus an asyncio design, measured side by side against the local server.

    .venv/bin/python benchmarks/archive_vs_mapped.py [--quick] [--sessions 200] [--messages 20] [--bytes 2048] [--rounds 3]

Prints sessions/s per variant (best of ``--rounds``, variants interleaved so machine load hits all
alike) and each variant's ratio to the archive operator. Needs no running Airflow: it migrates a
throw-away metadata DB under a temporary AIRFLOW_HOME and runs the DAGs with ``dag.test()``. Note
that ``dag.test()`` runs mapped task instances in-process, one after another, at ~20-50 ms each; a
real executor pays a process (and a scheduler round trip) per mapped instance, so the mapped
numbers here are a best case.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from _common import MIX_CONN_ID, airflow_home, machine, mix_server, parser, print_table, seed_sessions


def prepare_airflow() -> None:
    """Migrate the throw-away metadata DB and register the dags-folder bundle."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()


def run_dag(dag: Any) -> None:
    """Register ``dag`` and run it once with ``dag.test()``; raise unless it succeeded."""
    from mix_provider.version_compat import dag_bag_class, sync_dag_bag_to_db

    bag = dag_bag_class()(collect_dags=False)
    bag.bag_dag(dag)
    sync_dag_bag_to_db(bag, "dags-folder")
    state = dag.test().state
    if state != "success":
        raise RuntimeError(f"{dag.dag_id} ended {state}")


def archive_operator(ids: list[str], out: Path, tag: str) -> None:
    """Variant: one MixArchiveSessionsOperator task (asyncio, bounded concurrency 8)."""
    from airflow.providers.common.compat.sdk import DAG

    from mix_provider.operators.archive import MixArchiveSessionsOperator

    with DAG(f"bench_archive_{tag}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        MixArchiveSessionsOperator(
            task_id="archive", mix_conn_id=MIX_CONN_ID, base_path=f"file://{out}", session_ids=ids, max_concurrency=8
        )
    run_dag(dag)


def mapped_exports(ids: list[str], out: Path, tag: str) -> None:
    """Variant: ``MixExportSessionOperator.partial(...).expand_kwargs(...)``, one mapped task per session."""
    from airflow.providers.common.compat.sdk import DAG

    from mix_provider.operators.export import MixExportSessionOperator

    kwargs = [{"session_id": sid, "output_path": f"file://{out}/{sid}.jsonl.gz"} for sid in ids]
    with DAG(f"bench_mapped_{tag}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        MixExportSessionOperator.partial(
            task_id="export", mix_conn_id=MIX_CONN_ID, format="jsonl", compression="gzip"
        ).expand_kwargs(kwargs)
    run_dag(dag)


def archiver(ids: list[str], out: Path, *, concurrency: int = 8) -> None:
    """Variant: the provider's archiver alone (no Airflow task): a pool of ``concurrency`` threads."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from mix_provider.archive import Candidate, ExportSpec, SessionArchiver
    from mix_provider.hooks.mix import MixHook

    spec = ExportSpec("jsonl", "gzip")
    with MixHook(MIX_CONN_ID) as hook:
        SessionArchiver(hook, ObjectStoragePath(f"file://{out}"), spec, concurrency).run([Candidate(s) for s in ids])


def asyncio_engine(ids: list[str], out: Path, *, inline: bool) -> None:
    """Variant: the design the provider did not ship: ``aopen_export`` streams in one event loop
    (8 at once), storage calls handed to ``asyncio.to_thread`` or made inline in the loop."""
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    from mix_provider.archive import ExportSpec
    from mix_provider.archive.export import TranscriptWriter
    from mix_provider.hooks.mix import MixHook

    spec = ExportSpec("jsonl", "gzip")
    base = ObjectStoragePath(f"file://{out}")

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args) if inline else await asyncio.to_thread(fn, *args)

    async def one(hook: MixHook, slots: asyncio.Semaphore, sid: str) -> None:
        async with slots:
            writer = TranscriptWriter(sid, base / f"{sid}{spec.extension}", spec)
            try:
                async with hook.aopen_export(sid) as chunks:
                    async for chunk in chunks:
                        await call(writer.feed, chunk)
                await call(writer.finish)
                await call(writer.commit)
            except BaseException:
                writer.abort()
                raise

    async def main() -> None:
        hook = MixHook(MIX_CONN_ID)
        slots = asyncio.Semaphore(8)
        await hook.aclient()
        try:
            await asyncio.gather(*(one(hook, slots, sid) for sid in ids))
        finally:
            await hook.aclose()

    asyncio.run(main())


VARIANTS: dict[str, Callable[[list[str], Path, str], None]] = {
    "archive operator (8 threads)": archive_operator,
    "mapped MixExportSessionOperator": mapped_exports,
    "archiver alone, 8 threads": lambda ids, out, tag: archiver(ids, out),
    "archiver alone, 1 thread": lambda ids, out, tag: archiver(ids, out, concurrency=1),
    "asyncio 8, storage to_thread": lambda ids, out, tag: asyncio_engine(ids, out, inline=False),
    "asyncio 8, storage inline": lambda ids, out, tag: asyncio_engine(ids, out, inline=True),
}
REFERENCE = "archive operator (8 threads)"
MAPPED = "mapped MixExportSessionOperator"


def measure(home: Path, ids: list[str], mapped_ids: list[str], rounds: int) -> dict[str, float]:
    """Best seconds per session of every variant, the variants interleaved in each round."""
    best = dict.fromkeys(VARIANTS, float("inf"))
    for round_ in range(rounds):
        for index, (name, variant) in enumerate(VARIANTS.items()):
            chosen = mapped_ids if name == MAPPED else ids
            out = home / f"out-{round_}-{index}"
            started = time.perf_counter()
            variant(chosen, out, f"{round_}_{index}")
            best[name] = min(best[name], (time.perf_counter() - started) / len(chosen))
            shutil.rmtree(out)
    return best


def main(argv: list[str]) -> int:
    """Seed the server, run every variant ``--rounds`` times and print sessions/s and ratios."""
    options = parser(__doc__)
    options.add_argument("--sessions", type=int, default=200)
    options.add_argument("--mapped-sessions", type=int, default=40, help="sessions of the (slow) mapped variant")
    options.add_argument("--messages", type=int, default=20)
    options.add_argument("--bytes", type=int, default=2048)
    options.add_argument("--rounds", type=int, default=3)
    args = options.parse_args(argv)
    sessions, mapped, rounds = (20, 4, 1) if args.quick else (args.sessions, args.mapped_sessions, args.rounds)

    print(f"archive operator vs mapped exports; {machine()}", flush=True)
    with airflow_home("mix-bench-airflow-") as home:
        prepare_airflow()
        with mix_server(home / "mix-data") as server:
            ids = seed_sessions(server, sessions, args.messages, args.bytes)
            archive_operator(ids[:2], home / "warmup", "warmup")  # dag.test()'s one-off start-up, untimed
            best = measure(home, ids, ids[:mapped], rounds)
    size = args.messages * args.bytes / 1024
    rows = [
        (name, f"{1 / per_session:.1f}", f"{size / per_session:.0f}", f"{per_session / best[REFERENCE]:.2f}x")
        for name, per_session in best.items()
    ]
    print_table(
        f"sessions of {args.messages} messages x {args.bytes} B (~{size:.0f} KiB); best of {rounds} rounds",
        ["variant", "sessions/s", "KiB/s", "time per session vs archive op"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
