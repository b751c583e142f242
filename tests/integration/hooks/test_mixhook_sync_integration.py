"""Every sync MixHook method against the local Mix server over real sockets (connection ``mix_default``)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mix_provider.client import SessionSpec, TurnKey
from mix_provider.errors import MixBadRequestError, MixConfigError, MixNotFoundError, MixReplyTimeoutError
from mix_provider.hooks.mix import MixHook
from mix_provider.models import Callback, CallbackType, PromptMode

pytestmark = pytest.mark.integration
UNKNOWN = str(uuid.UUID(int=0))


@pytest.fixture
def hook(mix_server: Any) -> Iterator[MixHook]:
    """A hook on ``mix_default``."""
    with MixHook() as mix_hook:
        yield mix_hook


def test_health_and_test_connection(hook: MixHook, mix_server: Any) -> None:
    assert hook.health().status == "ok"
    ok, message = hook.test_connection()
    assert ok is True
    assert hook.health().version in message and mix_server.base_url in message
    assert message.endswith("LLM provider configured: Anthropic (api_key)")


def test_session_lifecycle(hook: MixHook, mix_server: Any) -> None:
    title = f"lifecycle {uuid.uuid4()}"
    callback = Callback(type=CallbackType.BASH_SCRIPT, tool_name="Bash", bash_command="echo ok")
    created = hook.create_session(SessionSpec(title, prompt_mode=PromptMode.APPEND, custom_system_prompt="Be terse."))
    assert created.title == title and created.browser_mode == "local-browser-service"
    assert hook.get_session(created.id).id == created.id
    assert created.id in [s.id for s in hook.list_sessions()]

    updated = hook.update_callbacks(created.id, [callback])
    assert [c.bash_command for c in updated.callbacks or []] == ["echo ok"]
    assert hook.update_callbacks(created.id, []).callbacks == []

    first = hook.send_and_wait(created.id, "first [[tool]]", turn=TurnKey.of(0, "first [[tool]]"), timeout=30)
    second = hook.send_and_wait(created.id, "second", turn=TurnKey.of(1, "second"), timeout=30)
    assert (first.text, first.tool_calls, second.text) == ("You said: first", 1, "You said: second")
    assert hook.get_session(created.id).user_message_count == 2
    assert len(hook.get_messages(created.id)) >= 2

    export = hook.export_session(created.id)
    roles = ["assistant", "assistant", "assistant", "tool", "user", "user"]  # one second's order is undefined
    assert sorted(m.role for m in export.messages) == roles, "a tool run is assistant (tool_use), tool, assistant"
    by_id = {m.id: m for m in export.messages}
    assert [m.finish_reason for m in export.messages if m.role == "assistant"].count("tool_use") == 1
    assert (by_id[first.message_id].content, by_id[first.message_id].finish_reason) == ("You said: first", "end_turn")
    # the second turn started in a second of its own: the message listed just before it ends the first
    ids = [m.id for m in export.messages]
    first_turn = ids[: ids.index(second.user_message_id)]
    assert first.message_id in first_turn and len(first_turn) == 4
    rewound = hook.rewind_session(created.id, first_turn[-1], cleanup_media=True)
    assert rewound.user_message_count == 1
    assert [m.id for m in hook.export_session(created.id).messages] == first_turn

    hook.delete_session(created.id)
    with pytest.raises(MixNotFoundError):
        hook.get_session(created.id)
    assert mix_server.request_count("POST", "/api/sessions") >= 1


def test_wait_for_reply_of_a_message_already_sent(hook: MixHook) -> None:
    session = hook.create_session(f"sent earlier {uuid.uuid4()}")
    hook.send_message(session.id, "hello [[delay:300]]", turn=TurnKey.of(0, "hello [[delay:300]]"))
    reply = hook.wait_for_reply(session.id, TurnKey(0), timeout=30)
    assert reply.text == "You said: hello" and reply.finish_reason == "end_turn"
    started = time.monotonic()
    assert hook.wait_for_reply(session.id, TurnKey(0), timeout=30) == reply  # already finished: returns at once
    assert time.monotonic() - started < 2


def test_nested_subagent_complete_is_ignored(hook: MixHook, mix_server: Any) -> None:
    session = hook.create_session(f"subagent {uuid.uuid4()}")
    reply = hook.send_and_wait(
        session.id,
        "delegate [[subagent]] [[delay:200]]",
        turn=TurnKey.of(0, "delegate [[subagent]] [[delay:200]]"),
        timeout=30,
    )
    assert reply.text == "You said: delegate" and reply.tool_calls == 1
    assert mix_server.request_count("GET", f"/api/sessions/{session.id}/export") == 1
    subagents = [s for s in hook.list_sessions(include_subagents=True) if s.parent_session_id == session.id]
    assert len(subagents) == 1
    assert subagents[0].id not in [s.id for s in hook.list_sessions()]


def test_wait_for_reply_times_out(hook: MixHook) -> None:
    session = hook.create_session(f"slow {uuid.uuid4()}")
    hook.send_message(session.id, "slow [[delay:5000]]")
    started = time.monotonic()
    with pytest.raises(MixReplyTimeoutError):
        hook.wait_for_reply(session.id, TurnKey(0), timeout=0.8, poll_interval=0.2)
    assert time.monotonic() - started < 4
    assert hook.cancel_session(session.id).status == "cancelled"


def test_cancel_ends_the_run(hook: MixHook) -> None:
    session = hook.create_session(f"cancel {uuid.uuid4()}")
    hook.send_message(session.id, "long [[delay:10000]]", turn=TurnKey.of(0, "long [[delay:10000]]"))
    time.sleep(0.2)
    result = hook.cancel_session(session.id)
    assert (result.status, result.session_id) == ("cancelled", session.id)
    reply = hook.wait_for_reply(session.id, TurnKey(0), timeout=10, poll_interval=0.2)
    assert reply.finish_reason == "canceled"


def test_open_export_streams_the_raw_transcript(hook: MixHook, mix_server: Any) -> None:
    seeded = mix_server.seed_large_session(title=f"big {uuid.uuid4()}", messages=40, message_bytes=20_000)
    with hook.open_export(str(seeded["id"])) as chunks:
        parts = list(chunks)
    assert len(parts) > 1  # streamed, not one buffer
    body = json.loads(b"".join(parts))
    assert body["id"] == seeded["id"] and len(body["messages"]) == 40
    assert hook.export_session(str(seeded["id"])).messages[-1].id == body["messages"][-1]["id"]


@pytest.mark.parametrize(
    "call",
    [
        lambda h: h.get_session(UNKNOWN),
        lambda h: h.export_session(UNKNOWN),
        lambda h: h.delete_session(UNKNOWN),
        lambda h: h.send_message(UNKNOWN, "hi"),
        lambda h: h.update_callbacks(UNKNOWN, []),
        lambda h: h.rewind_session(UNKNOWN, "m-1"),
    ],
    ids=["get", "export", "delete", "send", "callbacks", "rewind"],
)
def test_unknown_session_is_not_found(hook: MixHook, call: Any) -> None:
    with pytest.raises(MixNotFoundError) as info:
        call(hook)
    assert (info.value.status, info.value.error_type) == (404, "not_found")


def test_cancel_and_messages_of_unknown_session_answer_as_the_real_server() -> None:
    """``HandleCancelAgent`` and ``HandleListSessionMessages`` never look the session up: 200."""
    with MixHook() as hook:
        assert hook.get_messages(UNKNOWN) == []
        cancelled = hook.cancel_session(UNKNOWN)
    assert (cancelled.status, cancelled.session_id) == ("cancelled", UNKNOWN)


def test_open_export_of_unknown_session_is_not_found(hook: MixHook) -> None:
    with pytest.raises(MixNotFoundError), hook.open_export(UNKNOWN) as chunks:
        list(chunks)


def test_rewind_to_unknown_message_is_not_found(hook: MixHook) -> None:
    session = hook.create_session(f"rewind {uuid.uuid4()}")
    with pytest.raises(MixNotFoundError) as info:
        hook.rewind_session(session.id, UNKNOWN)
    assert info.value.status == 404


def test_server_side_validation_surfaces_as_bad_request(hook: MixHook, mix_server: Any) -> None:
    session = hook.create_session(f"validation {uuid.uuid4()}")
    mix_server.reset_request_counts()
    with pytest.raises(MixBadRequestError) as info:  # the client lets an empty tool name through
        hook.update_callbacks(session.id, [{"type": "bash_script", "tool_name": "", "bash_command": "ls"}])
    assert (info.value.status, info.value.error_type) == (400, "validation_error")
    assert "toolName" in info.value.message
    assert mix_server.request_count("PATCH", ".*") == 1  # permanent: not retried


def test_client_side_validation_sends_nothing(hook: MixHook, mix_server: Any) -> None:
    mix_server.reset_request_counts()
    with pytest.raises(MixConfigError, match="cdp_url"):
        hook.create_session(
            SessionSpec.checked("t", browser_mode="remote-cdp-websocket", cdp_url="http://not-a-websocket")
        )
    assert mix_server.request_count("POST", ".*") == 0
