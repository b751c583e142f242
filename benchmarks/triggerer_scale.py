"""Triggerer at scale: N concurrent ``MixMessageTrigger.run()`` waits in one asyncio loop, as a
triggerer runs them, against the local server on loopback; and one wait on a 50 MiB transcript.

    .venv/bin/python benchmarks/triggerer_scale.py [--quick] [--waits 1000] [--spread 10] [--large-mib 50]
        [--only operators,spread,burst,large] [--profile DIR]
        [--provider DIR]   # also every child on other sources, side by side: e.g. a worktree's ``provider``

**Operator path.** A child process (the "triggerer") imports everything and runs one warm-up wait.
Then, as N ``MixSendMessageOperator(deferrable=True)`` tasks of a mapped task would, it runs each
operator's ``execute()`` on a fresh session (connection ``mix_default`` from
``AIRFLOW_CONN_MIX_DEFAULT``) up to its deferral, and keeps the trigger's classpath and kwargs
through JSON, as the metadata DB does. It then rebuilds every trigger from them and runs all N in
one loop at once: each opens its stream and sends its own message, whose reply is scripted
(``[[delay:MS]]``) to end 3 to 3 + ``--spread`` seconds after it reached the server. "CPU ms / turn"
is the child's CPU time from the first trigger's start to the last event, over N.

**Waits.** The same child starts N triggers waiting for messages sent by someone else; once they
follow their streams, this process sends the N messages from 8 threads, each with a scripted delay
chosen at send time so the replies end at planned moments, after every message was sent: spread
evenly over ``--spread`` seconds, or all at once (burst).

In every scenario, the server records when it published each run's end (``GET /_devserver/run-ends``,
CLOCK_MONOTONIC, shared by the processes); lateness = the trigger's event time (``time.monotonic()``)
- that time. RSS growth is the child's peak resident set while the waits run minus its resident set
before they start. ``--profile DIR`` runs the waits under cProfile (CPU time) into ``DIR/<part>.prof``.

**One large wait.** A 50 MiB transcript (800 messages of 64 KiB) gets one more message whose reply
takes a second; a fresh child waits for it after a warm-up wait, measuring its peak RSS growth: the
trigger (the streamed scan) and, for comparison, the detection it replaced (the whole export parsed
into models, at the start of the wait and again after ``complete``).
"""

from __future__ import annotations

import asyncio
import cProfile
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx

from _common import (
    PeakRSS,
    airflow_home,
    execute,
    loadavg,
    machine,
    mix_server,
    parser,
    percentile,
    print_table,
    server_data_dir,
    status_kib,
)

MIB = 1 << 20
LARGE_MESSAGE_BYTES = 64 * 1024
SEND_THREADS = 8
#: The earliest a reply may end after its send (the server needs a few events' worth of time).
MIN_DELAY_MS = 200
#: In the operator scenario, the earliest a reply ends after its message reached the server.
OPERATOR_FIRST_MS = 3000
#: The child profiles its waits into the file this variable names (``--profile``).
PROFILE_ENV = "MIX_BENCH_PROFILE"


# -- the triggerer child --------------------------------------------------------------------------


async def _run(trigger: Any) -> dict[str, Any]:
    """One trigger run to its event, as the triggerer consumes it (then the generator is closed)."""
    events = trigger.run()
    try:
        event = await anext(events)
    finally:
        await events.aclose()
    return {"t": time.monotonic(), **{k: event.payload.get(k) for k in ("status", "message_id", "message")}}


