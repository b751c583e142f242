"""A turn's tokens and cost in XCom (``mix_usage``), on success and on failure, summed over the task's tries.

Each try reports the usage of the turn it waited on (:func:`~mix_provider.client.usage.turn_usage`).
The task state (Airflow >= 3.3) keeps one entry per turn, so a retry re-attached to the same turn
replaces its entry and a retry that sent a new message adds one; ``all_tries`` is their sum. On older
Airflow there is no task state and ``all_tries`` covers this try only.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from typing import Any

from mix_provider.client.outcome import StoppedEvent, SuccessEvent, TurnEvent
from mix_provider.client.usage import USAGE_KEYS, turn_usage
from mix_provider.errors import MixError
from mix_provider.hooks.mix import MixHook
from mix_provider.operators._state import TaskState

#: The XCom key of the usage report.
USAGE_XCOM = "mix_usage"


def _event_usage(hook: MixHook, event: TurnEvent) -> dict[str, Any] | None:
    """This turn's usage: the reply's (None values when not attributable), a supervisor's last reading,
    or the session now against the baseline (None when it cannot be read)."""
    if isinstance(event, SuccessEvent):
        usage = event.usage
        return dict.fromkeys(USAGE_KEYS) if usage is None else usage.to_json()
    if isinstance(event, StoppedEvent) and event.usage is not None:
        return event.usage.to_json()
    if event.baseline is None:
        return None
    with suppress(MixError):
        return turn_usage(event.baseline, hook.get_session(event.session_id)).to_json()
    return None


def _total(turns: dict[str, dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = dict.fromkeys(USAGE_KEYS, 0)
    for usage in turns.values():
        for key in USAGE_KEYS:
            total[key] += usage.get(key) or 0
    total["cost"] = round(total["cost"], 10)
    return total


def report_usage(hook: MixHook, log: logging.Logger, context: Any, event: TurnEvent) -> dict[str, Any] | None:
    """Push ``{"turn", "all_tries", "turns"}`` as XCom ``mix_usage`` and log it; the report, if any."""
    usage = _event_usage(hook, event)
    if usage is None:
        return None
    state = TaskState(context, USAGE_XCOM)
    turns = dict((state.get() or {}).get("turns") or {})
    turns[f"{event.session_id}:{event.baseline.user_messages if event.baseline else '?'}"] = usage
    state.set({"turns": turns})
    report = {"turn": usage, "all_tries": _total(turns), "turns": len(turns)}
    log.info(
        "Mix usage of this turn: %s prompt + %s completion tokens, cost %s (all tries: %s)",
        usage["prompt_tokens"],
        usage["completion_tokens"],
        usage["cost"],
        report["all_tries"],
    )
    ti = context.get("ti") if hasattr(context, "get") else None
    if ti is not None:
        ti.xcom_push(key=USAGE_XCOM, value=report)
    return report
