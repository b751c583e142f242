"""Running a tool round's session callbacks inside a run (current generation).

The order of ``executor.go`` (@ 2a6de68b): ``send_message`` stores the injected ``role: user``
message, then its callback ``tool`` message (no ``user_message_created`` event: the executor
creates the message directly); ``sub_agent`` creates a ``Callback: <tool>`` sub-agent session
(parent ids set), runs it, adds its cost to the parent (``IncrementCost``) and stores the
``tool`` message; ``bash_script`` stores its ``tool`` message. The real agent runs the callbacks
of different tools concurrently; here they run one after the other, in tool order, so the
transcript is deterministic. A callback sub-agent runs with the parent's routing but no tool
call context (``context.Background()``), so its ``user_message_created`` and ``content`` events
reach the parent's stream *without* ``parentToolCallId`` (their ``messageId`` and
``assistantMessageId`` are the sub-agent's).

Message ids are derived from the run id, so a resumed run produces the same ones.
"""

from __future__ import annotations

import json
import uuid
from functools import partial
from typing import Any

import anyio

from mix_provider.devserver.agent import MODEL, content_chunks, token_cost
from mix_provider.devserver.bus import EventBus
from mix_provider.devserver.callbacks import (
    DEFAULT_SUBAGENT_TYPE,
    SUBAGENT_REPLY,
    callback_env,
    callback_result,
    matching,
    scripted_bash,
    subagent_prompt,
)
from mix_provider.devserver.errors import ApiError
from mix_provider.devserver.store import Store, new_message_row, new_session_row
from mix_provider.devserver.wire import Row, now_rfc3339

MAX_CALLBACKS = 256
"""Callback runs per agent run whose messages a resumed run discards (a bound, not a limit)."""
_KINDS = ("user", "tool", "session", "prompt", "reply")
_SUBAGENT_INPUT_TOKENS = 20


def callback_ids(run_id: str, index: int) -> dict[str, str]:
    """Return the ids of what the ``index``-th callback of a run stores, by kind."""
    base = uuid.UUID(run_id)
    return {kind: str(uuid.uuid5(base, f"callback:{index}:{kind}")) for kind in _KINDS}


def callback_message_ids(run_id: str) -> list[str]:
    """Return the ids of every message the callbacks of a run may have stored in its session."""
    return [callback_ids(run_id, index)[kind] for index in range(MAX_CALLBACKS) for kind in ("user", "tool")]


class CallbackRunner:
    """Runs the callbacks of a tool round.

    :param store: persistence.
    :param bus: where a callback sub-agent's events go.
    """

    def __init__(self, store: Store, bus: EventBus) -> None:
        self._store = store
        self._bus = bus

    async def run(self, run: Row, calls: list[tuple[str, str]], results: list[dict[str, Any]]) -> list[str]:
        """Run the callbacks matching each successful tool ``(call id, name)``; return the texts of
        the injected user messages, which the agent answers in the same run."""
        session = await anyio.to_thread.run_sync(self._store.get_session, run["session_id"])
        callbacks = json.loads(session["callbacks"])
        injected: list[str] = []
        index = 0
        for (call_id, tool_name), result in zip(calls, results, strict=True):
            if result["is_error"]:
                continue
            for callback in matching(callbacks, tool_name):
                ids = callback_ids(run["id"], index)
                index += 1
                tool = (call_id, tool_name, result["content"])
                store = partial(_store_callback, self._store, run["session_id"], callback, tool, ids)
                part = await anyio.to_thread.run_sync(store)
                if callback["type"] == "send_message":
                    injected.append(callback["messageContent"])
                if callback["type"] == "sub_agent":
                    self._publish_subagent(run["session_id"], ids, part)
        return injected

    def _publish_subagent(self, session_id: str, ids: dict[str, str], part: dict[str, Any]) -> None:
        """Publish a callback sub-agent's events on the parent's stream (no ``parentToolCallId``)."""
        prompt = {"type": "user_message_created", "messageId": ids["prompt"], "content": part["prompt"]}
        self._bus.publish(session_id, "user_message_created", prompt)
        for chunk in content_chunks(SUBAGENT_REPLY):
            self._bus.publish(
                session_id, "content", {"type": "content", "content": chunk, "assistantMessageId": ids["reply"]}
            )


def _store_callback(
    store: Store, session_id: str, callback: dict[str, Any], tool: tuple[str, str, str], ids: dict[str, str]
) -> dict[str, Any]:
    """Do one callback's work and store its messages; return its part (plus ``prompt`` for a sub-agent).

    Blocking (SQLite): call it in a worker thread.
    """
    call_id, tool_name, result = tool
    now = now_rfc3339()
    extra: dict[str, Any] = {}
    if callback["type"] == "bash_script":
        outcome = scripted_bash(callback["bashCommand"], callback_env(session_id, call_id, tool_name, result))
        fields: dict[str, Any] = {
            "success": outcome.exit_code == 0,
            "stdout": outcome.stdout,
            "stderr": outcome.stderr,
            "exit_code": outcome.exit_code,
        }
    elif callback["type"] == "send_message":
        content = callback["messageContent"]
        store.add_message(new_message_row(ids["user"], session_id, "user", content, now))
        fields = {"success": True, "subagent_result": content}
    else:
        extra["prompt"] = subagent_prompt(callback["subAgentPrompt"], tool_name, call_id, result)
        _run_subagent(store, session_id, callback, (call_id, tool_name, extra["prompt"]), ids)
        fields = {"success": True, "subagent_id": ids["session"], "subagent_result": SUBAGENT_REPLY}
    part = callback_result(call_id, tool_name, callback, **fields)
    message = new_message_row(ids["tool"], session_id, "tool", "", now_rfc3339(), callback_results=json.dumps([part]))
    store.add_message(message)
    return {**part, **extra}


def _run_subagent(
    store: Store, parent_id: str, callback: dict[str, Any], call: tuple[str, str, str], ids: dict[str, str]
) -> None:
    """Create and answer the callback's sub-agent session (once) and add its cost to the parent."""
    call_id, tool_name, prompt = call
    try:
        store.get_session(ids["session"])
        return
    except ApiError:
        pass
    now = now_rfc3339()
    child = new_session_row(
        ids["session"],
        f"Callback: {tool_name}",
        now,
        session_type="subagent",
        subagent_type=callback.get("subAgentType") or DEFAULT_SUBAGENT_TYPE,
        parent_session_id=parent_id,
        parent_tool_call_id=call_id,
    )
    store.create_session(child)
    output_tokens = len(SUBAGENT_REPLY) // 4
    cost = token_cost(_SUBAGENT_INPUT_TOKENS, output_tokens)
    reply = new_message_row(
        ids["reply"],
        ids["session"],
        "assistant",
        SUBAGENT_REPLY,
        now,
        finish_reason="end_turn",
        model=MODEL,
        input_tokens=_SUBAGENT_INPUT_TOKENS,
        output_tokens=output_tokens,
        cost=cost,
    )
    store.add_message(new_message_row(ids["prompt"], ids["session"], "user", prompt, now), reply)
    store.increment_cost(parent_id, cost, now)
