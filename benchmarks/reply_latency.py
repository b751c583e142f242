"""Reply latency: from the server's ``complete`` event to the waiting MixSendMessageOperator returning,
over SSE versus the polling fallback, and versus a peer that polls the messages every second.

    .venv/bin/python benchmarks/reply_latency.py [--quick] [--rounds 8]

Every message carries a scripted delay (``[[delay:MS]]``: the server streams the reply over MS ms,
stores it and publishes ``complete``). The delays are spread over 100-1100 ms across rounds so the
pollers are caught at every phase of their 1 s interval. A separate listener process keeps one SSE
stream per session open and timestamps each top-level ``complete`` as it arrives (CLOCK_MONOTONIC,
shared by the processes); latency = the contender's return time - that timestamp. The contenders
take turns each round, the order rotating.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from _common import (
    MIX_CONN_ID,
    airflow_home,
    execute,
    interleave,
    machine,
    median,
    mix_server,
    parser,
    percentile,
    print_table,
)

SSE = "MixSendMessageOperator, SSE"
POLL = "MixSendMessageOperator, polling fallback (1 s)"
PEER = "peer: mix-python-sdk polling messages every 1 s"
LISTEN_TIMEOUT_S = 30.0


# -- the listener process ----------------------------------------------------------------------


def listen(base_url: str, session_ids: list[str]) -> None:
    """Print ``{"message", "t"}`` for every top-level ``complete`` on the sessions' streams, forever."""
    import httpx
    from httpx_sse import EventSource

    client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(5.0, read=None))
    connected = threading.Barrier(len(session_ids) + 1)
    out = threading.Lock()

    def follow(session_id: str) -> None:
        with client.stream("GET", "/stream", params={"sessionId": session_id}) as response:
            for event in EventSource(response).iter_sse():
                arrived = time.perf_counter()
                if event.event == "connected":
                    connected.wait()
                    continue
                data = json.loads(event.data) if event.event == "complete" else {}
                if data.get("messageId") and not data.get("parentToolCallId"):
                    with out:
                        print(json.dumps({"message": data["messageId"], "t": arrived}), flush=True)

    for session_id in session_ids:
        threading.Thread(target=follow, args=(session_id,), daemon=True).start()
    connected.wait()
    print(json.dumps({"ready": True}), flush=True)
    threading.Event().wait()


class Listener:
    """The listener subprocess and the ``complete`` arrival times it reported, by message id."""

    def __init__(self, base_url: str, session_ids: list[str]) -> None:
        command = [sys.executable, __file__, "--listen", base_url, *session_ids]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
        self.completed: dict[str, float] = {}
        self._changed = threading.Condition()
        assert self._process.stdout is not None
        if json.loads(self._process.stdout.readline() or "{}").get("ready") is not True:
            raise RuntimeError("the SSE listener did not connect")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            item = json.loads(line)
            with self._changed:
                self.completed[item["message"]] = item["t"]
                self._changed.notify_all()

    def completed_at(self, message_id: str) -> float:
        """When the listener saw ``message_id`` complete (waits for its report)."""
        with self._changed:
            if not self._changed.wait_for(lambda: message_id in self.completed, LISTEN_TIMEOUT_S):
                raise RuntimeError(f"the listener never saw message {message_id} complete")
            return self.completed[message_id]

    def close(self) -> None:
        """Stop the listener process."""
        self._process.terminate()
        self._process.wait()


# -- the contenders: each returns (message id, return time) ----------------------------------------


def operator_turn(session_id: str, text: str) -> tuple[str, float]:
    """MixSendMessageOperator, blocking (not deferred): send, wait, return."""
    from mix_provider.operators.message import MixSendMessageOperator

    task = MixSendMessageOperator(
        task_id="turn", mix_conn_id=MIX_CONN_ID, session_id=session_id, text=text, deferrable=False
    )
    try:
        result = execute(task)
        return str(result["message_id"]), time.perf_counter()
    finally:
        task.hook.close()


