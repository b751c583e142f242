"""Runs of the scripted agent, shaped like the real agent's turn loop (``agent.go``
``processGeneration`` and ``streamAndHandleEvents``).

A turn that uses tools is stored as an assistant message (``finishReason: tool_use``, its
tool calls), a ``tool`` message holding the results, then the final assistant message.
Each assistant message is inserted empty when its round starts and completed when the
round ends (``messages.Create``, then the accumulator's flush), so it holds its place in
the transcript while it streams.

Several runs of one session may be in progress at once: ``RunWithPlanMode`` has no busy
check. ``cancel`` stops the run started last, because ``activeContexts`` holds one cancel
function per session, overwritten by each new run and deleted when *any* run of the
session ends (``CancelWithReason``).

A tool may block its run: it asks for permission (``permission.go`` ``Request``: a denial
becomes the rejection result of ``concurrency_tools.go`` ``executeToolCall``) or, as
``Notify``, waits for a notification's response (``notify.go`` ``Run``). Cancelling the run
ends those waits, as it ends any tool.

A run's ``agent_runs`` row lives from the user message until the run ends, so a run
interrupted by a server stop is resumed at the next start (its partial messages are
discarded and produced again with the same ids).
"""

from __future__ import annotations

import asyncio
import json
import time
from functools import partial
from typing import Any

import anyio

from mix_provider.devserver.agent import (
    MODEL,
    Step,
    complete_data,
    content_chunks,
    plan_reply,
    token_cost,
    tool_call_part,
    tool_execution_steps,
    tool_result_part,
    tool_use_steps,
)
from mix_provider.devserver.bus import EventBus
from mix_provider.devserver.callback_run import CallbackRunner, callback_message_ids
from mix_provider.devserver.files import file_url_path, make_file
from mix_provider.devserver.notifications import NotificationService, NotifyAsk, outcome, result_text
from mix_provider.devserver.permissions import DENIED, PermissionService, denied_result, storage_dir
from mix_provider.devserver.run_state import (
    CONTEXT_CANCELED,
    RunState,
    ToolCall,
    call_ids,
    cancelled_result,
    message_ids,
    reply_text,
)
from mix_provider.devserver.settings import Settings
from mix_provider.devserver.store import Store, new_message_row
from mix_provider.devserver.subagent import nested_steps, run_subagent, subagent_task
from mix_provider.devserver.wire import Row, now_rfc3339

CANCELLED = "request cancelled by user"
"""``agent.go`` ``ErrRequestCancelled``: a run cancelled while a reply streams."""
SCRIPTED_ERROR = "Scripted agent error (devserver directive [[finish:error]])"
STEP_LIMIT = "maximum iteration limit ({} steps) reached"
"""``agent.go`` ``processGeneration`` (@ 1fa5f2d6): a run whose tool rounds exceed ``max_steps``."""
SUBAGENT_FIRST_CALL_S = 1.0
"""How long a sub-agent's first LLM call takes before its tool asks for permission (the real one
answers its prompt before any tool runs; ``task-tool.go`` ``Run`` starts it with ``agent.Run``)."""
ENDED_KEPT = 100_000
"""How many run end times :attr:`Runner.ended_at` keeps (the oldest go first)."""
UNASKED_TOOLS = ("Task", "Notify", "show_media")
"""Tools that never ask for permission, even in the default asking mode (the real ``Task``,
``Notify`` and ``show_media`` tools have no permission check; ``show_media.go``
``mediaShowcaseTool.Run`` holds no permission service)."""


