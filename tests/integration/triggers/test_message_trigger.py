"""MixMessageTrigger against the local server: success, errors, deadline, stream loss, on_kill."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from mix_provider.triggers.message import MixMessageTrigger
from support.integration import MixAPI, final_reply, next_second


def _baseline(api: MixAPI, session_id: str) -> dict[str, Any]:
    """The session's counts before a message, read straight from the server."""
    s = api.session(session_id).json()
    return {
        "user_messages": s["userMessageCount"],
        "prompt_tokens": s["promptTokens"],
        "completion_tokens": s["completionTokens"],
        "cost": s["cost"],
    }


def _trigger(session_id: str, baseline: dict[str, Any], seconds: float = 30, **kwargs: Any) -> MixMessageTrigger:
    return MixMessageTrigger(session_id, baseline, time.time() + seconds, poll_interval=0.1, **kwargs)


def _zero() -> dict[str, Any]:
    return {"user_messages": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}


async def _all_events(trigger: MixMessageTrigger) -> list[dict[str, Any]]:
    """Run the trigger to its end, as a triggerer would, and collect every event."""
    return [event.payload async for event in trigger.run()]


@pytest.mark.parametrize("send_first", [True, False], ids=["reply-before-start", "reply-while-following"])
async def test_success_is_the_one_terminal_event(api: MixAPI, send_first: bool) -> None:
    session_id = api.create_session("trigger success")["id"]
    api.converse(session_id, "warm up")
    next_second()  # the trigger reads the transcript only (it did not send): no turn shares our second
    baseline = _baseline(api, session_id)
    if send_first:
        api.send(session_id, "second [[tool]]")
        api.wait_finished(session_id, 2)
    run = asyncio.ensure_future(_all_events(_trigger(session_id, baseline)))
    if not send_first:
        await asyncio.sleep(0.3)
        assert not run.done()
        api.send(session_id, "second [[tool]]")
    events = await asyncio.wait_for(run, 20)

    assert len(events) == 1
    [event] = events
    export = api.export(session_id)
    last = final_reply(export)
    assert event["status"] == "success"
    assert (event["message_id"], event["reply"], event["finish_reason"]) == (last["id"], "You said: second", "end_turn")
    assert event["tool_calls"] == 1
    # session token fields are the last call's (agent.go TrackUsage) and /messages has no usage: unknown
    assert event["prompt_tokens"] is None and export["promptTokens"] > 0
    assert event["cost"] == pytest.approx(export["cost"] - baseline["cost"])


async def test_unknown_session_is_a_permanent_error(faults: Any) -> None:
    before = faults.request_count("GET", "/stream")
    events = await _all_events(_trigger("00000000-0000-4000-8000-00000000dead", _zero(), max_failures=5))
    assert [e["status"] for e in events] == ["error"]
    assert "not found" in events[0]["message"].lower()
    assert faults.request_count("GET", "/stream") - before == 1, "a 404 is not retried"


async def test_deadline_gives_a_timeout_event(api: MixAPI) -> None:
    session_id = api.create_session("trigger timeout")["id"]
    api.send(session_id, "slow [[delay:5000]]")
    try:
        events = await _all_events(_trigger(session_id, _zero(), seconds=1))
        messages = api.export(session_id)["messages"]  # the reply is stored as its round starts
        still_running = any(m["role"] == "assistant" and not m.get("finishReason") for m in messages)
    finally:
        api.cancel(session_id)
    assert [e["status"] for e in events] == ["timeout"]
    assert session_id in events[0]["message"]
    assert still_running, "the event came at the deadline, not with the reply"


async def test_stream_unavailable_falls_back_to_polling(api: MixAPI, faults: Any) -> None:
    session_id = api.create_session("trigger no stream")["id"]
    before = faults.request_count("GET", "/stream")
    faults.add_fault("reset_before", method="GET", path="/stream", count=20)
    run = asyncio.ensure_future(_all_events(_trigger(session_id, _zero())))
    await asyncio.sleep(0.3)
    api.send(session_id, "polled [[delay:500]]")
    [event] = await asyncio.wait_for(run, 20)
    assert event["status"] == "success" and event["reply"] == "You said: polled"
    assert faults.request_count("GET", "/stream") > before, "the stream was tried first"