def peer_turn(sdk: Any, session_id: str, text: str) -> tuple[str, float]:
    """The naive peer: send with the SDK, then list the messages every second until the reply is there."""
    before = len(sdk.messages.list_session(id=session_id))
    sdk.messages.send(id=session_id, text=text)
    while True:
        time.sleep(1.0)
        messages = sdk.messages.list_session(id=session_id)
        if len(messages) >= before + 2 and messages[-1].role == "assistant":
            return str(messages[-1].id), time.perf_counter()


def delays(rounds: int) -> list[int]:
    """Scripted reply delays in ms, spread over 100-1100 (golden-ratio steps), one per round."""
    return [100 + int((index * 0.618034 % 1.0) * 1000) for index in range(rounds)]


def timer_check(samples: int = 25, seconds: float = 0.02) -> str:
    """How late ``time.sleep(20 ms)`` wakes up here: median and max overshoot (VMs can be far off)."""
    late = []
    for _ in range(samples):
        started = time.perf_counter()
        time.sleep(seconds)
        late.append(time.perf_counter() - started - seconds)
    return (
        f"time.sleep(20 ms) wakes {median(late) * 1000:.1f} ms late at the median, {max(late) * 1000:.1f} ms at worst"
    )


def main(argv: list[str]) -> int:
    """Create one session per contender, run the rounds interleaved, print medians and p95."""
    if argv[:1] == ["--listen"]:
        listen(argv[1], argv[2:])
        return 0
    options = parser(__doc__)
    options.add_argument("--rounds", type=int, default=8)
    options.add_argument("--verbose", action="store_true", help="print every turn and the client's warnings")
    args = options.parse_args(argv)
    rounds = 4 if args.quick else args.rounds
    # the fallback's and the missing task state's warnings, expected here
    logging.getLogger("mix_provider").setLevel(logging.INFO if args.verbose else logging.ERROR)

    from mix_python_sdk import Mix

    print(f"reply latency; {machine()}; {timer_check()}", flush=True)
    with airflow_home("mix-bench-latency-") as home, mix_server(home / "mix-data") as server:
        sdk = Mix(server_url=server.base_url)
        sessions = {
            name: sdk.sessions.create(title=name, browser_mode="local-browser-service").id for name in (SSE, POLL, PEER)
        }
        listener = Listener(server.base_url, list(sessions.values()))
        scripted = iter(delays(rounds * 3))
        finished: dict[str, list[tuple[str, float]]] = {name: [] for name in sessions}

        def turn(name: str, run: Callable[[str, str], tuple[str, float]]) -> Callable[[], None]:
            def go() -> None:
                if name == POLL:  # the stream cannot open: the operator falls back to polling
                    server.add_fault("reset_before", method="GET", path="/stream")
                delay = next(scripted)
                finished[name].append(run(sessions[name], f"ping [[delay:{delay}]]"))
                if args.verbose:
                    message, returned = finished[name][-1]
                    print(f"{name}: delay {delay} ms, latency {returned - listener.completed_at(message):.4f} s")

            return go

        interleave(
            {
                SSE: turn(SSE, operator_turn),
                POLL: turn(POLL, operator_turn),
                PEER: turn(PEER, lambda sid, text: peer_turn(sdk, sid, text)),
            },
            rounds,
        )
        latency = {
            name: [returned - listener.completed_at(message) for message, returned in done]
            for name, done in finished.items()
        }
        listener.close()
    rows = [
        (name, f"{median(ms) * 1000:.1f}", f"{percentile(ms, 0.95) * 1000:.1f}", f"{max(ms) * 1000:.1f}")
        for name, ms in latency.items()
    ]
    print_table(
        f"time from the server's complete event to the waiter returning; {rounds} rounds, delays 100-1100 ms",
        ["contender", "median ms", "p95 ms", "max ms"],
        rows,
    )
    print(f"load after: {machine().rsplit('load ', 1)[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
