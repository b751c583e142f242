"""Waiting for replies (SSE first, polling as fallback), event verdicts, and raw byte streams."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from mix_fake import BASE_URL, FakeMix, answer, error, fail

from mix_provider.client import AsyncMixClient, ClientConfig, MixClient, RetryPolicy, StreamEvent, TurnKey
from mix_provider.client import operations as ops
from mix_provider.client.stream import judge_event
from mix_provider.client.turns import Reply, finished_reply
from mix_provider.errors import MixNotFoundError, MixReplyTimeoutError
from mix_provider.models import ExportSession

SID = "7c1e0f5e-3a0b-4c38-9d0e-2d6b1c3e4f50"
EXPORT = f"/api/sessions/{SID}/export"
MESSAGES = f"/api/sessions/{SID}/messages"
CONFIG = ClientConfig(BASE_URL, retry=RetryPolicy(max_retries=2, initial_wait=0.001, max_wait=0.01))
Waiter = Callable[..., Reply]
ACCEPTED = answer(202, {"status": "processing", "sessionId": SID})


def transcript(*, finished: bool, reason: str = "end_turn") -> dict[str, Any]:
    """An export whose second user message is answered (``finished``) or still running."""
    messages = [
        {"id": "u1", "role": "user", "content": "first"},
        {"id": "a1", "role": "assistant", "content": "one", "finishReason": "end_turn"},
        {"id": "u2", "role": "user", "content": "second"},
    ]
    if finished:
        calls = [{"id": "t1", "name": "Task", "finished": True}]
        messages.append({"id": "a2", "role": "assistant", "content": "two", "finishReason": reason, "toolCalls": calls})
    return {"id": SID, "title": "t", "messages": messages}


def sse(event: str, **data: Any) -> bytes:
    """One event in wire format."""
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class EventStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """An SSE body produced lazily; ``before`` runs before each chunk goes out (both client kinds)."""

    def __init__(self, chunks: list[bytes], before: Callable[[bytes], None] = lambda chunk: None) -> None:
        self.chunks = chunks
        self.before = before

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.before(chunk)
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.__iter__():
            yield chunk


def stream_of(chunks: list[bytes], before: Callable[[bytes], None] = lambda chunk: None) -> Callable[..., Any]:
    """An outcome answering the SSE stream with ``chunks``."""
    headers = {"content-type": "text/event-stream"}
    return lambda request: httpx.Response(200, headers=headers, stream=EventStream(chunks, before))


@pytest.fixture(params=["sync", "async"])
def wait(request: pytest.FixtureRequest, fake: FakeMix) -> Waiter:
    """``wait_for_reply`` of the sync or the async client on ``fake``."""

    def _wait(baseline: int = 1, text: str | None = None, **kwargs: Any) -> Reply:
        turn = TurnKey(baseline) if text is None else TurnKey.of(baseline, text)
        if request.param == "sync":
            with MixClient(CONFIG, transport=fake.transport()) as client:
                return client.wait_for_reply(SID, turn, **kwargs)

        async def _main() -> Reply:
            async with AsyncMixClient(CONFIG, transport=fake.transport()) as client:
                return await client.wait_for_reply(SID, turn, **kwargs)

        return asyncio.run(_main())

    return _wait


def test_send_then_follow_the_stream_ignoring_nested_complete(fake: FakeMix, wait: Waiter) -> None:
    done = {"top": False}
    top_complete = sse("complete", done=True, messageId="a2")
    chunks = [
        sse("connected", sessionId=SID),
        sse("content", content="tw"),
        sse("tool", name="Glob", parentToolCallId="t1"),
        sse("complete", done=True, messageId="sub", parentToolCallId="t1"),
        sse("rate_limit_error", error="slow", parentToolCallId="t1"),
        top_complete,
    ]
    fake.on("GET", "/stream", stream_of(chunks, before=lambda c: done.update(top=done["top"] or c == top_complete)))
    fake.on("POST", MESSAGES, ACCEPTED)
    fake.on("GET", EXPORT, lambda request: httpx.Response(200, json=transcript(finished=done["top"])))
    reply = wait(text="second", send=ops.send_message(SID, "second", turn=TurnKey.of(1, "second")))
    assert reply == Reply(
        message_id="a2",
        text="two",
        finish_reason="end_turn",
        tool_calls=1,
        user_message_id="u2",
        steps=1,
        assistant_ids=("a2",),
    )
    order = [f"{r.method} {r.url.path}" for r in fake.requests]
    assert order == ["GET /stream", f"GET {EXPORT}", f"POST {MESSAGES}", f"GET {EXPORT}"], "read once before sending"
    assert fake.requests[0].url.params["sessionId"] == SID
    assert fake.requests[0].headers["accept"] == "text/event-stream"


def test_already_finished_reply_returns_at_once(fake: FakeMix, wait: Waiter) -> None:
    fake.on("GET", "/stream", stream_of([sse("connected", sessionId=SID)]))
    fake.on("GET", EXPORT, answer(200, transcript(finished=True)))
    assert wait().message_id == "a2"
    assert len(fake.sent("GET", EXPORT)) == 1
    assert fake.sent("POST", MESSAGES) == []


@pytest.mark.parametrize(
    "stream",
    [
        fail(httpx.ConnectError),
        answer(200, b"<html>not a stream</html>", headers={"content-type": "text/html"}),
        stream_of([sse("connected", sessionId=SID)]),
        error(503, "internal_error", "stream broker down"),
        error(429, "rate_limited", "slow down"),
    ],
    ids=["unreachable", "not-sse", "ends-early", "stream-503", "stream-429"],
)
def test_falls_back_to_polling(fake: FakeMix, wait: Waiter, waits: list[float], stream: Any) -> None:
    fake.on("GET", "/stream", stream)
    unfinished = answer(200, transcript(finished=False))
    fake.on("GET", EXPORT, unfinished, unfinished, unfinished, answer(200, transcript(finished=True)))
    assert wait(poll_interval=0.25).text == "two"
    assert waits[-2:] == [0.25, 0.25]
    assert len(fake.sent("GET", EXPORT)) == 4


def test_stream_dropping_mid_reply_falls_back_to_polling(fake: FakeMix, wait: Waiter, waits: list[float]) -> None:
    def drop(chunk: bytes) -> None:
        if b"content" in chunk:
            raise httpx.RemoteProtocolError("peer closed connection")

    fake.on("GET", "/stream", stream_of([sse("connected"), sse("content", content="x"), sse("complete")], drop))
    fake.on("GET", EXPORT, answer(200, transcript(finished=False)), answer(200, transcript(finished=True)))
    assert wait(poll_interval=0.1).message_id == "a2"


def test_final_error_event_becomes_an_error_reply(fake: FakeMix, wait: Waiter) -> None:
    chunks = [
        sse("connected"),
        sse("error", error="retrying", attempt=1, maxAttempts=3),
        sse("error", error="provider exploded", type="provider_error"),
    ]
    fake.on("GET", "/stream", stream_of(chunks))
    fake.on("POST", MESSAGES, ACCEPTED)
    fake.on("GET", EXPORT, answer(200, transcript(finished=False)))
    reply = wait(send=ops.send_message(SID, "second"))
    assert reply == Reply(
        message_id="", text="provider exploded", finish_reason="error", tool_calls=0, user_message_id="u2"
    )
    assert len(fake.sent("GET", EXPORT)) == 2, "once before sending, once when the run ended"


def test_reply_timeout(fake: FakeMix, wait: Waiter) -> None:
    fake.on("GET", "/stream", stream_of([sse("connected")]))
    fake.on("GET", EXPORT, answer(200, transcript(finished=False)))
    started = time.monotonic()
    with pytest.raises(MixReplyTimeoutError) as info:
        wait(timeout=0.3, poll_interval=0.05)
    assert 0.2 < time.monotonic() - started < 3.0
    assert info.value.session_id == SID


def test_unknown_session_is_not_polled_forever(fake: FakeMix, wait: Waiter) -> None:
    fake.on("GET", "/stream", error(404, "not_found", "no such session"))
    fake.on("GET", EXPORT, error(404, "not_found", "no such session"))
    with pytest.raises(MixNotFoundError):
        wait(timeout=5)


def test_open_stream_yields_raw_chunks(fake: FakeMix) -> None:
    body = json.dumps(transcript(finished=True)).encode()
    fake.on("GET", EXPORT, answer(200, body))
    with MixClient(CONFIG, transport=fake.transport()) as client, client.open_stream(ops.export_session(SID)) as it:
        assert b"".join(it) == body

    async def _main() -> bytes:
        async with (
            AsyncMixClient(CONFIG, transport=fake.transport()) as client,
            client.open_stream(ops.export_session(SID)) as chunks,
        ):
            return b"".join([chunk async for chunk in chunks])

    assert asyncio.run(_main()) == body


def test_open_stream_raises_typed_error_before_yielding(fake: FakeMix) -> None:
    fake.on("GET", EXPORT, error(404, "not_found", f"Session with ID '{SID}' not found"))
    with (
        MixClient(CONFIG, transport=fake.transport()) as client,
        pytest.raises(MixNotFoundError) as info,
        client.open_stream(ops.export_session(SID)),
    ):
        pytest.fail("must not yield")
    assert info.value.path == EXPORT


@pytest.mark.parametrize(
    ("event", "data", "done", "error_text"),
    [
        ("complete", {"messageId": "m"}, True, None),
        ("complete", {"messageId": "m", "parentToolCallId": "t1"}, False, None),
        ("error", {"error": "boom"}, True, "boom"),
        ("error", {"error": "boom", "attempt": 1, "maxAttempts": 2}, False, None),
        ("error", {"error": "boom", "attempt": 2, "maxAttempts": 2}, True, "boom"),
        ("error", {"error": "sub", "parentToolCallId": "t1"}, False, None),
        ("content", {"content": "x"}, False, None),
        ("tool_parameter_delta", {}, False, None),
    ],
)
def test_judge_event(event: str, data: dict[str, Any], done: bool, error_text: str | None) -> None:
    verdict = judge_event(StreamEvent(event, data))
    assert (verdict.done, verdict.error) == (done, error_text)


@pytest.mark.parametrize(
    ("event", "data", "expected"),
    [
        ("complete", '{"messageId": "m"}', StreamEvent("complete", {"messageId": "m"}, "7")),
        ("error", "not json", StreamEvent("error", {"raw": "not json"}, "7")),
        ("error", "[1, 2]", StreamEvent("error", {"raw": [1, 2]}, "7")),
        ("complete", "", StreamEvent("complete", {}, "7")),
        ("", '{"a": 1}', StreamEvent("message", {}, "7")),
        ("content", '{"content": "not decoded"}', StreamEvent("content", {}, "7")),
        ("content", "not json either", StreamEvent("content", {}, "7")),
    ],
)
def test_stream_event_parse(event: str, data: str, expected: StreamEvent) -> None:
    assert StreamEvent.parse(event, data, "7") == expected


@pytest.mark.parametrize(
    ("body", "baseline", "expected_id"),
    [
        (transcript(finished=True), 1, "a2"),
        (transcript(finished=True), 2, None),
        (transcript(finished=False), 1, None),
        (transcript(finished=True, reason="tool_use"), 1, None),
        (transcript(finished=True, reason="max_tokens"), 1, "a2"),
        ({"id": SID, "messages": []}, 0, None),
    ],
)
def test_finished_reply(body: dict[str, Any], baseline: int, expected_id: str | None) -> None:
    reply = finished_reply(ExportSession.model_validate(body).messages, TurnKey(baseline))
    assert (reply.message_id if reply else None) == expected_id


def test_unknown_session_on_the_stream_is_not_found_at_once(fake: FakeMix, wait: Waiter) -> None:
    """The real server answers 200 and one ``error`` event for an unknown session (sse.go)."""
    fake.on("GET", "/stream", stream_of([sse("error", error=f"Invalid session ID: {SID}")]))
    started = time.monotonic()
    with pytest.raises(MixNotFoundError):
        wait(timeout=30)
    assert time.monotonic() - started < 5
    assert fake.sent("GET", EXPORT) == []
