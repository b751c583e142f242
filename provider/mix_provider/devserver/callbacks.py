"""Session callbacks as the current agent runs them (``llm/callbacks/executor.go`` ``Execute`` @ 2a6de68b).

After a tool round's ``tool`` message is stored, every callback whose ``toolName`` is the
tool's name (or ``*``) runs for each tool that did not fail (``agent.go``
``streamAndHandleEvents`` @ 1fa5f2d6, ``getSessionCallbacks``). Each stores a ``role: tool``
message holding one ``CallbackResult`` part. ``bash_script`` runs nothing: its command is
*interpreted* by :func:`scripted_bash`, a deliberately tiny shell.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

DEFAULT_SUBAGENT_TYPE = "general-purpose"
"""``executeSubAgent``: a ``sub_agent`` callback without ``subAgentType``."""
SUBAGENT_REPLY = "Callback sub-agent report: nothing to add."
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_SEPARATORS = (";", "&&", "||")


@dataclass(frozen=True)
class BashOutcome:
    """What a scripted ``bash_script`` callback printed and returned."""

    stdout: str
    stderr: str
    exit_code: int


def matching(callbacks: list[dict[str, Any]], tool_name: str) -> list[dict[str, Any]]:
    """Return the callbacks of a tool, in their order (``CallbackConfig.MatchesTool``: exact or ``*``)."""
    return [callback for callback in callbacks if callback.get("toolName") in (tool_name, "*")]


def callback_env(session_id: str, call_id: str, tool_name: str, result: str) -> dict[str, str]:
    """Return the variables ``executeBash`` exports before the command."""
    return {
        "CALLBACK_TOOL_RESULT": result,
        "CALLBACK_TOOL_NAME": tool_name,
        "CALLBACK_TOOL_ID": call_id,
        "CALLBACK_SESSION_ID": session_id,
    }


def scripted_bash(command: str, env: dict[str, str]) -> BashOutcome:
    """Interpret ``command`` without running anything.

    Simple commands are separated by newlines, ``;``, ``&&`` and ``||`` (with the shell's
    short-circuit rules). ``echo [-n] WORDS`` prints (to stderr with a trailing ``>&2``),
    ``true`` and ``false`` set the status, ``exit N`` stops with status N; any other command
    succeeds silently. ``$NAME``/``${NAME}`` expand from ``env`` (the ``CALLBACK_*`` variables;
    others are empty), whatever the quoting. Unbalanced quotes are status 2, like bash's
    syntax error.
    """
    lexer = shlex.shlex(command.replace("\n", " ; "), posix=True, punctuation_chars=";&|>")
    lexer.whitespace_split = True
    try:
        words = list(lexer)
    except ValueError as exc:
        return BashOutcome("", f"bash: syntax error: {exc}\n", 2)
    out: list[str] = []
    err: list[str] = []
    status, connector = 0, ";"
    for simple, following in _simple_commands(words):
        if (connector == "&&" and status != 0) or (connector == "||" and status == 0):
            connector = following
            continue
        expanded = [_VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), word) for word in simple]
        if expanded[:1] == ["exit"]:
            return BashOutcome("".join(out), "".join(err), int(expanded[1]) if len(expanded) > 1 else status)
        status = _simple(expanded, out, err)
        connector = following
    return BashOutcome("".join(out), "".join(err), status)


def _simple_commands(words: list[str]) -> list[tuple[list[str], str]]:
    """Split words into simple commands, each with the separator that follows it."""
    commands: list[tuple[list[str], str]] = []
    current: list[str] = []
    for word in [*words, ";"]:
        if word in _SEPARATORS:
            if current:
                commands.append((current, word))
            current = []
        else:
            current.append(word)
    return commands


def _simple(words: list[str], out: list[str], err: list[str]) -> int:
    """Interpret one simple command, appending to ``out``/``err``; return its status."""
    if words[0] == "false":
        return 1
    if words[0] != "echo":
        return 0
    target = err if words[-2:] == [">&", "2"] else out
    args = words[1:-2] if target is err else words[1:]
    newline = "" if args[:1] == ["-n"] else "\n"
    target.append(" ".join(args[1:] if newline == "" else args) + newline)
    return 0


def callback_result(call_id: str, tool_name: str, callback: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Return the stored ``CallbackResult`` part of a callback (``saveCallbackResultMessage``).

    :param fields: ``success`` and any of ``stdout``, ``stderr``, ``exit_code``, ``subagent_id``,
        ``subagent_result``; ``error`` is the stderr of a failed callback.
    """
    result: dict[str, Any] = {
        "tool_call_id": call_id,
        "tool_name": tool_name,
        "callback_name": callback.get("name", ""),
        "callback_type": callback["type"],
        "stdout": "",
        "stderr": "",
        "exit_code": 0,
        "subagent_id": "",
        "subagent_result": "",
        "success": True,
        "exclude_from_context": bool(callback.get("excludeFromContext")),
    }
    result.update(fields)
    result["error"] = result["stderr"] if not result["success"] else ""
    return result


def subagent_prompt(base: str, tool_name: str, call_id: str, result: str) -> str:
    """Return a ``sub_agent`` callback's prompt with the tool context (``buildSubAgentPrompt``)."""
    return f"{base}\n\nTool Execution Context:\n- Tool: {tool_name}\n- Tool Call ID: {call_id}\n- Result: {result}"
