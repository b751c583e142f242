"""The state of a run in progress and the small pure helpers of :mod:`runner`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mix_provider.devserver.agent import ReplyPlan, Step, ToolPlan
from mix_provider.devserver.wire import Row

CONTEXT_CANCELED = "context canceled"
"""Go's ``context.Canceled``: a run cancelled while its tools run (checked at the next turn)."""


@dataclass
class ToolCall:
    """One tool call of a turn: id, plan, and the sub-agent's nested events if it is a Task."""

    call_id: str
    tool: ToolPlan
    nested: list[Step] | None = None


@dataclass
class RunState:
    """A run in progress: what it streamed so far (stored as is when it is cancelled)."""

    run: Row
    options: dict[str, Any]
    plan: ReplyPlan
    pause: float = 0.0
    current: Row | None = None
    content: list[str] = field(default_factory=list)
    round_started: float = 0.0
    extra_cost: float = 0.0
    calls: list[ToolCall] = field(default_factory=list)
    tools_running: bool = False
    first_stored: bool = True
    outcomes: list[str] = field(default_factory=list)


def call_ids(options: dict[str, Any], count: int) -> list[str]:
    """Return the ids of a run's first ``count`` tool calls (kept in its options, so a resumed
    run reuses them; runs stored before ``call_ids`` existed had one tool call at most)."""
    ids = options.get("call_ids") or [options["tool_call_id"]]
    return [str(call_id) for call_id in ids[:count]]


def reply_text(state: RunState) -> str:
    """Return the final reply: the plan's text, then one line per permission or notification."""
    return "\n".join([state.plan.reply, *state.outcomes])


def message_ids(options: dict[str, Any]) -> list[str]:
    """Return the ids of the messages a run produces after its user message."""
    return [options["round_id"], options["tool_message_id"], options["final_id"]]


def cancelled_result(call: ToolCall) -> dict[str, Any]:
    """Return the error result of a tool interrupted by a cancellation."""
    return {
        "tool_call_id": call.call_id,
        "name": call.tool.name,
        "content": CONTEXT_CANCELED,
        "metadata": "",
        "is_error": True,
    }
