"""Idle verdict in a session with callbacks: time from a run's final reply to the first poll that
finds the session idle, judged without and with the session's callbacks, side by side.

    .venv/bin/python benchmarks/idle_callbacks.py [--quick] [--sessions 5]

Each session has a ``send_message`` and a ``bash_script`` callback on ``bash``; one message runs
``bash``, the callbacks run inside the run (the current local server generation), and the agent
answers the injected message in the same run. Both contenders poll every session every 0.1 s:
``is_idle`` of the scanned transcript without the callbacks (as before issue 24's follow-up) and
with them (``TurnKey.of_callbacks``, as ``MixSessionIdleSensor`` does). Lag = the poll's wall time
minus the final reply's ``updatedAt`` (whole seconds on this server: +-1 s).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from _common import MIX_CONN_ID, airflow_home, median, mix_server, parser, print_table

CALLBACKS = [
    {"type": "send_message", "toolName": "bash", "name": "nudge", "messageContent": "Please summarize"},
    {"type": "bash_script", "toolName": "bash", "name": "audit", "bashCommand": "echo audited"},
]
WITHOUT, WITH = "is_idle without the callbacks", "is_idle with the session's callbacks"
GIVE_UP_S = 90.0


def lags(server: Any, sessions: int) -> dict[str, list[float]]:
    """Each contender's lag per session."""
    import httpx

    from mix_provider.client.turns import TurnKey, is_idle
    from mix_provider.hooks.mix import MixHook

    hook = MixHook(MIX_CONN_ID)
    with httpx.Client(base_url=server.base_url) as http:
        ids = [
            http.post("/api/sessions", json={"title": "idle", "callbacks": CALLBACKS}).json()["id"]
            for _ in range(sessions)
        ]
        keys = {sid: TurnKey.of_callbacks(hook.get_session(sid).callbacks) for sid in ids}
        for sid in ids:
            http.post(f"/api/sessions/{sid}/messages", json={"text": "go [[tool:bash:ls]] [[delay:600]]"})
        seen: dict[str, dict[str, float]] = {WITHOUT: {}, WITH: {}}
        give_up = time.time() + GIVE_UP_S
        while any(len(found) < sessions for found in seen.values()) and time.time() < give_up:
            for sid in ids:
                if sid not in seen[WITHOUT] and is_idle(hook.scan_transcript(sid)):
                    seen[WITHOUT][sid] = time.time()
                if sid not in seen[WITH] and is_idle(hook.scan_transcript(sid, keys[sid]), key=keys[sid]):
                    seen[WITH][sid] = time.time()
            time.sleep(0.1)
        final = {sid: _final_at(http, sid) for sid in ids}
    return {name: [found[sid] - final[sid] for sid in found] for name, found in seen.items()}


def _final_at(http: Any, session_id: str) -> float:
    last = http.get(f"/api/sessions/{session_id}/export").json()["messages"][-1]
    return datetime.fromisoformat(last["updatedAt"]).timestamp()


def main() -> None:
    args = parser(__doc__)
    args.add_argument("--sessions", type=int, default=5)
    options = args.parse_args()
    sessions = 2 if options.quick else options.sessions
    with airflow_home("mix-bench-idle-") as home, mix_server(home / "mix-data") as server:
        result = lags(server, sessions)
    base = median(result[WITH]) if result[WITH] else float("nan")
    rows = [
        (
            name,
            len(values),
            f"{median(values):.2f}" if values else "-",
            f"{median(values) / base:.0f}x" if values else "-",
        )
        for name, values in result.items()
    ]
    print_table(
        f"idle verdict after the final reply; {sessions} sessions with callbacks, polled every 0.1 s",
        ["contender", "sessions idle", "median lag s", "vs with callbacks"],
        rows,
    )


if __name__ == "__main__":
    main()
