"""A wait on a large transcript reads it streamed: a 50 MiB transcript adds well under 16 MiB of Python
allocations, in the trigger (async) and in a worker's blocking wait alike.

Each wait runs in a fresh interpreter (this file as a script) after a warm-up wait, measured with
tracemalloc from just before the wait to its end. The reply takes a second, so the wait both checks
the transcript at its start and reads it again after ``complete``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import tracemalloc
from typing import Any

import pytest

MESSAGE_BYTES = 64 * 1024
MESSAGES = 50 * 1024 * 1024 // MESSAGE_BYTES
LIMIT = 16 * 1024 * 1024


def _measure(mode: str, session_id: str) -> dict[str, Any]:
    """Send a slow message, then wait for its reply the ``mode`` way under tracemalloc; the figures."""
    from mix_provider.client import TurnKey
    from mix_provider.client.usage import TurnBaseline
    from mix_provider.hooks.mix import MixHook
    from mix_provider.triggers.message import MixMessageTrigger

    hook = MixHook()
    text = f"{mode} [[delay:1000]]"
    baseline = TurnBaseline.of(hook.get_session(session_id))
    key = TurnKey.of(baseline.user_messages, text)
    hook.send_message(session_id, text, turn=key)
    tracemalloc.start()
    if mode == "worker":
        reply = hook.wait_for_reply(session_id, key, timeout=60).text
    else:
        trigger = MixMessageTrigger(session_id, baseline, time.time() + 60, turn=key.to_json())
        reply = asyncio.run(anext(trigger.run())).payload["reply"]  # type: ignore[arg-type]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    hook.close()
    return {"peak": peak, "reply": reply}


def _child(mode: str, warmup: str, session_id: str) -> None:
    _measure(mode, warmup)
    figures = _measure(mode, session_id)
    print(json.dumps(figures), flush=True)
    print(f"{mode}: {figures['peak'] / 2**20:.2f} MiB traced", file=sys.stderr)


def _spawn(mode: str, warmup: str, session_id: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, mode, warmup, session_id],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["trigger", "worker"])
def test_a_wait_on_a_50_mib_transcript_adds_under_16_mib(mix_server: Any, mode: str) -> None:
    warmup = str(mix_server.seed_large_session(title="warm-up", messages=4, message_bytes=1024)["id"])
    seeded = mix_server.seed_large_session(title="50 MiB", messages=MESSAGES, message_bytes=MESSAGE_BYTES)
    figures = _spawn(mode, warmup, str(seeded["id"]))
    print(f"{mode}: {figures['peak'] / 2**20:.2f} MiB traced")
    assert figures["reply"] == f"You said: {mode}"
    assert figures["peak"] < LIMIT, f"{figures['peak'] / 2**20:.1f} MiB traced for a 50 MiB transcript"


if __name__ == "__main__":
    _child(*sys.argv[1:4])
