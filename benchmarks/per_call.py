"""Per-call cost: ``get session`` and ``list sessions`` through raw httpx (the floor), MixHook,
mix-python-sdk and Airflow's HttpHook, against the local Mix server on loopback.

    .venv/bin/python benchmarks/per_call.py [--quick] [--calls 2000] [--batch 1] [--sessions 20] [--budget 6]
                                            [--profile]

Every contender uses one warm keep-alive client and parses the answer: the floor with ``json.loads``,
MixHook and the SDK into pydantic models, HttpHook with ``response.json()``. The contenders take
turns in rounds of ``--batch`` calls, the order rotating each round, so machine load hits all alike.
Per contender: the median over rounds of the wall time per call, of this process's CPU time per
call (the client's share; the server runs in another process), and of the CPU time per call with
no server at all (``httpx.MockTransport`` replaying the server's real answers: the client's own
cost, free of server and socket noise), each with its ratio to the floor. ``--profile`` prints a
cProfile of MixHook's ``get_session`` on the mock transport. Each of the four measurements stops
after ``--budget`` seconds (at least 100 rounds): a slow machine gets fewer calls, not a longer run.
"""

from __future__ import annotations

import cProfile
import json
import pstats
import sys
from collections.abc import Callable
from typing import Any

import httpx

from _common import (
    MIX_CONN_ID,
    airflow_home,
    interleave,
    machine,
    median,
    mix_server,
    parser,
    print_table,
    set_connection,
)

HTTP_CONN_ID = "http_bench"
FLOOR = "raw httpx + json.loads"
HOOK = "MixHook (pydantic models)"
SDK = "mix-python-sdk"
#: Rounds every measurement runs, whatever its time budget.
MIN_ROUNDS = 100

Op = Callable[[], Any]


def contenders(
    base_url: str, session_id: str, transport: httpx.BaseTransport | None = None
) -> tuple[dict[str, Op], dict[str, Op], list[Any]]:
    """The ``get session`` and ``list sessions`` callables of every contender, and what to close.

    With ``transport`` (a mock), the httpx-based contenders only: HttpHook speaks ``requests``.
    """
    from airflow.providers.http.hooks.http import HttpHook
    from mix_python_sdk import Mix
    from requests import Request

    from mix_provider.hooks.mix import MixHook
    from mix_provider.models import SESSION_LIST, SessionData

    raw = httpx.Client(base_url=base_url, transport=transport)
    hook = MixHook(MIX_CONN_ID, transport=transport)
    sdk = Mix(server_url=base_url, client=httpx.Client(transport=transport))
    get_path, list_path = f"/api/sessions/{session_id}", "/api/sessions"

    def raw_get(path: str) -> bytes:
        response = raw.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: {response.status_code}")
        return response.content

    get_ops: dict[str, Op] = {
        FLOOR: lambda: json.loads(raw_get(get_path)),
        "raw httpx + pydantic": lambda: SessionData.model_validate_json(raw_get(get_path)),
        HOOK: lambda: hook.get_session(session_id),
        SDK: lambda: sdk.sessions.get(id=session_id),
    }
    list_ops: dict[str, Op] = {
        FLOOR: lambda: json.loads(raw_get(list_path)),
        "raw httpx + pydantic": lambda: SESSION_LIST.validate_json(raw_get(list_path)),
        HOOK: hook.list_sessions,
        SDK: sdk.sessions.list,
    }
    closables: list[Any] = [raw, hook, sdk.sdk_configuration.client]
    if transport is not None:
        return get_ops, list_ops, closables
    http_hook = HttpHook(method="GET", http_conn_id=HTTP_CONN_ID)
    session = http_hook.get_conn()

    def http_hook_warm(path: str) -> Any:
        prepped = session.prepare_request(Request("GET", http_hook.url_from_endpoint(path)))
        return http_hook.run_and_check(session, prepped, {}).json()

    get_ops["HttpHook, one Session"] = lambda: http_hook_warm(get_path)
    get_ops["HttpHook.run (Session per call)"] = lambda: http_hook.run(get_path).json()
    list_ops["HttpHook, one Session"] = lambda: http_hook_warm(list_path)
    list_ops["HttpHook.run (Session per call)"] = lambda: http_hook.run(list_path).json()
    return get_ops, list_ops, [*closables, session]


def replaying(base_url: str, paths: list[str]) -> httpx.MockTransport:
    """A transport answering each of ``paths`` with the server's real answer, without a server."""
    with httpx.Client(base_url=base_url) as client:
        answers = {path: client.get(path) for path in paths}

    def answer(request: httpx.Request) -> httpx.Response:
        real = answers[request.url.path]
        return httpx.Response(real.status_code, headers=real.headers, content=real.content)

    return httpx.MockTransport(answer)


