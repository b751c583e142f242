"""MixMessageTrigger and MixSessionFinishedTrigger on a mock transport: serialization and failure counting."""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from mix_provider.hooks.mix import MixHook
from mix_provider.triggers.message import MixMessageTrigger
from mix_provider.triggers.session import MixSessionFinishedTrigger
from support.fakes import Recorder, define_conn

PASSWORD = "s3cr3t-token-value-42"
BASELINE = {"user_messages": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
FINISHED = {
    "id": "s1",
    "userMessageCount": 1,
    "promptTokens": 7,
    "completionTokens": 2,
    "cost": 0.5,
    "messages": [
        {"id": "m1", "role": "user", "content": "hi"},
        {"id": "m2", "role": "assistant", "content": "You said: hi", "finishReason": "end_turn"},
    ],
}
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def secret_conn(monkeypatch: pytest.MonkeyPatch) -> str:
    """A connection id whose connection carries a password and a sensitive header."""
    conn = {
        "conn_type": "mix",
        "host": "http://mix.invalid:8088",
        "password": PASSWORD,
        "extra": {"max_retries": 0, "headers": {"X-Api-Key": PASSWORD}},
    }
    define_conn(monkeypatch, "mix_secret", **conn)
    return "mix_secret"


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Callable[[Handler], list[httpx.Request]]:
    """Route the triggers' hooks to ``handler``; returns the list of requests they make."""

    def _serve(handler: Handler) -> list[httpx.Request]:
        recorder = Recorder(handler)

        def hook(conn_id: str) -> MixHook:
            return MixHook(conn_id, async_transport=recorder.transport())

        monkeypatch.setattr("mix_provider.triggers.message.MixHook", hook)
        return recorder.requests

    return _serve


def _trigger(conn_id: str, **kwargs: Any) -> MixMessageTrigger:
    return MixMessageTrigger("s1", BASELINE, time.time() + 10, mix_conn_id=conn_id, poll_interval=0.01, **kwargs)


def _flaky_export(failures: int) -> Handler:
    """No SSE stream; the transcript answers 503 ``failures`` times, then the finished reply."""
    count = {"export": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/stream":
            raise httpx.ConnectError("no stream here", request=request)
        if request.url.path.endswith("/export"):
            count["export"] += 1
            if count["export"] <= failures:
                return httpx.Response(503, json={"error": {"code": 503, "message": "busy", "type": "internal_error"}})
            return httpx.Response(200, json=FINISHED)
        return httpx.Response(200, json=FINISHED)

    return handler


def import_string(classpath: str) -> Any:
    """What the triggerer does with a classpath."""
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)


async def _events(trigger: Any) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger.run()]


@pytest.mark.parametrize("trigger_cls", [MixMessageTrigger, MixSessionFinishedTrigger])
def test_serialize_round_trip_without_secrets(trigger_cls: Any, secret_conn: str) -> None:
    if trigger_cls is MixMessageTrigger:
        trigger = _trigger(secret_conn, max_failures=3)
    else:
        trigger = MixSessionFinishedTrigger("s1", mix_conn_id=secret_conn, poll_interval=0.5)
    assert PASSWORD in MixHook(secret_conn).config.request_headers().values(), "the connection holds the secret"
    classpath, kwargs = trigger.serialize()
    assert import_string(classpath) is trigger_cls
    again = import_string(classpath)(**json.loads(json.dumps(kwargs)))
    assert again.serialize() == (classpath, kwargs)
    assert kwargs["mix_conn_id"] == secret_conn
    assert PASSWORD not in json.dumps(kwargs)


async def test_transient_failures_are_tolerated_up_to_max_failures(serve: Any, secret_conn: str) -> None:
    seen = serve(_flaky_export(failures=2))
    [event] = await _events(_trigger(secret_conn, max_failures=2))
    assert event["status"] == "success" and event["message_id"] == "m2"
    assert event["prompt_tokens"] is None and event["cost"] == 0.5, "no per-message usage: tokens unknown"
    assert sum(r.url.path.endswith("/export") for r in seen) == 3


async def test_one_failure_too_many_is_an_error(serve: Any, secret_conn: str) -> None:
    serve(_flaky_export(failures=3))
    [event] = await _events(_trigger(secret_conn, max_failures=2))
    assert event["status"] == "error"
    assert "503" in event["message"] or "busy" in event["message"]
    assert PASSWORD not in json.dumps(event)


async def test_a_permanent_error_is_not_retried(serve: Any, secret_conn: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"code": 400, "message": "bad id", "type": "bad_request"}})

    seen = serve(handler)
    [event] = await _events(_trigger(secret_conn, max_failures=5))
    assert event["status"] == "error" and "bad id" in event["message"]
    assert len(seen) == 1


async def test_the_request_carries_the_connection_headers(serve: Any, secret_conn: str) -> None:
    seen = serve(_flaky_export(failures=0))
    [event] = await _events(_trigger(secret_conn))
    assert event["status"] == "success"
    assert all(r.headers.get("X-Api-Key") == PASSWORD for r in seen)


@pytest.mark.parametrize("totals", [True, False], ids=["export-with-totals", "export-without"])
async def test_the_usage_comes_with_the_transcript_when_it_has_the_totals(
    serve: Any, secret_conn: str, totals: bool
) -> None:
    export = {**FINISHED, "assistantMessageCount": 1, "toolCallCount": 0} if totals else FINISHED
    rows = [{"id": "m1", "role": "user"}, {"id": "m2", "role": "assistant", "inputTokens": 5, "outputTokens": 2}]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/messages"):
            return httpx.Response(200, json=rows)
        return httpx.Response(200, json=export if request.url.path.endswith("/export") else FINISHED)

    seen = serve(handler)
    [event] = await _events(_trigger(secret_conn))
    assert event["status"] == "success" and event["cost"] == 0.5
    assert (event["prompt_tokens"], event["completion_tokens"]) == (5, 2), "the reply's per-message usage"
    assert any(r.url.path == "/api/sessions/s1" for r in seen) is not totals, "a session read only when needed"


@pytest.mark.parametrize("in_triggerer", [True, False], ids=["triggerer", "dag-test-inline"])
async def test_an_early_event_waits_until_the_deferral_settled(
    serve: Any, secret_conn: str, in_triggerer: bool
) -> None:
    """A reply already there is held until ``not_before`` in a triggerer (the scheduler must first see
    the deferring process exit); ``dag.test()`` runs the trigger inline, without a task instance."""
    seen = serve(_flaky_export(failures=0))
    trigger = _trigger(secret_conn, not_before=time.time() + 0.6)
    trigger.task_instance = SimpleNamespace(task_id="turn") if in_triggerer else None
    started = time.monotonic()
    [event] = await _events(trigger)
    waited = time.monotonic() - started
    assert event["status"] == "success" and seen
    assert (waited >= 0.55) is in_triggerer, waited
