"""The deterministic scripted agent: what a message's reply will be.

The reply is planned from the user text alone (directives, then reply rules, then the
echo default), so the same text always produces the same reply.

Directives, removed from the echoed text::

    ``[[tool]]``            a ``Bash`` tool round before the reply (assistant ``tool_use``, ``tool``)
    ``[[finish:REASON]]``   finish with REASON (``end_turn`` by default; ``error`` and
                            ``permission_denied`` emit SSE ``error`` events instead of ``complete``)
    ``[[delay:MS]]``        stream the reply over MS milliseconds
    ``[[subagent]]``        also run a sub-agent (nested events with ``parentToolCallId``)
    ``[[subagent:permission:bash:CMD]]`` (or ``write:PATH``) the same, and the sub-agent's tool asks
                            for permission under the sub-agent's session
    ``[[size:BYTES]]``      reply with BYTES bytes of deterministic filler text

Tool, permission and notification directives each add one tool call to the tool round, in
the order written (arguments may contain ``:``, not ``]``; a TEXT no ``|``)::

    ``[[tool:bash:CMD]]``         a ``bash`` tool running CMD (asks for permission unless the
                                  server runs with ``--dangerously-skip-permissions``)
    ``[[tool:write:PATH]]``       a ``Write`` tool writing PATH (likewise)
    ``[[permission:bash:CMD]]``   the same ``bash`` tool, always asking for permission first
    ``[[permission:write:PATH]]`` the same ``Write`` tool, always asking for permission first
    ``[[question:TEXT|A,B|timeout=S]]`` a ``Notify`` question: ``choice`` among A, B... (``text``
                                  without choices), waiting S seconds (60 by default)
    ``[[notify:TYPE:TEXT|timeout=S]]`` a ``Notify`` of TYPE ``info``/``warning``/``error``/``question``,
                                  answered with ``acknowledge``
    ``[[file:NAME]]``             a ``show_media`` tool showing NAME, which the agent writes into the
                                  session's storage directory (a PNG, JPEG, PDF or text by extension;
                                  ``[[file:NAME:BYTES]]``: BYTES filler bytes); the reply references it
                                  as ``![NAME](/api/sessions/<id>/files/NAME)``

The final reply adds one line per permission or notification: ``permission granted: NAME``,
``permission denied: NAME``, ``answered: VALUE``, ``acknowledged`` or ``no answer: timed out
after S s``. Nothing is executed or written: a granted ``bash`` returns ``no output``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from typing import Any

from mix_provider.devserver.files import file_url_path
from mix_provider.devserver.notifications import NotifyAsk, parse_notify, parse_question
from mix_provider.devserver.settings import ReplyRule, Settings
from mix_provider.devserver.wire import filler

MODEL = "devserver-scripted"
Step = tuple[str, dict[str, Any]]
"""One SSE event to publish: name and data."""
_DIRECTIVE = re.compile(
    r"\[\[(tool|subagent(?::permission:(?:bash|write):[^\]]+)?|finish:[a-z_]+|delay:\d+|size:\d+|(?:tool|permission):(?:bash|write):[^\]]+"
    r"|question:[^\]]+|notify:(?:info|warning|error|question):[^\]]+|file:[\w.-]+(?::\d+)?)\]\]"
)
_DEFAULT_TOOL: dict[str, Any] = {
    "name": "Bash",
    "input": {"command": "echo 'hello from the Mix devserver'"},
    "result": "hello from the Mix devserver\n",
}


_MEDIA_KINDS = {
    **dict.fromkeys((".png", ".jpg", ".jpeg", ".gif", ".webp"), "image"),
    **dict.fromkeys((".mp4", ".webm", ".mov"), "video"),
    **dict.fromkeys((".mp3", ".wav"), "audio"),
    ".pdf": "pdf",
    ".csv": "csv",
}
WRITTEN_CONTENT = "Written by the Mix devserver.\n"


@dataclass(frozen=True)
class ToolPlan:
    """A tool call the agent makes: tool ``name``, JSON ``input`` and its ``result``.

    :param ask: ask for permission even with ``--dangerously-skip-permissions``.
    :param notify: the notification a ``Notify`` call sends (its result is the response).
    """

    name: str
    input: str
    result: str
    ask: bool = False
    notify: NotifyAsk | None = None
    makes: tuple[str, int | None] | None = None


@dataclass(frozen=True)
class ReplyPlan:
    """Everything the agent will stream and store for one user message."""

    reply: str
    reasoning: str | None
    tool: ToolPlan | None
    finish_reason: str
    delay_ms: int
    subagent: bool
    input_tokens: int
    extra_tools: tuple[ToolPlan, ...] = ()
    subagent_ask: ToolPlan | None = None

    @property
    def tools(self) -> tuple[ToolPlan, ...]:
        """Return every tool call of the tool round but the sub-agent's ``Task``: the rule's or
        ``[[tool]]``'s, then those of the other tool directives."""
        return ((self.tool,) if self.tool is not None else ()) + self.extra_tools


