"""The session-finished watcher and the idle sensor/trigger in a session whose callbacks run in-run.

On the current local server generation (``callbacks/executor.go`` ``Execute``), a ``send_message``
callback stores a ``user`` message the agent answers in the same run, and every callback stores a
``tool`` message with its ``CallbackResult``. Read without the session's callbacks, the injected
message looks like a new run and the run that caused it like one stalled after its tools (idle only
after ``STALLED_AFTER``, 30 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from typing import Any

from mix_provider.sensors.session import MixSessionIdleSensor
from mix_provider.triggers.idle import MixSessionIdleTrigger
from mix_provider.triggers.session import MixSessionFinishedTrigger
from support.integration import MixAPI, final_reply

NUDGE = {"type": "send_message", "toolName": "bash", "name": "nudge", "messageContent": "Please summarize"}
AUDIT = {"type": "bash_script", "toolName": "bash", "name": "audit", "bashCommand": "echo audited"}
TEXT = "go [[tool:bash:ls]] [[delay:600]]"
QUIET = 1.0


def _final_stored_at(api: MixAPI, session_id: str) -> float:
    """When the run's final reply was stored (wall clock), from the transcript."""
    last = final_reply(api.wait_finished(session_id, 2))
    assert last["role"] == "assistant" and last["finishReason"] == "end_turn"
    return datetime.fromisoformat(last["updatedAt"]).timestamp()


async def test_the_watcher_reports_one_finished_turn_for_one_message_with_a_send_message_callback(
    api: MixAPI, mix_server: Any
) -> None:
    session_id = api.create_session("watched callbacks", callbacks=[NUDGE, AUDIT])["id"]
    events = MixSessionFinishedTrigger(session_id, poll_interval=0.1).run()
    try:
        first = asyncio.ensure_future(anext(events))
        await asyncio.sleep(0.5)  # the trigger took its "before" snapshot
        assert not first.done()
        api.send(session_id, TEXT)
        event = (await asyncio.wait_for(first, 20)).payload
        messages = api.export(session_id)["messages"]
        assert [m["role"] for m in messages].count("user") == 2, "the callback injected its message"
        assert event == {"session_id": session_id, "message_id": final_reply({"messages": messages})["id"]}
        pending = asyncio.ensure_future(anext(events))
        await asyncio.sleep(QUIET)
        assert not pending.done(), "one sent message is one finished turn, its injected message included"
        pending.cancel()  # ends the generator
        with contextlib.suppress(asyncio.CancelledError):
            await pending
    finally:
        await events.aclose()


def test_the_idle_sensor_fires_promptly_after_the_final_reply(api: MixAPI) -> None:
    session_id = api.create_session("idle callbacks", callbacks=[NUDGE, AUDIT])["id"]
    api.send(session_id, TEXT)
    api.wait_running(session_id)
    sensor = MixSessionIdleSensor(task_id="idle", session_id=session_id, poke_interval=0.1, timeout=25)
    while not sensor.poke({}):
        time.sleep(0.1)
    lag = time.time() - _final_stored_at(api, session_id)
    assert lag < 5, f"idle {lag:.1f} s after the final reply: the injected message was taken for a new run"


async def test_the_idle_trigger_fires_promptly_after_the_final_reply(api: MixAPI) -> None:
    session_id = api.create_session("idle trigger callbacks", callbacks=[NUDGE])["id"]
    api.send(session_id, TEXT)
    api.wait_running(session_id)
    events = MixSessionIdleTrigger(session_id, poll_interval=0.1).run()
    try:
        event = (await asyncio.wait_for(anext(events), 25)).payload
    finally:
        await events.aclose()
    assert event == {"status": "idle", "session_id": session_id}
    lag = time.time() - _final_stored_at(api, session_id)
    assert lag < 5, f"idle {lag:.1f} s after the final reply"
