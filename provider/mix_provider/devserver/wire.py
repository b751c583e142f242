"""Shapes of the Mix wire format: timestamps, SessionData, BackendMessage, ExportMessage."""

from __future__ import annotations

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


def message_to_backend(row: Row) -> dict[str, Any]:
    """Return the BackendMessage of a ``messages`` row."""
    is_user = row["role"] == "user"
    data: dict[str, Any] = {
        "id": row["id"],
        "sessionId": row["session_id"],
        "role": row["role"],
        "userInput": row["content"] if is_user else "",
        "inputTokens": row["input_tokens"],
        "outputTokens": row["output_tokens"],
        "cost": float(row["cost"]),
        "toolCalls": [_backend_tool_call(call) for call in _tool_calls(row)],
    }
    if not is_user:
        data["assistantResponse"] = row["content"]
    optional = {"reasoning": row["reasoning"], "reasoningDuration": row["reasoning_duration"]}
    optional["model"] = row["model"]
    data.update({key: value for key, value in optional.items() if value is not None})
    return data


def message_to_export(row: Row) -> dict[str, Any]:
    """Return the ExportMessage of a ``messages`` row."""
    data: dict[str, Any] = {
        "id": row["id"],
        "role": row["role"],
        "content": row["content"],
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
        "toolCalls": [_export_tool_call(call) for call in _tool_calls(row)],
    }
    optional = {
        "finishReason": row["finish_reason"],
        "model": row["model"],
        "reasoning": row["reasoning"],
        "reasoningDuration": row["reasoning_duration"],
    }
    data.update({key: value for key, value in optional.items() if value is not None})
    return data


def _tool_calls(row: Row) -> list[dict[str, Any]]:
    """Return the stored tool calls of a message row."""
    raw = row["tool_calls"]
    return list(json.loads(raw)) if raw else []


def _backend_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    """Return the ToolCallData of a stored tool call."""
    keys = ("id", "name", "input", "type", "finished", "result", "isError")
    return {key: call[key] for key in keys if key in call}


def _export_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    """Return the ExportToolCall of a stored tool call (with the server's extra fields)."""
    data = _backend_tool_call(call)
    data["inputJson"] = json.loads(call["input"])
    data["metadata"] = call.get("metadata", {})
    return data