def plan_reply(text: str, settings: Settings, thinking_level: str | None = None, session_id: str = "") -> ReplyPlan:
    """Plan the reply to ``text`` from its directives, the reply rules and the defaults (``session_id``
    names the files the agent makes)."""
    clean = _DIRECTIVE.sub("", text).strip()
    plan = ReplyPlan(
        reply=f"You said: {clean}",
        reasoning=None if thinking_level == "off" else f"The user wrote {len(clean)} characters; echo them.",
        tool=None,
        finish_reason="end_turn",
        delay_ms=settings.reply_delay_ms,
        subagent=False,
        input_tokens=12 + len(text.encode()) // 4,
    )
    rule = next((rule for rule in settings.rules if rule.pattern.search(clean)), None)
    if rule is not None:
        plan = _apply_rule(plan, rule)
    for directive in _DIRECTIVE.findall(text):
        plan = _apply_directive(plan, directive, session_id)
    return plan


def title_for(text: str, limit: int = 100) -> str:
    """Return the title the scripted agent gives a session after its first message: the text
    without directives, on one line, cut to ``limit`` characters (the real ``generateTitle``
    asks the LLM for one)."""
    clean = " ".join(_DIRECTIVE.sub("", text).split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def token_cost(input_tokens: int, output_tokens: int) -> float:
    """Return a message's cost in USD (3 $/Mtok in, 15 $/Mtok out)."""
    return round(input_tokens * 3e-6 + output_tokens * 15e-6, 8)


def _tool_plan(spec: dict[str, Any]) -> ToolPlan:
    """Build a :class:`ToolPlan` from a rule's ``tool`` object."""
    merged = {**_DEFAULT_TOOL, **spec}
    return ToolPlan(name=str(merged["name"]), input=json.dumps(merged["input"]), result=str(merged["result"]))


def _apply_rule(plan: ReplyPlan, rule: ReplyRule) -> ReplyPlan:
    """Return ``plan`` changed by a matching reply rule."""
    return replace(
        plan,
        reply=rule.reply,
        tool=_tool_plan(rule.tool) if rule.tool is not None else plan.tool,
        finish_reason=rule.finish_reason or plan.finish_reason,
        delay_ms=rule.delay_ms if rule.delay_ms is not None else plan.delay_ms,
    )


def _apply_directive(plan: ReplyPlan, directive: str, session_id: str) -> ReplyPlan:
    """Return ``plan`` changed by one ``[[...]]`` directive."""
    name, _, value = directive.partition(":")
    if name == "file":
        return replace(plan, extra_tools=(*plan.extra_tools, _media_tool(session_id, value)))
    if name in ("tool", "permission") and value:
        return replace(plan, extra_tools=(*plan.extra_tools, _directive_tool(value, ask=name == "permission")))
    if name in ("question", "notify"):
        ask = parse_question(value) if name == "question" else parse_notify(value)
        return replace(plan, extra_tools=(*plan.extra_tools, ToolPlan("Notify", ask.tool_input(), "", notify=ask)))
    if name == "tool":
        return replace(plan, tool=_tool_plan({}))
    if name == "subagent":
        child_tool = _directive_tool(value.removeprefix("permission:"), ask=True) if value else None
        return replace(plan, subagent=True, subagent_ask=child_tool)
    if name == "finish":
        return replace(plan, finish_reason=value)
    if name == "delay":
        return replace(plan, delay_ms=int(value))
    return replace(plan, reply=filler(int(value)))


def _directive_tool(value: str, ask: bool) -> ToolPlan:
    """Return the ``bash`` (``bash.go``) or ``Write`` (``write.go``) call of a ``[[tool:...]]`` or
    ``[[permission:...]]`` directive; nothing is run or written, the results are what the real
    tools answer (``no output``, ``File successfully written: PATH``)."""
    kind, _, argument = value.partition(":")
    if kind == "bash":
        return ToolPlan("bash", json.dumps({"command": argument}), "no output", ask=ask)
    written = f"<result>\nFile successfully written: {argument}\n</result>"
    return ToolPlan("Write", json.dumps({"file_path": argument, "content": WRITTEN_CONTENT}), written, ask=ask)


def _media_tool(session_id: str, value: str) -> ToolPlan:
    """The ``show_media`` call (``show_media.go``) of a file the agent makes (``[[file:NAME[:BYTES]]]``)."""
    name, _, size = value.partition(":")
    kind = _MEDIA_KINDS.get(os.path.splitext(name)[1].lower(), "image")
    outputs = [{"path": file_url_path(session_id, name), "type": kind, "title": name}]
    result = f"Successfully showcasing 1 media output(s): {name}"
    return ToolPlan("show_media", json.dumps({"outputs": outputs}), result, makes=(name, int(size) if size else None))


def content_chunks(reply: str, minimum: int = 5, max_chunk: int = 65_536) -> list[str]:
    """Split the reply into the ``content`` deltas streamed over SSE."""
    count = max(minimum, -(-len(reply) // max_chunk))
    size = max(1, -(-len(reply) // count))
    return [reply[start : start + size] for start in range(0, len(reply), size)] or [""]


def tool_call_part(call_id: str, tool: ToolPlan) -> dict[str, Any]:
    """Return a finished tool call as stored on the assistant message (``message.ToolCall``:
    no result; the result goes to the ``tool`` message)."""
    return {"id": call_id, "name": tool.name, "input": tool.input, "type": "tool_use", "finished": True}


def tool_result_part(call_id: str, tool: ToolPlan, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a tool's result as stored on the ``tool`` message (``message.ToolResult``;
    ``metadata`` is a JSON string there)."""
    return {
        "tool_call_id": call_id,
        "name": tool.name,
        "content": tool.result,
        "metadata": json.dumps(metadata or {}),
        "is_error": False,
    }


def tool_use_steps(call_id: str, tool: ToolPlan, assistant_id: str) -> list[Step]:
    """Return the SSE events of a tool call being declared (``BroadcastAgentEventToSSE``)."""
    half = len(tool.input) // 2
    owner = {"assistantMessageId": assistant_id}
    return [
        ("tool_use_start", {"type": "tool_use_start", "name": tool.name, "id": call_id, **owner}),
        ("tool_use_parameter_delta", _delta(call_id, tool.input[:half], owner)),
        ("tool_use_parameter_delta", _delta(call_id, tool.input[half:], owner)),
        (
            "tool_use_parameter_streaming_complete",
            {
                "type": "tool_use_parameter_streaming_complete",
                "name": tool.name,
                "input": tool.input,
                "id": call_id,
                **owner,
            },
        ),
    ]


def _delta(call_id: str, chunk: str, owner: dict[str, str]) -> dict[str, Any]:
    """Return a ``tool_use_parameter_delta`` payload."""
    return {"type": "tool_use_parameter_delta", "toolCallId": call_id, "input": chunk, **owner}


def tool_execution_steps(
    call_id: str, tool: ToolPlan, nested: list[Step] | None = None, failure: str | None = None
) -> list[Step]:
    """Return the SSE events of a tool running (``agent/concurrency_tools.go`` ``executeToolCall``):
    the progress texts ``Executing X tool`` / ``Completed X tool in D``, or ``Failed X tool after
    D: ERR`` with ``success: false`` when the tool returned ``failure``; ``toolName`` is empty
    because the server's ``extractToolNameFromProgress`` recognizes none of these wordings."""
    start = {
        "type": "tool_execution_start",
        "toolName": "",
        "progress": f"Executing {tool.name} tool",
        "toolCallId": call_id,
    }
    progress = (
        f"Completed {tool.name} tool in 1ms" if failure is None else f"Failed {tool.name} tool after 1ms: {failure}"
    )
    done = {
        "type": "tool_execution_complete",
        "toolName": "",
        "progress": progress,
        "success": failure is None,
        "toolCallId": call_id,
    }
    return [("tool_execution_start", start), *(nested or []), ("tool_execution_complete", done)]


def complete_data(message: dict[str, Any]) -> dict[str, Any]:
    """Return the data of a top-level ``complete`` event (``sse_events.go`` ``CompleteEvent``):
    no finish reason, tokens or cost; ``content``, ``reasoning`` and its duration omitted when empty."""
    data: dict[str, Any] = {"type": "complete"}
    if message["content"]:
        data["content"] = message["content"]
    data.update(messageId=message["id"], done=True)
    if message["reasoning"]:
        data["reasoning"] = message["reasoning"]
        if message["reasoning_duration"]:
            data["reasoningDuration"] = message["reasoning_duration"]
    return data
