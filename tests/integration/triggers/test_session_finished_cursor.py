"""MixSessionFinishedTrigger keeps its cursor in the asset state store: a restart misses no turn."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from integration.triggers.test_session_finished_trigger import QUIET, _started
from mix_provider.triggers.cursor import CURSOR_KEY, WatchCursor
from mix_provider.triggers.session import MixSessionFinishedTrigger
from support.integration import MixAPI, final_reply, next_second


class FakeAssetState:
    """An asset state accessor in memory (``aget``/``aset``, as Airflow 3.3 gives an event trigger)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = value


def _trigger(session_id: str, store: Any) -> MixSessionFinishedTrigger:
    trigger = MixSessionFinishedTrigger(session_id, poll_interval=0.1)
    trigger.asset_state_store = store  # what the triggerer sets on a watched event trigger
    return trigger


async def test_turns_finished_while_no_triggerer_ran_are_reported_after_a_restart(api: MixAPI, mix_server: Any) -> None:
    store = FakeAssetState()
    session_id = api.create_session("watched across restarts")["id"]
    api.converse(session_id, "finished before the first start")

    events = _trigger(session_id, store).run()
    try:
        first = await _started(events, mix_server, f"/api/sessions/{session_id}")
        api.send(session_id, "reported before the restart")
        reported = (await asyncio.wait_for(first, 15)).payload["message_id"]
        pending = asyncio.ensure_future(anext(events))  # the triggerer reads on: the poll saves the cursor
        await asyncio.sleep(0.5)
        assert not pending.done()
        pending.cancel()  # the triggerer stops
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await pending
    finally:
        await events.aclose()
    saved = store.values[f"{CURSOR_KEY}:{session_id}"]
    assert reported in saved["reported"][session_id]

    next_second()  # sent through plain HTTP (no fence): its reply must not tie with the one before
    missed = final_reply(api.converse(session_id, "finished while no triggerer ran"))["id"]

    events = _trigger(session_id, store).run()  # a restarted triggerer runs the trigger again
    try:
        event = (await asyncio.wait_for(anext(events), 15)).payload
        assert event == {"session_id": session_id, "message_id": missed}
        pending = asyncio.ensure_future(anext(events))
        await asyncio.sleep(QUIET)
        assert not pending.done(), "nothing is reported twice"
        pending.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await pending
    finally:
        await events.aclose()


async def test_no_store_or_a_bad_cursor_starts_from_now() -> None:
    assert await WatchCursor(None, "*").load() is None
    store = FakeAssetState()
    store.values[f"{CURSOR_KEY}:*"] = {"seen": {"s": ["x"]}, "reported": {}}
    assert await WatchCursor(store, "*").load() is None