async def test_stream_dropped_mid_reply_falls_back_to_polling(fresh_mix_server: Any) -> None:
    api = MixAPI(fresh_mix_server.base_url)
    session_id = api.create_session("trigger stream drop")["id"]
    run = asyncio.ensure_future(_all_events(_trigger(session_id, _zero(), seconds=60)))
    await asyncio.sleep(0.3)
    api.send(session_id, "survives [[delay:1000]]")
    api.wait_running(session_id)
    fresh_mix_server.kill()  # the SSE connection drops mid-reply
    await asyncio.to_thread(fresh_mix_server.start)  # the interrupted run resumes
    [event] = await asyncio.wait_for(run, 45)
    assert event["status"] == "success" and event["reply"] == "You said: survives"
    assert event["message_id"] == final_reply(api.export(session_id))["id"]
    api.close()


async def test_stream_errors_fall_back_to_polling(api: MixAPI, faults: Any) -> None:
    session_id = api.create_session("trigger stream 503")["id"]
    api.converse(session_id, "done already")
    before = faults.request_count("GET", "/stream")
    faults.add_fault("status", method="GET", path="/stream", count=5, status=503)
    [event] = await _all_events(_trigger(session_id, _zero(), max_failures=0))
    assert event["status"] == "success"
    assert faults.request_count("GET", "/stream") - before == 1  # not retried: the transcript is polled instead


async def test_transient_failures_up_to_max_failures(api: MixAPI, faults: Any) -> None:
    """Each failure is one whole client call (3 attempts with ``mix_default``'s 2 retries) failing."""
    session_id = api.create_session("trigger transient")["id"]
    api.converse(session_id, "done already")
    export = f"/api/sessions/{session_id}/export"
    before = faults.request_count("GET", export)  # converse() polled it
    faults.add_fault("status", method="GET", path=export, count=2 * 3, status=503, retry_after=0)
    [event] = await _all_events(_trigger(session_id, _zero(), max_failures=2))
    assert event["status"] == "success"
    assert faults.request_count("GET", export) - before == 2 * 3 + 1

    faults.add_fault("status", method="GET", path=export, count=3 * 3, status=503, retry_after=0)
    [event] = await _all_events(_trigger(session_id, _zero(), max_failures=2))
    assert event["status"] == "error" and "503" in event["message"]


async def test_on_kill_cancels_the_run(api: MixAPI, mix_server: Any) -> None:
    session_id = api.create_session("trigger on_kill")["id"]
    trigger = _trigger(session_id, _zero())
    run = asyncio.ensure_future(_all_events(trigger))
    api.send(session_id, "very slow [[delay:10000]]")
    await asyncio.to_thread(api.wait_running, session_id)
    started = time.monotonic()
    await trigger.on_kill()
    [event] = await asyncio.wait_for(run, 8)
    assert time.monotonic() - started < 8
    assert final_reply(api.export(session_id))["finishReason"] == "canceled"
    assert event["status"] == "success" and event["finish_reason"] == "canceled"
    assert mix_server.request_count("POST", f"/api/sessions/{session_id}/cancel") == 1


@pytest.mark.parametrize("fresh_mix_server", ["current", "legacy"], indirect=True)
async def test_waits_of_one_triggerer_read_per_message_usage_only_where_the_server_sends_it(
    fresh_mix_server: Any,
) -> None:
    """Four waits share one client: on a server whose ``GET .../messages`` has no usage fields (the real
    handlers, ``rest_messages.go`` ``convertMessagesToData``) one read finds that out for all of them;
    where the server sends usage, each turn's tokens are read."""
    api = MixAPI(fresh_mix_server.base_url)
    sessions = [api.create_session(f"usage shape {n}")["id"] for n in range(4)]
    runs = [asyncio.ensure_future(_all_events(_trigger(sid, _zero()))) for sid in sessions]
    await asyncio.sleep(0.3)
    fresh_mix_server.reset_request_counts()
    for n, session_id in enumerate(sessions):
        api.send(session_id, f"turn {n} [[delay:{200 + 300 * n}]]")
    events = [event for run in runs for event in await asyncio.wait_for(run, 30)]
    reads = fresh_mix_server.request_count("GET", "/api/sessions/[^/]+/messages")
    assert all(event["status"] == "success" and event["cost"] > 0 for event in events)
    if fresh_mix_server.generation == "current":
        assert all(event["prompt_tokens"] is None for event in events), "unknowable, as a read would say"
        assert reads == 1
    else:
        assert all(event["prompt_tokens"] > 0 and event["completion_tokens"] > 0 for event in events)
        assert reads == len(sessions)
    api.close()
