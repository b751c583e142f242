"""Triggerer at scale: N concurrent ``MixMessageTrigger.run()`` waits in one asyncio loop, as a
triggerer runs them, against the local server on loopback; and one wait on a 50 MiB transcript.

    .venv/bin/python benchmarks/triggerer_scale.py [--quick] [--waits 1000] [--spread 10] [--large-mib 50]
        [--provider DIR]   # the waits on other sources, e.g. ``git archive main provider | tar -x -C DIR``

**Waits.** A child process (the "triggerer") imports everything, runs one warm-up wait, then starts
N triggers on N fresh sessions (connection ``mix_default`` from ``AIRFLOW_CONN_MIX_DEFAULT``) and
timestamps each one's event (``time.monotonic()``). Once they are following, this process sends the
N messages from 8 threads, each with a scripted delay (``[[delay:MS]]``) chosen at send time so the
replies end at planned moments, after every message was sent: spread evenly over ``--spread``
seconds, or all at once (burst). The server records when it published each run's end (``GET /_devserver/run-ends``, CLOCK_MONOTONIC,
shared by the processes); lateness = the trigger's event time - that time. RSS growth is the child's
peak resident set while the waits run minus its resident set before they start.

**One large wait.** A 50 MiB transcript (800 messages of 64 KiB) gets one more message whose reply
takes a second; a fresh child waits for it after a warm-up wait, measuring its peak RSS growth: the
trigger (the streamed scan) and, for comparison, the detection it replaced (the whole export parsed
into models, at the start of the wait and again after ``complete``).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from _common import (
    PeakRSS,
    airflow_home,
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


# -- the triggerer child --------------------------------------------------------------------------


async def _wait(session_id: str, baseline: int, deadline: float) -> dict[str, Any]:
    """One trigger run to its event, as the triggerer consumes it (then the generator is closed)."""
    from mix_provider.triggers.message import MixMessageTrigger

    trigger = MixMessageTrigger(session_id, {"user_messages": baseline}, deadline, poll_interval=1.0)
    trigger.baseline.update(prompt_tokens=0, completion_tokens=0, cost=0.0)
    events = trigger.run()
    try:
        event = await anext(events)
    finally:
        await events.aclose()
    return {"t": time.monotonic(), **{k: event.payload.get(k) for k in ("status", "message_id", "message")}}


async def _triggerer(session_ids: list[str], baseline: int, warmup: str) -> None:
    """Warm up, start every wait, say ready, then report each wait and the memory figures."""
    baseline_of_warmup = _send(warmup, "warm up")
    await _wait(warmup, baseline_of_warmup, time.time() + 60)  # imports, the TLS context, the pool
    rss_before = status_kib("VmRSS") * 1024
    with PeakRSS() as peak:
        deadline = time.time() + 600
        tasks = [asyncio.create_task(_wait(sid, baseline, deadline)) for sid in session_ids]
        await asyncio.sleep(2 + len(session_ids) / 200)  # every stream open, every first check done
        print(json.dumps({"ready": True}), flush=True)
        results = await asyncio.gather(*tasks)
    cpu = os.times()
    print(json.dumps({"results": results, "rss_before": rss_before, "rss_peak": peak.peak, "cpu": cpu[0] + cpu[1]}))


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


def scenario(server: Any, waits: int, spread_s: float, warmup: str, env: dict[str, str]) -> dict[str, Any]:
    """Run ``waits`` triggers in one child while their replies end over ``spread_s`` seconds (0: at once)."""
    import psutil

    created = time.monotonic()
    session_ids = create_sessions(server.base_url, waits)
    lead = 1.0 + 2 * (time.monotonic() - created)  # sending them all takes about as long as creating them
    command = [sys.executable, __file__, "--triggerer", warmup, "0", *session_ids]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None
    if json.loads(child.stdout.readline() or "{}").get("ready") is not True:
        raise RuntimeError("the triggerer child did not start its waits")
    server_process = psutil.Process(server.pid)
    server_cpu = sum(server_process.cpu_times()[:2])
    start = time.monotonic() + lead  # every message sent before the first reply ends
    send_all(server.base_url, session_ids, lambda i: start + spread_s * i / max(waits - 1, 1))
    sent_late = time.monotonic() > start
    report = json.loads(child.stdout.read())
    child.wait()
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
            asyncio.run(_wait(session_id, key.after_user_messages, time.time() + 120))
        else:  # what the wait did before: the whole export into models, twice per turn
            for _ in range(2):
                finished_reply(hook.client.execute(ops.export_session(session_id)).messages, key)
    hook.close()
    return {"before": before, "peak": peak.peak}


def large_rows(server: Any, mib: int, warmup: str, env: dict[str, str]) -> list[tuple[str, ...]]:
    """One fresh child per contender, each waiting once on the seeded transcript (after a warm-up)."""
    seeded = server.seed_large_session(
        title=f"{mib} MiB", messages=mib * MIB // LARGE_MESSAGE_BYTES, message_bytes=LARGE_MESSAGE_BYTES
    )
    rows = []
    names = {"scan": "MixMessageTrigger (streamed scan)", "models": "whole export into models, twice (emulated)"}
    for contender, name in names.items():
        command = [sys.executable, __file__, "--large", contender, warmup, str(seeded["id"])]
        done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
        got = json.loads(done.stdout.strip().splitlines()[-1])
        growth = (got["peak"] - got["before"]) / MIB
        rows.append((name, f"{mib}", f"{got['before'] / MIB:.0f}", f"{got['peak'] / MIB:.0f}", f"{growth:.1f}"))
    return rows


def _children(argv: list[str]) -> int | None:
    """Run a child role if ``argv`` names one; its exit status."""
    if argv[:1] == ["--triggerer"]:
        asyncio.run(_triggerer(argv[3:], int(argv[2]), argv[1]))
        return 0
    if argv[:1] == ["--large"]:
        _large_wait(argv[1], argv[2])
        print(json.dumps(_large_wait(argv[1], argv[3])))
        return 0
    return None


def main(argv: list[str]) -> int:
    """Both scenarios of N waits, then the large-transcript wait; print the tables."""
    if (status := _children(argv)) is not None:
        return status
    options = parser(__doc__)
    options.add_argument("--waits", type=int, default=1000)
    options.add_argument("--spread", type=float, default=10.0, help="seconds over which replies end")
    options.add_argument("--large-mib", type=int, default=50)
    options.add_argument("--provider", help="run the waiting children on the mix_provider sources in this directory")
    args = options.parse_args(argv)
    waits, large_mib = (100, 8) if args.quick else (args.waits, args.large_mib)

    print(f"triggerer at scale; {machine()}; provider {args.provider or 'this checkout'}", flush=True)
    rows = []
    with (
        airflow_home("mix-bench-triggerer-") as home,
        server_data_dir(home, 1 << 30) as data,
        mix_server(data) as server,
    ):
        os.environ["AIRFLOW_CONN_MIX_DEFAULT"] = json.dumps({"conn_type": "mix", "host": server.base_url})
        env = os.environ | ({"PYTHONPATH": os.path.abspath(args.provider)} if args.provider else {})
        warmup = create_sessions(server.base_url, 1)[0]
        for name, spread in ((f"spread over {args.spread:g} s", args.spread), ("burst (all at once)", 0.0)):
            got = scenario(server, waits, spread, warmup, env)
            late = got["late"] or [float("nan")]
            rows.append(
                (
                    name,
                    f"{got['ok']}/{waits}",
                    f"{got['growth'] / MIB:.0f}",
                    f"{got['growth'] / waits / 1024:.0f}",
                    *(f"{value * 1000:.0f}" for value in (percentile(late, 0.5), percentile(late, 0.95), max(late))),
                    f"{got['cpu']:.1f} / {got['server_cpu']:.1f}",
                    loadavg().split()[0],
                )
            )
            if got["sent_late"]:
                print(f"{name}: the sends outlasted the lead time: the first replies ended while sending", flush=True)
            if got["failed"]:
                print(f"{name}: failed waits, e.g. {got['failed']}", flush=True)
        large = large_rows(server, large_mib, warmup, env)
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
            "CPU s triggerer / server",
            "load",
        ],
        rows,
    )
    print_table(
        "one wait on a large transcript: peak RSS growth of the waiting process",
        ["contender", "transcript MiB", "baseline RSS MiB", "peak RSS MiB", "growth MiB"],
        large,
    )
    print(f"load after: {loadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
