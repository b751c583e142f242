"""Runs of the scripted agent: one asyncio task per session, streamed to the event bus.

A run's row in the ``runs`` table lives from the user message until the assistant
message is stored, so a run interrupted by a server stop is resumed at the next start.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import anyio

from mix_provider.devserver.agent import (
    MODEL,
    ReplyPlan,
    Step,
    content_chunks,
    plan_reply,
    token_cost,
    tool_call_record,
    tool_steps,
)
from mix_provider.devserver.bus import EventBus
from mix_provider.devserver.settings import Settings
from mix_provider.devserver.store import Store
from mix_provider.devserver.subagent import run_subagent
from mix_provider.devserver.wire import Row, now_rfc3339


@dataclass
class _Progress:
    """What a run has streamed so far (stored as is when it is cancelled)."""

    content: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    extra_cost: float = 0.0


class Runner:
    """Starts, cancels and resumes the scripted agent's runs.

    :param store: persistence.
    :param bus: where the runs' SSE events go.
    :param settings: reply delay and rules.
    """

    def __init__(self, store: Store, bus: EventBus, settings: Settings) -> None:
        self._store = store
        self._bus = bus
        self._settings = settings
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cancel_requested: set[str] = set()

    def is_running(self, session_id: str) -> bool:
        """Tell whether a run is in progress for the session."""
        return session_id in self._tasks

    def start(self, run: Row) -> None:
        """Start the run described by a ``runs`` row."""
        task = asyncio.get_running_loop().create_task(self._execute(run))
        self._tasks[run["session_id"]] = task
        task.add_done_callback(lambda _: self._tasks.pop(run["session_id"], None))

    async def cancel(self, session_id: str) -> None:
        """Stop a run, storing what it streamed with ``finishReason=canceled``."""
        task = self._tasks.get(session_id)
        if task is not None:
            self._cancel_requested.add(session_id)
            task.cancel()
            await asyncio.wait([task])

    async def abort(self, session_id: str) -> None:
        """Stop a run without storing anything (its session is deleted or rewound)."""
        task = self._tasks.get(session_id)
        if task is not None:
            task.cancel()
            await asyncio.wait([task])

    async def shutdown(self) -> None:
        """Stop every run, leaving their rows so they resume at the next start."""
        for session_id in list(self._tasks):
            await self.abort(session_id)

    async def _execute(self, run: Row) -> None:
        """Stream the planned reply, then store the assistant message and finish."""
        options = json.loads(run["options"])
        plan = plan_reply(run["text"], self._settings, options.get("thinking_level"))
        progress = _Progress()
        session_id = run["session_id"]
        started = time.monotonic()
        try:
            steps = await self._steps(run, plan, options, progress)
            pause = plan.delay_ms / 1000 / (len(steps) + 1)
            for name, data in steps:
                await asyncio.sleep(pause)
                self._emit(session_id, name, data, progress)
            await asyncio.sleep(pause)
            await self._finish(run, plan, progress, plan.finish_reason, started)
        except asyncio.CancelledError:
            if session_id not in self._cancel_requested:
                raise
            self._cancel_requested.discard(session_id)
            await self._finish(run, plan, progress, "canceled", started)

    async def _steps(self, run: Row, plan: ReplyPlan, options: dict[str, Any], progress: _Progress) -> list[Step]:
        """Return the SSE events of a run before its final ``complete``."""
        assistant_id = run["assistant_id"]
        steps: list[Step] = []
        if plan.reasoning is not None:
            steps.append(("thinking", {"content": plan.reasoning, "assistantMessageId": assistant_id}))
        chunks = content_chunks(plan.reply)
        steps += [("content", {"content": chunk, "assistantMessageId": assistant_id}) for chunk in chunks]
        if plan.tool is not None:
            steps += tool_steps(options["tool_call_id"], plan.tool, assistant_id)
            steps.append(("_tool_done", tool_call_record(options["tool_call_id"], plan.tool)))
        if plan.subagent:
            record, sub_steps, cost = await anyio.to_thread.run_sync(partial(run_subagent, self._store, run, options))
            steps += sub_steps
            progress.extra_cost = cost
            steps.append(("_tool_done", record))
        return steps

    def _emit(self, session_id: str, name: str, data: dict[str, Any], progress: _Progress) -> None:
        """Publish one step and record what it means for the stored message."""
        nested = "parentToolCallId" in data
        if name == "content" and not nested:
            progress.content.append(data["content"])
        if name == "_tool_done":
            progress.tool_calls.append(data)
            return
        self._bus.publish(session_id, name, data)

    async def _finish(self, run: Row, plan: ReplyPlan, progress: _Progress, reason: str, started: float) -> None:
        """Store the assistant message and publish ``complete`` (or ``error``)."""
        content = plan.reply if reason != "canceled" else "".join(progress.content)
        message = _assistant_row(run, plan, content, reason, progress, started)
        await anyio.to_thread.run_sync(partial(self._store.add_message, message, finish_run=True))
        if reason == "error":
            error = {
                "error": "Scripted agent error (devserver directive [[finish:error]])",
                "type": "agent_error",
            }
            self._bus.publish(run["session_id"], "error", error)
            return
        self._bus.publish(run["session_id"], "complete", _complete_data(message))


def _assistant_row(run: Row, plan: ReplyPlan, content: str, reason: str, progress: _Progress, started: float) -> Row:
    """Return the ``messages`` row of a finished (or cancelled) assistant reply."""
    now = now_rfc3339()
    output_tokens = len(content.encode()) // 4
    return {
        "id": run["assistant_id"],
        "session_id": run["session_id"],
        "role": "assistant",
        "content": content,
        "reasoning": plan.reasoning,
        "reasoning_duration": int((time.monotonic() - started) * 1000) if plan.reasoning else None,
        "finish_reason": reason,
        "model": MODEL,
        "input_tokens": plan.input_tokens,
        "output_tokens": output_tokens,
        "cost": round(token_cost(plan.input_tokens, output_tokens) + progress.extra_cost, 8),
        "tool_calls": json.dumps(progress.tool_calls),
        "created_at": now,
        "updated_at": now,
    }


def _complete_data(message: Row) -> dict[str, Any]:
    """Return the data of the final ``complete`` event of a stored assistant message."""
    data = {
        "done": True,
        "messageId": message["id"],
        "sessionId": message["session_id"],
        "content": message["content"],
        "finishReason": message["finish_reason"],
        "inputTokens": message["input_tokens"],
        "outputTokens": message["output_tokens"],
        "cost": message["cost"],
    }
    if message["reasoning"] is not None:
        data["reasoning"] = message["reasoning"]
        data["reasoningDuration"] = message["reasoning_duration"]
    return data
