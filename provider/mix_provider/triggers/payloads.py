"""The message trigger's event contract: built here, validated here, trusted nowhere else.

The same payload is produced by the trigger (deferrable mode) and by the operator's blocking wait, so
``MixSendMessageOperator.execute_complete`` is the single completion handler of both modes.
"""

from __future__ import annotations

from typing import Any

from mix_provider.client import Reply
from mix_provider.errors import (
    MixAskRequired,
    MixBudgetExceededError,
    MixError,
    MixSupervisionError,
    MixUndecidedRequestError,
)
from mix_provider.models import SessionData, SessionTotals

SUCCESS, TIMEOUT, ERROR = "success", "timeout", "error"
#: A policy handed a request to a person (``request``), or stopped the run (``error``: the typed error's fields).
ASK, STOPPED = "ask", "stopped"
STATUSES = frozenset({SUCCESS, TIMEOUT, ERROR, ASK, STOPPED})
#: Longest reply text put into XCom; longer replies are cut and flagged ``reply_truncated``.
REPLY_XCOM_LIMIT = 100_000

_SUCCESS_KEYS = {"session_id", "message_id", "reply", "finish_reason", "prompt_tokens", "completion_tokens", "cost"}
_USAGE_KEYS = ("prompt_tokens", "completion_tokens", "cost")


def baseline_of(session: SessionData) -> dict[str, Any]:
    """What a session looked like before a message: counts and totals (small, JSON)."""
    return {
        "user_messages": session.user_message_count,
        "prompt_tokens": session.prompt_tokens,
        "completion_tokens": session.completion_tokens,
        "cost": session.cost,
    }


def success_payload(session_id: str, reply: Reply, baseline: dict[str, Any], after: SessionTotals) -> dict[str, Any]:
    """The result of a finished turn: reply text and ids, finish reason, tool calls, tokens and cost.

    The server reports usage per session only (neither the export nor ``/messages`` carries tokens or
    cost per message: ``rest_messages.go`` ``ExportMessage``, ``MessageData``), so a turn's usage is
    the change of the session's totals since the baseline. That is this turn's alone only when no
    other run overlapped it (no other message arrived, and none was in progress); otherwise tokens and
    cost are ``None`` and ``usage_attributable`` is false, rather than another turn's spend as ours.
    """
    text = reply.text
    alone = after.user_message_count - int(baseline["user_messages"]) <= 1
    attributable = alone and not reply.overlapped
    usage: dict[str, Any] = dict.fromkeys(_USAGE_KEYS)
    if attributable:
        usage = {
            "prompt_tokens": after.prompt_tokens - int(baseline["prompt_tokens"]),
            "completion_tokens": after.completion_tokens - int(baseline["completion_tokens"]),
            "cost": round(after.cost - float(baseline["cost"]), 10),
        }
    return {
        "status": SUCCESS,
        "session_id": session_id,
        "user_message_id": reply.user_message_id,
        "message_id": reply.message_id,
        "reply": text[:REPLY_XCOM_LIMIT],
        "reply_truncated": len(text) > REPLY_XCOM_LIMIT,
        "finish_reason": reply.finish_reason,
        "tool_calls": reply.tool_calls,
        "steps": reply.steps,
        "overlapped": reply.overlapped,
        **usage,
        "usage_attributable": attributable,
    }


def failure_payload(status: str, session_id: str, message: str) -> dict[str, Any]:
    """A terminal non-success event (``timeout`` or ``error``) with a readable message."""
    return {"status": status, "session_id": session_id, "message": message}


def supervision_payload(
    session_id: str, exc: MixError, usage: dict[str, Any] | None, tally: dict[str, int]
) -> dict[str, Any] | None:
    """The event of a wait a supervisor ended: ``ask`` (a person decides) or ``stopped`` (run cancelled).

    None for any other error. Both carry the decisions counted so far (``decisions``).
    """
    if isinstance(exc, MixAskRequired):
        return {"status": ASK, "session_id": session_id, "request": exc.request, "decisions": tally}
    if isinstance(exc, MixBudgetExceededError):
        error = {"type": "budget", "limit": exc.limit, "allowed": exc.allowed, "spent": exc.spent}
    elif isinstance(exc, MixUndecidedRequestError):
        error = {"type": "undecided", "kind": exc.kind, "request": exc.request}
    else:
        return None
    return {
        "status": STOPPED,
        "session_id": session_id,
        "message": str(exc),
        "error": error,
        "usage": usage,
        "decisions": tally,
    }


def stopped_error(payload: dict[str, Any]) -> MixSupervisionError:
    """The typed error a ``stopped`` event stands for."""
    error, session_id = payload.get("error") or {}, payload["session_id"]
    if error.get("type") == "budget":
        return MixBudgetExceededError(session_id, error["limit"], error["allowed"], error["spent"])
    if error.get("type") == "undecided":
        return MixUndecidedRequestError(session_id, error["kind"], error["request"])
    return MixSupervisionError(session_id, payload["message"])


def validate_event(event: Any) -> dict[str, Any]:
    """Check a trigger event before trusting it; raises ValueError naming what is wrong."""
    if not isinstance(event, dict):
        raise ValueError(f"Mix trigger event must be a dict, got {type(event).__name__}")
    status = event.get("status")
    if status not in STATUSES:
        raise ValueError(f"Mix trigger event status {status!r} is not one of {sorted(STATUSES)}")
    required = {SUCCESS: _SUCCESS_KEYS, ASK: {"session_id", "request"}}.get(status, {"session_id", "message"})
    missing = sorted(required - event.keys())
    if missing:
        raise ValueError(f"Mix trigger event ({status}) lacks {', '.join(missing)}")
    return event
