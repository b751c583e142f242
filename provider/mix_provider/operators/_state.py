"""Per-task durable state (Airflow 3.3 ``task_state_store``) so a retried try re-attaches.

On Airflow 3.0-3.2 there is no task state: :class:`TaskState` then stores nothing, says so once per
process at INFO, and the operators fall back to the client's own reconciliation of lost answers.
"""

from __future__ import annotations

from typing import Any

from mix_provider.version_compat import HAS_TASK_STATE, log_missing_feature_once


class TaskState:
    """One JSON value under ``key`` in the task's state store, kept across the tries of a run.

    :param context: the task context.
    :param key: the state key.
    """

    def __init__(self, context: Any, key: str) -> None:
        self.key = key
        self._store = context.get("task_state_store") if HAS_TASK_STATE and hasattr(context, "get") else None
        if not HAS_TASK_STATE:
            log_missing_feature_once(
                "Re-attach on retry (task_state_store)",
                "a retry cannot re-attach to what an earlier try started; lost answers are still "
                "reconciled by the client",
                needs="3.3",
            )

    def get(self) -> dict[str, Any] | None:
        """The stored value, if any."""
        if self._store is None:
            return None
        value = self._store.get(self.key)
        return value if isinstance(value, dict) else None

    def set(self, value: dict[str, Any]) -> None:
        """Store ``value`` (small JSON) before the step it protects."""
        if self._store is not None:
            self._store.set(self.key, value)

    def clear(self) -> None:
        """Forget the value once the work finished, so a manual re-run starts afresh."""
        if self._store is not None:
            self._store.delete(self.key)
