"""MixSessionIdleSensor(deferrable=True): one check in the worker, then the wait is handed to the triggerer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from mix_provider.sensors.session import MixSessionIdleSensor
from mix_provider.triggers.idle import MixSessionIdleTrigger

SID = "s1"


def _export(*messages: dict[str, Any]) -> Callable[[httpx.Request], httpx.Response]:
    now = datetime.now(timezone.utc).isoformat()
    body = {"id": SID, "title": "t", "createdAt": now, "messages": [{"createdAt": now, **m} for m in messages]}
    return lambda request: httpx.Response(200, json=body)


def _sensor(**kwargs: Any) -> MixSessionIdleSensor:
    return MixSessionIdleSensor(task_id="idle", session_id=SID, deferrable=True, poke_interval=3, timeout=600, **kwargs)


def test_a_busy_session_defers_to_the_idle_trigger(attach: Callable[[Any], Any], recorder: Any) -> None:
    recorder.handler = _export({"id": "u1", "role": "user", "content": "slow"})
    with pytest.raises(TaskDeferred) as info:
        attach(_sensor()).execute({})
    trigger = info.value.trigger
    assert isinstance(trigger, MixSessionIdleTrigger)
    assert (trigger.session_id, trigger.poll_interval) == (SID, 3.0)
    assert info.value.method_name == "execute_complete"
    assert info.value.timeout == timedelta(seconds=600)
    checked = [r.url.path for r in recorder.requests]
    assert checked == [f"/api/sessions/{SID}", f"/api/sessions/{SID}/export"], (
        "one check (callbacks, transcript), then defer"
    )


def test_an_idle_session_succeeds_without_deferring(attach: Callable[[Any], Any], recorder: Any) -> None:
    recorder.handler = _export(
        {"id": "u1", "role": "user", "content": "hi"},
        {"id": "a1", "role": "assistant", "content": "hello", "finishReason": "end_turn"},
    )
    assert attach(_sensor()).execute({}) is None
    assert len(recorder.requests) == 2, "the session's callbacks, then its transcript"
