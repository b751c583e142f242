"""The ``[[subagent]]`` directive: a sub-agent session and its nested SSE events."""

from __future__ import annotations

import json
from typing import Any

from mix_provider.devserver.agent import MODEL, Step, ToolPlan, token_cost
from mix_provider.devserver.errors import ApiError
from mix_provider.devserver.store import Store, new_message_row, new_session_row
from mix_provider.devserver.wire import Row, now_rfc3339

SUBAGENT_REPORT = "Sub-agent report: nothing to add."


def subagent_task(run: Row) -> ToolPlan:
    """Return the ``Task`` tool call that starts the sub-agent."""
    prompt = f"Investigate: {run['text'][:200]}"
    return ToolPlan(
        name="Task", input=json.dumps({"description": "sub-task", "prompt": prompt}), result=SUBAGENT_REPORT
    )


def run_subagent(store: Store, run: Row, options: dict[str, Any], roll_up: bool) -> tuple[float, dict[str, Any]]:
    """Store the sub-agent's session (once); return its cost and the Task result's metadata.

    :param roll_up: add the sub-agent's cost to the parent session when it is created
        (``IncrementSessionCost``, the current generation); else the caller adds it to the
        parent's final message.

    Blocking (SQLite): call it in a worker thread.
    """
    child_id = options["subagent_session_id"]
    prompt = json.loads(subagent_task(run).input)["prompt"]
    cost = token_cost(20, len(SUBAGENT_REPORT) // 4)
    try:
        store.get_session(child_id)
    except ApiError:
        _store_child(store, run, options, prompt, cost)
        if roll_up:
            store.increment_cost(run["session_id"], cost, now_rfc3339())
    return cost, {"subagentSessionId": child_id}


def nested_steps(call_id: str, reply_id: str) -> list[Step]:
    """Return the sub-agent's own events (routed to the parent with ``parentToolCallId``,
    ``rest_messages_broadcast.go``), two of them outside the spec."""
    nested = {"parentToolCallId": call_id}
    rate_limit = {
        "error": "This request would exceed your account's rate limit. The application will automatically retry.",
        "type": "rate_limit_error",
        "retryAfter": 60,
        "attempt": 1,
        "maxAttempts": 8,
    }
    complete = {"type": "complete", "content": SUBAGENT_REPORT, "messageId": reply_id, "done": True}
    return [
        ("tool", {"type": "tool", "name": "Glob", "input": "{}", "id": "toolu_nested", "status": "running", **nested}),
        ("content", {"type": "content", "content": SUBAGENT_REPORT, **nested, "assistantMessageId": reply_id}),
        ("rate_limit_error", {**rate_limit, **nested}),
        ("complete", {**complete, **nested}),
    ]


def _store_child(store: Store, run: Row, options: dict[str, Any], prompt: str, cost: float) -> None:
    """Create the sub-agent session with its prompt and report."""
    now = now_rfc3339()
    child_id = options["subagent_session_id"]
    store.create_session(
        new_session_row(
            child_id,
            "Sub-agent: sub-task",
            now,
            session_type="subagent",
            subagent_type="general-purpose",
            parent_session_id=run["session_id"],
            parent_tool_call_id=options["task_call_id"],
        )
    )
    store.add_message(new_message_row(options["subagent_prompt_id"], child_id, "user", prompt, now, input_tokens=0))
    store.add_message(
        new_message_row(
            options["subagent_reply_id"],
            child_id,
            "assistant",
            SUBAGENT_REPORT,
            now,
            finish_reason="end_turn",
            model=MODEL,
            input_tokens=20,
            output_tokens=len(SUBAGENT_REPORT) // 4,
            cost=cost,
            tool_calls="[]",
        )
    )
