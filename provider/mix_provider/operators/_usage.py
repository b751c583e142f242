"""A turn's tokens and cost in XCom (``mix_usage``), on success and on failure, summed over the task's tries.

Each try reports the usage of the turn it waited on (the session's totals minus the turn's baseline).
The task state (Airflow >= 3.3) keeps one entry per turn, so a retry re-attached to the same turn
replaces its entry and a retry that sent a new message adds one; ``all_tries`` is their sum. On older
Airflow there is no task state and ``all_tries`` covers this try only.
"""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from mix_provider.client.supervisor import usage_since
from mix_provider.errors import MixError
from mix_provider.operators._state import TaskState

USAGE_KEYS = ("prompt_tokens", "completion_tokens", "cost")
#: The XCom key of the usage report.
USAGE_XCOM = "mix_usage"


def turn_usage(operator: Any, result: dict[str, Any]) -> dict[str, Any] | None:
    """This turn's usage from an event: its own fields, a supervisor's last reading, or the session now."""
    if all(key in result for key in USAGE_KEYS):
        return {key: result[key] for key in USAGE_KEYS}
    if result.get("usage"):
        return dict(result["usage"])
    baseline = result.get("baseline")
    if baseline is None:
        return None
    with suppress(MixError):
        return usage_since(baseline, operator.hook.get_session(result["session_id"]))
    return None


def _total(turns: dict[str, dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = dict.fromkeys(USAGE_KEYS, 0)
    for usage in turns.values():
        for key in USAGE_KEYS:
            total[key] += usage.get(key) or 0
    total["cost"] = round(total["cost"], 10)
    return total


def report_usage(operator: Any, context: Any, result: dict[str, Any]) -> dict[str, Any] | None:
    """Push ``{"turn", "all_tries", "turns"}`` as XCom ``mix_usage`` and log it; the report, if any."""
    usage = turn_usage(operator, result)
    if usage is None:
        return None
    state = TaskState(context, USAGE_XCOM)
    turns = dict((state.get() or {}).get("turns") or {})
    baseline = result.get("baseline") or {}
    turns[f"{result['session_id']}:{baseline.get('user_messages', '?')}"] = usage
    state.set({"turns": turns})
    report = {"turn": usage, "all_tries": _total(turns), "turns": len(turns)}
    operator.log.info(
        "Mix usage of this turn: %s prompt + %s completion tokens, cost %s (all tries: %s)",
        usage.get("prompt_tokens"),
        usage.get("completion_tokens"),
        usage.get("cost"),
        report["all_tries"],
    )
    ti = context.get("ti") if hasattr(context, "get") else None
    if ti is not None:
        ti.xcom_push(key=USAGE_XCOM, value=report)
    return report
