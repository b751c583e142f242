"""The async MixHook methods (used by triggers) against the local Mix server over real sockets."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mix_provider.client import TurnKey
from mix_provider.errors import MixNotFoundError, MixReplyTimeoutError
from mix_provider.hooks.mix import MixHook
from support.integration import next_second

pytestmark = pytest.mark.integration
UNKNOWN = str(uuid.UUID(int=0))


@pytest.fixture
async def ahook(mix_server: Any) -> AsyncIterator[MixHook]:
    """A hook on ``mix_default``, closed after the test."""
    mix_hook = MixHook()
    yield mix_hook
    await mix_hook.aclose()


@pytest.fixture
def session_id(mix_server: Any) -> str:
    """A session with one finished exchange, made with a sync hook."""
    with MixHook() as hook:
        session = hook.create_session(f"async {uuid.uuid4()}")
        hook.send_and_wait(session.id, "hello [[tool]]", turn=TurnKey.of(0, "hello [[tool]]"), timeout=30)
    return session.id


async def test_reads(ahook: MixHook, session_id: str) -> None:
    session = await ahook.aget_session(session_id)
    assert (session.id, session.user_message_count) == (session_id, 1)
    assert session_id in [s.id for s in await ahook.alist_sessions()]
    assert session_id in [s.id for s in await ahook.alist_sessions(include_subagents=True)]
    export = await ahook.aexport_session(session_id)
    assert sorted(m.role for m in export.messages) == ["assistant", "assistant", "tool", "user"]
    [call] = [m for m in export.messages if m.finish_reason == "tool_use"]  # one second's order is undefined
    assert call.tool_calls and call.tool_calls[0].name == "Bash"
    assert {m.finish_reason for m in export.messages if m.role == "assistant"} == {"tool_use", "end_turn"}


async def test_await_for_reply(ahook: MixHook, session_id: str) -> None:
    finished = await ahook.await_for_reply(session_id, TurnKey(0), timeout=10)
    assert (finished.text, finished.tool_calls) == ("You said: hello", 1)
    next_second()  # the wait below reads the transcript only (no stream since its send)
    MixHook().send_message(
        session_id, "again [[delay:300]] [[subagent]]", turn=TurnKey.of(1, "again [[delay:300]] [[subagent]]")
    )
    reply = await ahook.await_for_reply(session_id, TurnKey(1), timeout=30)
    assert reply.text == "You said: again" and reply.finish_reason == "end_turn"


async def test_await_for_reply_times_out_and_acancel(ahook: MixHook, session_id: str) -> None:
    next_second()  # the waits below read the transcript only (no stream since the send)
    MixHook().send_message(session_id, "slow [[delay:5000]]", turn=TurnKey.of(1, "slow [[delay:5000]]"))
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(MixReplyTimeoutError):
        await ahook.await_for_reply(session_id, TurnKey(1), timeout=0.8, poll_interval=0.2)
    assert loop.time() - started < 4
    result = await ahook.acancel_session(session_id)
    assert (result.status, result.session_id) == ("cancelled", session_id)
    assert (
        await ahook.await_for_reply(session_id, TurnKey(1), timeout=10, poll_interval=0.2)
    ).finish_reason == "canceled"


async def test_aopen_export_streams_raw_bytes(ahook: MixHook, session_id: str) -> None:
    async with ahook.aopen_export(session_id) as chunks:
        body = b"".join([chunk async for chunk in chunks])
    raw = json.loads(body)
    assert raw["id"] == session_id
    parsed = await ahook.aexport_session(session_id)
    assert [m["id"] for m in raw["messages"]] == [m.id for m in parsed.messages]


@pytest.mark.parametrize("method", ["aget_session", "aexport_session"])
async def test_unknown_session_is_not_found(ahook: MixHook, method: str) -> None:
    with pytest.raises(MixNotFoundError) as info:
        await getattr(ahook, method)(UNKNOWN)
    assert info.value.error_type == "not_found"


async def test_aopen_export_of_unknown_session_is_not_found(ahook: MixHook) -> None:
    with pytest.raises(MixNotFoundError):
        async with ahook.aopen_export(UNKNOWN) as chunks:
            async for _ in chunks:
                pass