def batched(op: Op, size: int) -> Op:
    """``op`` called ``size`` times."""

    def run() -> None:
        for _ in range(size):
            op()

    return run


def measure(ops: dict[str, Op], calls: int, batch: int, budget_s: float) -> tuple[dict[str, tuple[float, float]], int]:
    """Median wall and client-CPU seconds per call of each contender, over interleaved rounds of ``batch``
    calls (``calls`` per contender at most, fewer once ``budget_s`` has passed); and the rounds run."""
    for op in ops.values():  # warm every client, pool and code path
        batched(op, 20)()
    samples = interleave(
        {name: batched(op, batch) for name, op in ops.items()},
        max(1, calls // batch),
        budget_s=budget_s,
        min_rounds=MIN_ROUNDS,
    )
    figures = {
        name: (median([s.wall for s in runs]) / batch, median([s.cpu for s in runs]) / batch)
        for name, runs in samples.items()
    }
    return figures, len(samples[FLOOR])


def table(title: str, live: dict[str, tuple[float, float]], alone: dict[str, tuple[float, float]]) -> None:
    """Print, per contender: wall and client CPU per call against the server, and CPU per call without a
    server, each with its ratio to the floor; then MixHook's ratios to the SDK."""

    def cells(figures: dict[str, tuple[float, float]], name: str, index: int) -> tuple[str, str]:
        if name not in figures:
            return "-", "-"
        value = figures[name][index]
        return f"{value * 1e6:.0f}", f"{value / figures[FLOOR][index]:.2f}x"

    rows = [(name, *cells(live, name, 0), *cells(live, name, 1), *cells(alone, name, 1)) for name in live]
    ratios = [f"{figures[HOOK][i] / figures[SDK][i]:.2f}x" for figures, i in ((live, 0), (live, 1), (alone, 1))]
    rows.append(("MixHook / mix-python-sdk", "", ratios[0], "", ratios[1], "", ratios[2]))
    header = ["contender", "wall us/call", "vs floor", "client CPU us", "vs floor", "no server: CPU us", "vs floor"]
    print_table(title, header, rows)


def profile(op: Op, calls: int) -> None:
    """Print the top of a cProfile of ``calls`` calls of ``op``."""
    profiler = cProfile.Profile()
    profiler.runcall(batched(op, calls))
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main(argv: list[str]) -> int:
    """Seed sessions, measure both operations, print the tables."""
    options = parser(__doc__)
    options.add_argument("--calls", type=int, default=2000, help="calls per contender and operation")
    options.add_argument("--batch", type=int, default=1, help="calls per contender per round")
    options.add_argument("--sessions", type=int, default=20, help="sessions in the listed server")
    options.add_argument(
        "--budget", type=float, default=6, help="seconds per measurement (4 of them), fewer calls when it runs out"
    )
    options.add_argument("--profile", action="store_true", help="cProfile MixHook.get_session afterwards")
    args = options.parse_args(argv)
    calls, batch = (200, 1) if args.quick else (args.calls, args.batch)

    print(f"per-call cost; {machine()}", flush=True)
    with airflow_home("mix-bench-per-call-") as home, mix_server(home / "mix-data") as server:
        set_connection(HTTP_CONN_ID, {"conn_type": "http", "host": server.base_url})
        ids = [
            server.seed_large_session(title=f"s{i}", messages=4, message_bytes=200)["id"] for i in range(args.sessions)
        ]
        get_ops, list_ops, closables = contenders(server.base_url, str(ids[0]))
        mock = replaying(server.base_url, [f"/api/sessions/{ids[0]}", "/api/sessions"])
        mock_get, mock_list, mock_closables = contenders(server.base_url, str(ids[0]), mock)
        for title, ops, alone in (
            ("GET /api/sessions/{id}", get_ops, mock_get),
            (f"GET /api/sessions ({args.sessions} sessions)", list_ops, mock_list),
        ):
            live, live_rounds = measure(ops, calls, batch, args.budget)
            no_server, alone_rounds = measure(alone, calls, batch, args.budget)
            table(
                f"{title}: {live_rounds * batch} calls per contender ({alone_rounds * batch} without a server), "
                f"rounds of {batch}, medians",
                live,
                no_server,
            )
        if args.profile:
            profile(mock_get[HOOK], calls)
        for closable in closables + mock_closables:
            closable.close()
    print(f"load after: {machine().rsplit('load ', 1)[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
