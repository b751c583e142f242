"""The ``[[subagent]]`` directive: a sub-agent session and its nested SSE events."""

from __future__ import annotations

import json
from typing import Any

from mix_provider.devserver.agent import MODEL, Step, ToolPlan, token_cost, tool_call_record, tool_steps
from mix_provider.devserver.errors import ApiError
from mix_provider.devserver.store import Store, new_message_row, new_session_row
from mix_provider.devserver.wire import Row, now_rfc3339

SUBAGENT_REPORT = "Sub-agent report: nothing to add."


def run_subagent(store: Store, run: Row, options: dict[str, Any]) -> tuple[dict[str, Any], list[Step], float]:
    """Store the sub-agent's session (once) and return its tool call, nested events and cost.

    Blocking (SQLite): call it in a worker thread.
    """
    call_id = options["task_call_id"]
    child_id = options["subagent_session_id"]
    prompt = f"Investigate: {run['text'][:200]}"
    task = ToolPlan(
        name="Task", input=json.dumps({"description": "sub-task", "prompt": prompt}), result=SUBAGENT_REPORT
    )
    cost = token_cost(20, len(SUBAGENT_REPORT) // 4)
    try:
        store.get_session(child_id)
    except ApiError:
        _store_child(store, run, options, prompt, cost)
    outer = tool_steps(call_id, task, run["assistant_id"])
    steps = outer[:-1] + _nested_steps(call_id, options["subagent_reply_id"]) + outer[-1:]
    record = tool_call_record(call_id, task, {"subagentSessionId": child_id})
    return record, steps, cost


def _nested_steps(call_id: str, reply_id: str) -> list[Step]:
    """Return the sub-agent's own events (with ``parentToolCallId``), two of them outside the spec."""
    nested = {"parentToolCallId": call_id}
    complete = {"done": True, "messageId": reply_id, "content": SUBAGENT_REPORT, "finishReason": "end_turn"}
    return [
        ("tool", {"name": "Glob", "status": "running", **nested}),
        ("content", {"content": SUBAGENT_REPORT, "assistantMessageId": reply_id, **nested}),
        ("rate_limit_error", {"error": "simulated rate limit", "retryAfter": 10, **nested}),
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
