"""Shapes of the Mix wire format: timestamps, SessionData, BackendMessage, ExportMessage."""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Any

Row = dict[str, Any]

_FILLER = "Mix devserver deterministic filler: the quick brown fox jumps over the lazy dog 0123456789. "


def now_rfc3339() -> str:
    """Return the current time, RFC 3339 with the local offset and second precision."""
    stamp = datetime.now().astimezone().replace(microsecond=0).isoformat()
    return stamp.replace("+00:00", "Z")


def filler(size: int) -> str:
    """Return deterministic ASCII text of exactly ``size`` bytes."""
    repeats = size // len(_FILLER) + 1
    return (_FILLER * repeats)[:size]


def session_to_wire(row: Row, first_user_message: str | None = None) -> dict[str, Any]:
    """Return the SessionData of a ``sessions`` row, optional fields only when set."""
    data: dict[str, Any] = {
        "id": row["id"],
        "title": row["title"],
        "createdAt": row["created_at"],
        "sessionType": row["session_type"],
        "browserMode": row["browser_mode"],
        "callbacks": json.loads(row["callbacks"]),
        "userMessageCount": row["user_count"],
        "assistantMessageCount": row["assistant_count"],
        "toolCallCount": row["tool_call_count"],
        "promptTokens": row["prompt_tokens"],
        "completionTokens": row["completion_tokens"],
        "cost": float(row["cost"]),
    }
    optional = {
        "cdpUrl": row["cdp_url"],
        "subagentType": row["subagent_type"],
        "parentSessionId": row["parent_session_id"],
        "parentToolCallId": row["parent_tool_call_id"],
        "modelId": row["model_id"],
        "provider": row["provider"],
        "firstUserMessage": first_user_message,
    }
    data.update({key: value for key, value in optional.items() if value is not None})
    return data


def message_to_backend(row: Row, usage: bool) -> dict[str, Any]:
    """Return the BackendMessage of a ``messages`` row (``rest_messages.go`` ``convertMessagesToData``).

    Every row puts its text in ``userInput``, assistant and tool rows in ``assistantResponse``
    too (omitted when empty); ``toolCalls`` only when there are some, each with the result
    of the *same* message (so never for the devserver, which, like the agent, stores results
    in the next ``tool`` message); ``callbackResults`` (``CallbackResultData``, snake_case,
    empty fields omitted) on a callback's ``tool`` row.

    :param usage: add the spec's per-message ``inputTokens``, ``outputTokens`` and ``cost`` on
        assistant rows (the legacy generation; no handler version read sends them).
    """
    data: dict[str, Any] = {
        "id": row["id"],
        "sessionId": row["session_id"],
        "role": row["role"],
        "userInput": row["content"],
    }
    if row["role"] != "user" and row["content"]:
        data["assistantResponse"] = row["content"]
    calls = [_backend_tool_call(call, _results(row)) for call in _tool_calls(row)]
    if calls:
        data["toolCalls"] = calls
    callbacks = json.loads(row.get("callback_results") or "[]")
    if callbacks:
        data["callbackResults"] = [_callback_result_data(result) for result in callbacks]
    data.update(_reasoning(row))
    if usage and row["role"] == "assistant":
        data.update(inputTokens=row["input_tokens"], outputTokens=row["output_tokens"], cost=float(row["cost"]))
    if row["model"]:
        data["model"] = row["model"]
    return data


_CALLBACK_REQUIRED = ("tool_call_id", "tool_name", "callback_type", "success")


def _callback_result_data(result: dict[str, Any]) -> dict[str, Any]:
    """Return the ``CallbackResultData`` of a stored ``CallbackResult`` part: ``omitempty`` fields
    left out when empty (``exclude_from_context`` is never sent)."""
    data = {key: result[key] for key in _CALLBACK_REQUIRED}
    for key in ("callback_name", "stdout", "stderr", "exit_code", "subagent_id", "subagent_result", "error"):
        if result.get(key):
            data[key] = result[key]
    return data


def message_to_export(row: Row) -> dict[str, Any]:
    """Return the ExportMessage of a ``messages`` row (``rest_messages.go`` ``convertToExportSession``):
    optional fields omitted when empty, like Go's ``omitempty``."""
    data: dict[str, Any] = {"id": row["id"], "role": row["role"], "content": row["content"]}
    calls = [_export_tool_call(call, _results(row)) for call in _tool_calls(row)]
    if calls:
        data["toolCalls"] = calls
    data.update(_reasoning(row))
    if row["model"]:
        data["model"] = row["model"]
    if row["finish_reason"]:
        data["finishReason"] = row["finish_reason"]
    data.update(createdAt=row["created_at"], updatedAt=row["updated_at"])
    return data


def _reasoning(row: Row) -> dict[str, Any]:
    """Return ``reasoning`` and ``reasoningDuration`` (seconds), each only when set."""
    if not row["reasoning"]:
        return {}
    duration = row["reasoning_duration"]
    return {"reasoning": row["reasoning"], **({"reasoningDuration": duration} if duration else {})}


def _tool_calls(row: Row) -> list[dict[str, Any]]:
    """Return the stored tool calls (``message.ToolCall`` parts) of a message row."""
    raw = row["tool_calls"]
    return list(json.loads(raw)) if raw else []


def _results(row: Row) -> dict[str, dict[str, Any]]:
    """Return the stored tool results (``message.ToolResult`` parts) of a row by tool call id."""
    raw = row.get("tool_results")
    return {result["tool_call_id"]: result for result in json.loads(raw)} if raw else {}


def _backend_tool_call(call: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Return the ToolCallData of a stored tool call (``result``/``isError`` omitted when empty)."""
    data = {key: call[key] for key in ("id", "name", "input", "type", "finished")}
    result = results.get(call["id"])
    if result is not None:
        data.update({"result": result["content"]} if result["content"] else {})
        data.update({"isError": True} if result["is_error"] else {})
    return data


def _export_tool_call(call: dict[str, Any], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Return the ExportToolCall of a stored tool call: ``inputJson`` when the input parses,
    and ``result``, ``metadata`` (a JSON string) and ``isError`` from the same message's results."""
    data: dict[str, Any] = {"id": call["id"], "name": call["name"], "input": call["input"]}
    with contextlib.suppress(ValueError):
        data["inputJson"] = json.loads(call["input"])
    data.update(type=call["type"], finished=call["finished"])
    result = results.get(call["id"])
    if result is not None:
        data.update({"result": result["content"]} if result["content"] else {})
        data.update({"metadata": result["metadata"]} if result["metadata"] else {})
        data.update({"isError": True} if result["is_error"] else {})
    return data
