"""MixSessionFinishedTrigger (for AssetWatcher) and MixSessionIdleSensor against the local server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from mix_provider.sensors.session import MixSessionIdleSensor
from mix_provider.triggers.session import MixSessionFinishedTrigger
from support.integration import MixAPI, final_reply

QUIET = 1.0  # seconds without an event that count as "nothing fired"


async def _next(events: AsyncIterator[Any], timeout: float = 15) -> dict[str, Any]:
    payload: dict[str, Any] = (await asyncio.wait_for(anext(events), timeout)).payload
    return payload


async def _started(events: AsyncIterator[Any], server: Any, polled: str) -> asyncio.Future[Any]:
    """Start waiting for the first event; return once the trigger polled ``polled`` twice (it took its
    first snapshot, then polled again), so what happens next is news to it."""
    before = server.request_count("GET", polled)
    first = asyncio.ensure_future(anext(events))
    deadline = time.monotonic() + 20
    while server.request_count("GET", polled) < before + 2:
        assert time.monotonic() < deadline, "the trigger never polled"
        await asyncio.sleep(0.05)
    assert not first.done(), "turns finished before the trigger started must not fire"
    return first


async def test_fires_once_per_new_turn_of_one_session(api: MixAPI, mix_server: Any) -> None:
    session_id = api.create_session("watched")["id"]
    api.converse(session_id, "finished before the trigger started")
    events = MixSessionFinishedTrigger(session_id, poll_interval=0.1).run()
    try:
        first = await _started(events, mix_server, f"/api/sessions/{session_id}")
        api.send(session_id, "first new turn")
        event = (await asyncio.wait_for(first, 15)).payload
        assert event == {"session_id": session_id, "message_id": _reply_id(api.export(session_id), "first new turn")}

        pending = asyncio.ensure_future(anext(events))  # cancelling a pending anext would end the generator
        await asyncio.sleep(QUIET)
        assert not pending.done(), "a finished turn fires once"

        api.send(session_id, "second new turn [[tool]]")
        event = (await asyncio.wait_for(pending, 15)).payload
        assert event["message_id"] == _reply_id(api.wait_finished(session_id, 3), "second new turn")
    finally:
        await events.aclose()


async def test_watching_every_session_reports_new_ones(api: MixAPI, mix_server: Any) -> None:
    busy = api.create_session("already there")["id"]
    api.converse(busy, "old turn")
    events = MixSessionFinishedTrigger(poll_interval=0.1).run()
    try:
        first = await _started(events, mix_server, "/api/sessions")
        fresh = api.create_session("created after the start")["id"]
        api.send(fresh, "hello")
        deadline = time.monotonic() + 15
        event = (await asyncio.wait_for(first, 15)).payload
        while event["session_id"] != fresh:  # runs left by other tests may finish meanwhile
            assert event["session_id"] != busy
            event = await _next(events, timeout=deadline - time.monotonic())
        assert event["message_id"] == final_reply(api.export(fresh))["id"]
    finally:
        await events.aclose()


def test_idle_sensor_pokes_false_while_a_reply_runs(api: MixAPI) -> None:
    session_id = api.create_session("sensor")["id"]
    sensor = MixSessionIdleSensor(task_id="idle", session_id=session_id)
    assert sensor.poke({}) is True, "a session without messages is idle"
    api.send(session_id, "slow [[delay:10000]]")
    api.wait_running(session_id)
    assert sensor.poke({}) is False
    api.cancel(session_id)
    api.wait_finished(session_id, 1)
    assert sensor.poke({}) is True


async def test_a_failed_first_poll_does_not_report_old_turns(fresh_mix_server: Any) -> None:
    """Turns finished before the start stay unreported even when the first poll fails (server unreachable)."""
    api = MixAPI(fresh_mix_server.base_url)
    session_id = api.create_session("flaky start")["id"]
    api.converse(session_id, "finished before the trigger started")
    path = f"/api/sessions/{session_id}"
    fresh_mix_server.add_fault("status", method="GET", path=path, count=4, status=503)  # beyond the client's retries
    events = MixSessionFinishedTrigger(session_id, poll_interval=0.1).run()
    try:
        first = asyncio.ensure_future(anext(events))
        deadline = time.monotonic() + 20
        while fresh_mix_server.request_count("GET", path) < 4 + 2 and not first.done():
            assert time.monotonic() < deadline, "the trigger stopped polling"
            await asyncio.sleep(0.05)
        await asyncio.sleep(QUIET)
        assert not first.done(), "an old turn was reported"
        api.send(session_id, "new turn")
        event = (await asyncio.wait_for(first, 15)).payload
        assert event["message_id"] == final_reply(api.wait_finished(session_id, 2))["id"]
    finally:
        await events.aclose()
        api.close()


def _reply_id(export: dict[str, Any], said: str) -> str:
    """The id of the finished reply to ``said`` (turns of one second come in no defined order)."""
    [reply] = [
        m["id"]
        for m in export["messages"]
        if m["content"] == f"You said: {said}" and m.get("finishReason") == "end_turn"
    ]
    return str(reply)


def _final_ids(export: dict[str, Any]) -> set[str]:
    return {m["id"] for m in export["messages"] if m["role"] == "assistant" and m.get("finishReason") == "end_turn"}


async def test_a_run_finishing_after_a_later_one_fires_too(api: MixAPI, mix_server: Any) -> None:
    """The server runs messages concurrently: the slow first run ends last, behind a final message of the second."""
    session_id = api.create_session("overlapping runs")["id"]
    events = MixSessionFinishedTrigger(session_id, poll_interval=0.1).run()
    try:
        first = await _started(events, mix_server, f"/api/sessions/{session_id}")
        api.send(session_id, "slow [[delay:3000]]")
        api.wait_running(session_id)
        api.send(session_id, "fast")
        reported = {(await asyncio.wait_for(first, 15)).payload["message_id"], (await _next(events))["message_id"]}
        export = api.export(session_id)
        assert reported == _final_ids(export) and len(reported) == 2
        slow = next(m for m in export["messages"] if m["content"].startswith("You said: slow"))
        fast = next(m for m in export["messages"] if m["content"] == "You said: fast")
        assert slow["updatedAt"] > fast["updatedAt"], "the slow run's reply was stored after the later run's"
    finally:
        await events.aclose()


def test_idle_sensor_waits_for_an_earlier_run_still_streaming(api: MixAPI) -> None:
    session_id = api.create_session("sensor, overlapping runs")["id"]
    sensor = MixSessionIdleSensor(task_id="idle", session_id=session_id)
    api.send(session_id, "slow [[delay:6000]]")
    api.wait_running(session_id)
    api.send(session_id, "fast")
    deadline = time.monotonic() + 15
    while len(_final_ids(api.export(session_id))) < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert len(_final_ids(api.export(session_id))) == 1, "the fast run finished while the slow one streams"
    assert sensor.poke({}) is False
    while len(_final_ids(api.export(session_id))) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert sensor.poke({}) is True