class Runner:
    """Starts, cancels and resumes the scripted agent's runs.

    :param store: persistence.
    :param bus: where the runs' SSE events go.
    :param settings: reply delay, rules and whether every tool asks for permission.
    :param permissions: where tools ask for permission.
    :param notifications: where ``Notify`` calls wait for their response.
    """

    def __init__(
        self,
        store: Store,
        bus: EventBus,
        settings: Settings,
        permissions: PermissionService,
        notifications: NotificationService,
    ) -> None:
        self._store = store
        self._bus = bus
        self._settings = settings
        self._permissions = permissions
        self._notifications = notifications
        self._callbacks = CallbackRunner(store, bus)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._session_of: dict[str, str] = {}
        self._active: dict[str, str] = {}
        self._cancel_requested: set[str] = set()
        self.ended_at: dict[str, float] = {}
        """When each run's end was published (``time.monotonic()``), by final message id (benchmarks)."""

    def start(self, run: Row, resumed: bool = False) -> None:
        """Start the run described by an ``agent_runs`` row; it becomes the session's cancellable run.

        :param resumed: the run was interrupted by a server stop (drop its partial messages first).
        """
        run_id, session_id = run["id"], run["session_id"]
        task = asyncio.get_running_loop().create_task(self._execute(run, resumed))
        self._tasks[run_id] = task
        self._session_of[run_id] = session_id
        self._active[session_id] = run_id
        task.add_done_callback(lambda _: self._forget(run_id))

    def _forget(self, run_id: str) -> None:
        """Drop a finished run; like the agent's deferred ``activeContexts.Delete(sessionID)``,
        this also forgets the session's cancellable run even if another one started later."""
        self._tasks.pop(run_id, None)
        self._cancel_requested.discard(run_id)
        session_id = self._session_of.pop(run_id, None)
        if session_id is not None:
            self._active.pop(session_id, None)

    async def cancel(self, session_id: str) -> None:
        """Stop the session's cancellable run, storing what it streamed (``finishReason: canceled``)."""
        run_id = self._active.pop(session_id, None)
        task = self._tasks.get(run_id) if run_id is not None else None
        if run_id is not None and task is not None and not task.done():
            self._cancel_requested.add(run_id)
            task.cancel()
            await asyncio.wait([task])

    async def abort(self, session_id: str) -> None:
        """Stop every run of a session without storing anything (it is deleted or rewound)."""
        tasks = [task for run_id, task in self._tasks.items() if self._session_of.get(run_id) == session_id]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def shutdown(self) -> None:
        """Stop every run, leaving their rows so they resume at the next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _execute(self, run: Row, resumed: bool) -> None:
        """Run one user message's turn: an optional tool round, then the final reply."""
        options = json.loads(run["options"])
        plan = plan_reply(run["text"], self._settings, options.get("thinking_level"), run["session_id"])
        state = RunState(run, options, plan)
        if resumed:
            discarded = message_ids(options) + callback_message_ids(run["id"])
            await self._blocking(self._store.discard_messages, run["session_id"], discarded)
            state.first_stored = False
        if options.get("title"):
            asyncio.get_running_loop().create_task(self._rename(run["session_id"], options["title"]))
        try:
            await self._turn(state)
        except asyncio.CancelledError:
            if run["id"] not in self._cancel_requested:
                raise
            await self._cancelled(state)

    async def _turn(self, state: RunState) -> None:
        """Stream and store the tool round (when the plan uses tools) and the final reply."""
        plan, options = state.plan, state.options
        for call_id, tool in zip(call_ids(options, len(plan.tools)), plan.tools, strict=True):
            state.calls.append(ToolCall(call_id, tool))
        if plan.subagent:
            nested = nested_steps(options["task_call_id"], options["subagent_reply_id"])
            state.calls.append(ToolCall(options["task_call_id"], subagent_task(state.run), nested))
        final_steps = self._reply_steps(state)
        use_steps = [
            step for call in state.calls for step in tool_use_steps(call.call_id, call.tool, options["round_id"])
        ]
        run_steps = [tool_execution_steps(call.call_id, call.tool, call.nested) for call in state.calls]
        count = len(final_steps) + len(use_steps) + sum(len(steps) for steps in run_steps)
        state.pause = plan.delay_ms / 1000 / (count + 1)
        if state.calls:
            await self._begin(state, options["round_id"])
            await self._publish(state, use_steps)
            tool_calls = [tool_call_part(call.call_id, call.tool) for call in state.calls]
            round_message = await self._end_round(state, "tool_use", "", None, tool_calls)
            results = await self._run_tools(state, run_steps)
            if self._settings.generation == "current" and await self._after_tools(state, results, round_message):
                return
        await self._begin(state, options["final_id"])
        await self._publish(state, self._reply_steps(state))
        await asyncio.sleep(state.pause)
        message = await self._end_round(state, plan.finish_reason, reply_text(state), plan.reasoning, [])
        await self._blocking(self._store.finish_run, state.run["id"])
        self._announce_end(state.run["session_id"], message)

    def _reply_steps(self, state: RunState) -> list[Step]:
        """Return the final round's events: ``thinking`` (unless off) and the ``content`` deltas."""
        owner = {"assistantMessageId": state.options["final_id"]}
        steps: list[Step] = []
        if state.plan.reasoning is not None:
            steps.append(("thinking", {"type": "thinking", "content": state.plan.reasoning, **owner}))
        chunks = content_chunks(reply_text(state))
        return steps + [("content", {"type": "content", "content": chunk, **owner}) for chunk in chunks]

    async def _run_tools(self, state: RunState, run_steps: list[list[Step]]) -> list[dict[str, Any]]:
        """Run the tools, store their results as one ``tool`` message (``streamAndHandleEvents``)
        and return them."""
        state.tools_running = True
        results = [await self._run_tool(state, call, steps) for call, steps in zip(state.calls, run_steps, strict=True)]
        await self._store_tool_message(state, results)
        state.tools_running = False
        return results

    async def _after_tools(self, state: RunState, results: list[dict[str, Any]], round_message: Row) -> bool:
        """Run the round's callbacks (the agent answers injected messages in its final reply), then
        end the run if its step limit is reached; tell whether it ended (``processGeneration``)."""
        calls = [(call.call_id, call.tool.name) for call in state.calls]
        injected = await self._callbacks.run(state.run, calls, results)
        state.outcomes += [f"You said: {text}" for text in injected]
        limit = state.options.get("max_steps")
        if limit is None or limit >= 2:  # the scripted agent's second step is its final reply
            return False
        message = {**round_message, "finish_reason": "canceled", "updated_at": now_rfc3339()}
        await self._blocking(self._store.set_finish_reason, message)
        await self._blocking(self._store.finish_run, state.run["id"])
        self._record_end(round_message["id"])
        for _ in range(2):
            self._bus.publish(state.run["session_id"], "error", {"error": STEP_LIMIT.format(limit)})
        return True

    async def _run_tool(self, state: RunState, call: ToolCall, steps: list[Step]) -> dict[str, Any]:
        """Run one tool (``executeToolCall``): announce it, ask for permission when it must (a
        denied tool stops there), wait for its notification's response, then finish it."""
        await self._publish(state, steps[:1])
        tool, session_id = call.tool, state.run["session_id"]
        if tool.ask or (self._settings.require_permissions and tool.name not in UNASKED_TOOLS):
            granted = await self._permissions.ask(session_id, tool.name, tool.input, self._settings.data_dir)
            state.outcomes.append(f"permission {'granted' if granted else 'denied'}: {tool.name}")
            if not granted:
                await self._publish(state, tool_execution_steps(call.call_id, tool, failure=DENIED)[1:])
                return denied_result(call.call_id, tool.name)
        if tool.makes is not None:
            await self._blocking(make_file, storage_dir(self._settings.data_dir, session_id), *tool.makes)
            state.outcomes.append(f"![{tool.makes[0]}]({file_url_path(session_id, tool.makes[0])})")
        result = tool_result_part(call.call_id, tool)
        if call.nested is not None:
            roll_up = self._settings.generation == "current"
            cost, metadata = await self._blocking(run_subagent, self._store, state.run, state.options, roll_up)
            state.extra_cost += 0.0 if roll_up else cost
            result = tool_result_part(call.call_id, tool, metadata)
            await self._subagent_asks(state, metadata["subagentSessionId"])
        if tool.notify is not None:
            result = await self._notify(state, tool.notify, result)
        await self._publish(state, steps[1:])
        return result

    async def _subagent_asks(self, state: RunState, child_id: str) -> None:
        """Let the sub-agent's tool ask for permission under the *sub-agent's* session: ``sse.go``
        ``HandleSSEStream`` forwards a ``permission`` event only to streams of its own session, so
        the parent's stream never sees it and, unanswered, it is denied after the timeout. The tool
        asks after the sub-agent's first LLM call (:data:`SUBAGENT_FIRST_CALL_S`)."""
        ask = state.plan.subagent_ask
        if ask is not None:
            await asyncio.sleep(SUBAGENT_FIRST_CALL_S)
            granted = await self._permissions.ask(child_id, ask.name, ask.input, self._settings.data_dir)
            state.outcomes.append(f"sub-agent permission {'granted' if granted else 'denied'}: {ask.name}")

    async def _notify(self, state: RunState, ask: NotifyAsk, result: dict[str, Any]) -> dict[str, Any]:
        """Send a ``Notify`` call's notification and return its result (``notifyTool.Run``)."""
        problem = ask.problem()
        if problem is not None:
            state.outcomes.append(f"notification failed: {problem}")
            return {**result, "content": problem, "is_error": True}
        response = await self._notifications.request(state.run["session_id"], ask)
        content, is_error = result_text(ask, response)
        state.outcomes.append(outcome(ask, response))
        return {**result, "content": content, "is_error": is_error}

    async def _store_tool_message(self, state: RunState, results: list[dict[str, Any]]) -> None:
        """Store the ``tool`` message holding the results (no text; ``finishReason: stop``)."""
        row = new_message_row(state.options["tool_message_id"], state.run["session_id"], "tool", "", now_rfc3339())
        row["tool_results"] = json.dumps(results)
        await self._blocking(self._store.add_message, row)

    async def _begin(self, state: RunState, message_id: str) -> None:
        """Insert the empty assistant message of a round (no finish reason yet); the first one
        was stored with the user message."""
        row = new_message_row(message_id, state.run["session_id"], "assistant", "", now_rfc3339(), model=MODEL)
        if not state.first_stored:
            await self._blocking(self._store.add_message, row)
        state.first_stored = False
        state.current, state.content, state.round_started = row, [], time.monotonic()

    async def _publish(self, state: RunState, steps: list[Step]) -> None:
        """Publish events one pause apart, keeping the top-level text for a cancellation."""
        for name, data in steps:
            await asyncio.sleep(state.pause)
            if name == "content" and "parentToolCallId" not in data:
                state.content.append(data["content"])
            self._bus.publish(state.run["session_id"], name, data)

    async def _end_round(
        self, state: RunState, reason: str, content: str, reasoning: str | None, tool_calls: list[dict[str, Any]]
    ) -> Row:
        """Complete the round's assistant message with its text, finish reason, tokens and cost."""
        assert state.current is not None
        output_tokens = len(content.encode()) // 4 + sum(len(call["input"]) for call in tool_calls) // 4
        final = reason not in ("tool_use", "canceled")
        cost = token_cost(state.plan.input_tokens, output_tokens) + (state.extra_cost if final else 0.0)
        message = {
            **state.current,
            "content": content,
            "reasoning": reasoning,
            "reasoning_duration": int(time.monotonic() - state.round_started) if reasoning else None,
            "finish_reason": reason,
            "input_tokens": state.plan.input_tokens,
            "output_tokens": output_tokens,
            "cost": round(cost, 8),
            "tool_calls": json.dumps(tool_calls) if tool_calls else None,
            "updated_at": now_rfc3339(),
        }
        await self._blocking(self._store.update_message, message)
        state.current = None
        return message

    async def _cancelled(self, state: RunState) -> None:
        """Store what a cancelled run streamed and end its stream with ``error`` (twice, as
        ``processAgentEvents`` broadcasts the final error event, then ``broadcastErrorToSSE``)."""
        error = CANCELLED
        if state.tools_running:
            results = [cancelled_result(call) for call in state.calls]
            await self._store_tool_message(state, results)
            error = CONTEXT_CANCELED
        elif state.current is not None:
            await self._end_round(state, "canceled", "".join(state.content), None, [])
        await self._blocking(self._store.finish_run, state.run["id"])
        for _ in range(2):
            self._bus.publish(state.run["session_id"], "error", {"error": error})

    def _announce_end(self, session_id: str, message: Row) -> None:
        """Publish the end of a turn (``BroadcastAgentEventToSSE`` and ``processAgentEvents``)."""
        reason = message["finish_reason"]
        self._record_end(message["id"])
        if reason == "permission_denied":
            self._bus.publish(session_id, "error", {"error": "Permission denied"})
        elif reason == "error":
            for _ in range(2):
                self._bus.publish(session_id, "error", {"error": SCRIPTED_ERROR})
        else:
            self._bus.publish(session_id, "complete", complete_data(message))

    def _record_end(self, message_id: str) -> None:
        """Remember when a run's end was published, by its last message id."""
        if len(self.ended_at) >= ENDED_KEPT:
            del self.ended_at[next(iter(self.ended_at))]
        self.ended_at[message_id] = time.monotonic()

    async def _rename(self, session_id: str, title: str) -> None:
        """Give the session its generated title, in the background like ``generateTitle``."""
        await self._blocking(self._store.rename_session, session_id, title, now_rfc3339())

    @staticmethod
    async def _blocking(func: Any, *args: Any) -> Any:
        """Run a blocking store call in a worker thread."""
        return await anyio.to_thread.run_sync(partial(func, *args))