def _waiting(session_id: str, baseline: int, deadline: float) -> Any:
    """A trigger waiting for the reply to a message sent by someone else (this benchmark's parent)."""
    from mix_provider.triggers.message import MixMessageTrigger

    counts = {"user_messages": baseline, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
    return MixMessageTrigger(session_id, counts, deadline, poll_interval=1.0)


def _deferred(session_ids: list[str], first_ms: int, last_ms: int) -> list[tuple[str, dict[str, Any]]]:
    """What ``MixSendMessageOperator(deferrable=True)`` hands the triggerer for each session: the
    trigger's classpath and kwargs, through JSON as the metadata DB keeps them. Reply ``i`` is scripted
    to take from ``first_ms`` to ``last_ms`` after its message reaches the server."""
    from airflow.providers.common.compat.sdk import TaskDeferred

    from mix_provider.operators.message import MixSendMessageOperator

    serialized = []
    for index, session_id in enumerate(session_ids):
        delay = first_ms + (last_ms - first_ms) * index // max(len(session_ids) - 1, 1)
        text = f"turn {index} [[delay:{delay}]]"
        task = MixSendMessageOperator(task_id=f"turn_{index}", session_id=session_id, text=text, deferrable=True)
        try:
            execute(task)
        except TaskDeferred as deferred:
            serialized.append(json.loads(json.dumps(deferred.trigger.serialize())))
        finally:
            task.hook.close()
    return serialized


def _rebuilt(classpath: str, kwargs: dict[str, Any]) -> Any:
    """The trigger as a triggerer rebuilds it from its row: the class imported by path, called with the kwargs."""
    module, name = classpath.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(**kwargs)


async def _triggerer(role: str, warmup: str, args: list[str]) -> None:
    """Warm up, run every wait in one loop, then report each wait, the memory and the CPU figures.

    ``waits``: ``args`` are the sessions; say ready once every stream is open, for the parent to send.
    ``operators``: ``args`` are the reply windows then the sessions; the triggers send their own messages.
    """
    deadline = time.time() + 600
    await _run(_waiting(warmup, _send(warmup, "warm up"), deadline))  # imports, the TLS context, the pool
    rows = _deferred(args[2:], int(args[0]), int(args[1])) if role == "operators" else []
    rss_before = status_kib("VmRSS") * 1024
    with PeakRSS() as peak, _profiled(os.environ.get(PROFILE_ENV)):
        cpu = time.process_time()
        if role == "operators":
            print(json.dumps({"ready": True}), flush=True)
            tasks = [asyncio.create_task(_run(_rebuilt(classpath, kwargs))) for classpath, kwargs in rows]
        else:
            tasks = [asyncio.create_task(_run(_waiting(sid, 0, deadline))) for sid in args]
            await asyncio.sleep(2 + len(args) / 200)  # every stream open, every first check done
            print(json.dumps({"ready": True}), flush=True)
        results = await asyncio.gather(*tasks)
        cpu = time.process_time() - cpu
    print(json.dumps({"results": results, "rss_before": rss_before, "rss_peak": peak.peak, "cpu": cpu}))


@contextmanager
def _profiled(path: str | None) -> Iterator[None]:
    """Profile the block with cProfile into ``path`` (CPU time), if given."""
    if not path:
        yield
        return
    profile = cProfile.Profile(time.process_time)
    with profile:
        yield
    profile.dump_stats(path)


def _send(session_id: str, text: str) -> int:
    """Send ``text`` to the session (of ``mix_default``); its user message count before."""
    base_url = json.loads(os.environ["AIRFLOW_CONN_MIX_DEFAULT"])["host"]
    path = f"/api/sessions/{session_id}"
    with httpx.Client(base_url=base_url, timeout=60) as client:
        count = int(client.get(path).raise_for_status().json()["userMessageCount"])
        client.post(f"{path}/messages", json={"text": text}).raise_for_status()
    return count


# -- the parent: sessions, sends, run ends -----------------------------------------------------


def create_sessions(base_url: str, count: int) -> list[str]:
    """``count`` fresh sessions (8 requests at a time); their ids."""
    with httpx.Client(base_url=base_url, timeout=60) as client, ThreadPoolExecutor(SEND_THREADS) as pool:

        def one(index: int) -> str:
            body = {"title": f"wait {index}", "browserMode": "local-browser-service"}
            return str(client.post("/api/sessions", json=body).raise_for_status().json()["id"])

        return list(pool.map(one, range(count)))


def send_all(base_url: str, session_ids: list[str], end_at: Callable[[int], float]) -> None:
    """Send one message to each session, its reply scripted to end at ``end_at(index)`` (monotonic)."""
    with httpx.Client(base_url=base_url, timeout=60) as client, ThreadPoolExecutor(SEND_THREADS) as pool:

        def one(index: int) -> None:
            delay = max(MIN_DELAY_MS, round((end_at(index) - time.monotonic()) * 1000))
            body = {"text": f"wait {index} [[delay:{delay}]]"}
            client.post(f"/api/sessions/{session_ids[index]}/messages", json=body).raise_for_status()

        list(pool.map(one, range(len(session_ids))))


def scenario(server: Any, kind: str, waits: int, spread_s: float, warmup: str, env: dict[str, str]) -> dict[str, Any]:
    """Run ``waits`` triggers in one child; their figures.

    ``waits``: replies sent by this process end over ``spread_s`` seconds (0: at once) after the last
    send. ``operators``: the triggers send their own messages, whose replies end 3 to ``3 + spread_s``
    seconds after they reach the server.
    """
    import psutil

    created = time.monotonic()
    session_ids = create_sessions(server.base_url, waits)
    lead = 1.0 + 2 * (time.monotonic() - created)  # sending them all takes about as long as creating them
    window = [str(OPERATOR_FIRST_MS), str(OPERATOR_FIRST_MS + round(spread_s * 1000))] if kind == "operators" else []
    command = [sys.executable, __file__, "--triggerer", kind, warmup, *window, *session_ids]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None
    server_process = psutil.Process(server.pid)
    if json.loads(child.stdout.readline() or "{}").get("ready") is not True:
        raise RuntimeError("the triggerer child did not start its waits")
    server_cpu, sent_late = sum(server_process.cpu_times()[:2]), False
    if kind == "waits":
        start = time.monotonic() + lead  # every message sent before the first reply ends
        send_all(server.base_url, session_ids, lambda i: start + spread_s * i / max(waits - 1, 1))
        sent_late = time.monotonic() > start
    report = json.loads(child.stdout.read())
    if child.wait() != 0:
        raise RuntimeError(f"the triggerer child failed ({child.returncode})")
    ends = server.run_ends()
    results = report["results"]
    late = [r["t"] - ends[r["message_id"]] for r in results if r["status"] == "success"]
    return {
        "ok": len(late),
        "failed": [r for r in results if r["status"] != "success"][:3],
        "late": late,
        "growth": report["rss_peak"] - report["rss_before"],
        "cpu": report["cpu"],
        "server_cpu": sum(server_process.cpu_times()[:2]) - server_cpu,
        "sent_late": sent_late,
    }


def row(name: str, waits: int, got: dict[str, Any]) -> tuple[str, ...]:
    """A scenario's table row (and a line for what went wrong)."""
    if got["sent_late"]:
        print(f"{name}: the sends outlasted the lead time: the first replies ended while sending", flush=True)
    if got["failed"]:
        print(f"{name}: failed waits, e.g. {got['failed']}", flush=True)
    late = got["late"] or [float("nan")]
    return (
        name,
        f"{got['ok']}/{waits}",
        f"{got['growth'] / MIB:.0f}",
        f"{got['growth'] / waits / 1024:.0f}",
        *(f"{value * 1000:.0f}" for value in (percentile(late, 0.5), percentile(late, 0.95), max(late))),
        f"{got['cpu'] / waits * 1000:.1f}",
        f"{got['cpu']:.1f} / {got['server_cpu']:.1f}",
        loadavg().split()[0],
    )


# -- one wait on a large transcript --------------------------------------------------------------


def _large_wait(contender: str, session_id: str) -> dict[str, int]:
    """Send a slow message, then wait for its reply the ``contender`` way; RSS before and peak."""
    from mix_provider.client import TurnKey
    from mix_provider.client import operations as ops
    from mix_provider.client.turns import finished_reply
    from mix_provider.hooks.mix import MixHook

    hook = MixHook()
    key = TurnKey.of(hook.get_session(session_id).user_message_count, "large [[delay:1000]]")
    hook.send_message(session_id, "large [[delay:1000]]", turn=key)
    before = status_kib("VmRSS") * 1024
    with PeakRSS() as peak:
        if contender == "scan":
            asyncio.run(_run(_waiting(session_id, key.after_user_messages, time.time() + 120)))
        else:  # what the wait did before: the whole export into models, twice per turn
            for _ in range(2):
                finished_reply(hook.client.execute(ops.export_session(session_id)).messages, key)
    hook.close()
    return {"before": before, "peak": peak.peak}


def large_rows(server: Any, mib: int, warmup: str, envs: dict[str, dict[str, str]]) -> list[tuple[str, ...]]:
    """One fresh child per contender, each waiting once on the seeded transcript (after a warm-up)."""
    seeded = server.seed_large_session(
        title=f"{mib} MiB", messages=mib * MIB // LARGE_MESSAGE_BYTES, message_bytes=LARGE_MESSAGE_BYTES
    )
    rows = []
    contenders = [(f"{label}MixMessageTrigger (streamed scan)", "scan", env) for label, env in envs.items()]
    contenders.append(("whole export into models, twice (emulated)", "models", envs[""]))
    for name, contender, env in contenders:
        command = [sys.executable, __file__, "--large", contender, warmup, str(seeded["id"])]
        done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
        got = json.loads(done.stdout.strip().splitlines()[-1])
        growth = (got["peak"] - got["before"]) / MIB
        rows.append((name, f"{mib}", f"{got['before'] / MIB:.0f}", f"{got['peak'] / MIB:.0f}", f"{growth:.1f}"))
    return rows


def _children(argv: list[str]) -> int | None:
    """Run a child role if ``argv`` names one; its exit status."""
    if argv[:1] == ["--triggerer"]:
        asyncio.run(_triggerer(argv[1], argv[2], argv[3:]))
        return 0
    if argv[:1] == ["--large"]:
        _large_wait(argv[1], argv[2])
        print(json.dumps(_large_wait(argv[1], argv[3])))
        return 0
    return None


def _profile_env(directory: str | None, label: str, part: str) -> dict[str, str]:
    """The child's environment entry asking it to profile its waits, if ``--profile`` was given."""
    if not directory:
        return {}
    os.makedirs(directory, exist_ok=True)
    return {PROFILE_ENV: os.path.join(os.path.abspath(directory), f"{'before-' if label else ''}{part}.prof")}


def main(argv: list[str]) -> int:
    """The scenarios of N waits, then the large-transcript wait, for each provider tree; print the tables."""
    if (status := _children(argv)) is not None:
        return status
    options = parser(__doc__)
    options.add_argument("--waits", type=int, default=1000)
    options.add_argument("--spread", type=float, default=10.0, help="seconds over which replies end")
    options.add_argument("--large-mib", type=int, default=50)
    options.add_argument(
        "--provider", help="also run every child on the mix_provider sources in this directory, side by side"
    )
    options.add_argument("--only", help="the parts to run, of operators,spread,burst,large (default: all)")
    options.add_argument("--profile", metavar="DIR", help="profile each child's waits (cProfile) into DIR/*.prof")
    args = options.parse_args(argv)
    only = set((args.only or "operators,spread,burst,large").split(","))
    waits, large_mib = (100, 8) if args.quick else (args.waits, args.large_mib)
    trees = {"": None} | ({"before: ": os.path.abspath(args.provider)} if args.provider else {})

    print(f"triggerer at scale; {machine()}; provider {args.provider or 'this checkout'}", flush=True)
    rows, large = [], []
    scenarios = [
        (part, name, kind)
        for part, name, kind in (
            (
                "operators",
                f"operators, replies {OPERATOR_FIRST_MS / 1000:g}-{OPERATOR_FIRST_MS / 1000 + args.spread:g} s",
                "operators",
            ),
            ("spread", f"spread over {args.spread:g} s", "waits"),
            ("burst", "burst (all at once)", "waits"),
        )
        if part in only
    ]
    with (
        airflow_home("mix-bench-triggerer-") as home,
        server_data_dir(home, 1 << 30) as data,
        mix_server(data) as server,
    ):
        os.environ["AIRFLOW_CONN_MIX_DEFAULT"] = json.dumps({"conn_type": "mix", "host": server.base_url})
        envs = {label: os.environ | ({"PYTHONPATH": tree} if tree else {}) for label, tree in trees.items()}
        warmup = create_sessions(server.base_url, 1)[0]
        for index, (part, name, kind) in enumerate(scenarios):
            spread = 0.0 if part == "burst" else args.spread
            for label in sorted(envs, reverse=index % 2 == 1):  # the order alternates: load hits both alike
                env = envs[label] | _profile_env(args.profile, label, part)
                rows.append(row(label + name, waits, scenario(server, kind, waits, spread, warmup, env)))
        if "large" in only:
            large = large_rows(server, large_mib, warmup, envs)
    if rows:
        print_table(
            f"{waits} MixMessageTrigger waits in one asyncio loop; lateness = trigger event - server's run end",
            [
                "scenario",
                "succeeded",
                "RSS growth MiB",
                "KiB / wait",
                "p50 ms",
                "p95 ms",
                "max ms",
                "CPU ms / turn",
                "CPU s triggerer / server",
                "load",
            ],
            rows,
        )
    if large:
        print_table(
            "one wait on a large transcript: peak RSS growth of the waiting process",
            ["contender", "transcript MiB", "baseline RSS MiB", "peak RSS MiB", "growth MiB"],
            large,
        )
    print(f"load after: {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
