"""A LocalExecutor whose scheduler learns late that a deferring task process exited: Airflow's defer race
(apache/airflow#66374, #71580, #72716), made deterministic for one DAG.

When a task defers, its process exits and the executor reports ``success`` for the try. If the scheduler
reads that report only after the trigger fired and the task was queued again (same try), it fails the
resumed task as "state changed externally". A busy scheduler reads it late; this executor does so on
purpose for :data:`RACE_DAG`: it holds the report until the task is queued or running again (the race
lost), or until :data:`HOLD_S` seconds after the deferral (a trigger that waited longer wins).

The e2e fixtures run ``airflow standalone`` with this executor (``tests/e2e`` on ``PYTHONPATH``); the
events of every other DAG pass straight through.
"""

from __future__ import annotations

import time
from typing import Any

from airflow.executors.local_executor import LocalExecutor
from airflow.models.taskinstance import TaskInstance
from airflow.models.trigger import Trigger
from airflow.utils.session import create_session
from airflow.utils.state import TaskInstanceState
from sqlalchemy import select

RACE_DAG = "mix_e2e_defer_race"
#: Seconds after the deferral until which a report is held: less than the provider's ``DEFER_SETTLE`` (``mix_provider.triggers.settle``).
HOLD_S = 6.0
#: The task states in which a ``success`` report can only be the exit of a deferring process.
_NOT_DONE = (TaskInstanceState.DEFERRED, TaskInstanceState.SCHEDULED)
#: The states of a resumed try that the stale report then fails.
_RESUMED = (TaskInstanceState.QUEUED, TaskInstanceState.RUNNING)


def _look(key: Any) -> tuple[str | None, float]:
    """The task's state, and when it deferred (now if it has no trigger any more)."""
    with create_session() as session:
        query = (
            select(TaskInstance.state, Trigger.created_date)
            .outerjoin(Trigger, TaskInstance.trigger_id == Trigger.id)
            .where(
                TaskInstance.dag_id == key.dag_id,
                TaskInstance.task_id == key.task_id,
                TaskInstance.run_id == key.run_id,
                TaskInstance.map_index == key.map_index,
            )
        )
        row = session.execute(query).one_or_none()
    if row is None:
        return None, time.time()
    return row[0], row[1].timestamp() if row[1] is not None else time.time()


class LateDeferExitExecutor(LocalExecutor):  # type: ignore[misc]
    """LocalExecutor holding the deferring process's exit report of :data:`RACE_DAG`'s tasks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: dict[Any, tuple[float, Any, Any, bool]] = {}

    def change_state(self, key: Any, state: Any, info: Any = None, remove_running: bool = True) -> None:
        """Hold a ``success`` report of a :data:`RACE_DAG` task that is not done (it deferred)."""
        if getattr(key, "dag_id", None) == RACE_DAG and state == TaskInstanceState.SUCCESS and key not in self._held:
            now, deferred_at = _look(key)
            if now in _NOT_DONE:
                self._held[key] = (deferred_at + HOLD_S, state, info, remove_running)
                self.log.warning("LateDeferExitExecutor: holding the defer-exit report of %s", key)
                return
        super().change_state(key, state, info, remove_running)

    def sync(self) -> None:
        """Read the workers' reports, then hand over each held one whose time has come."""
        super().sync()
        for key, (until, state, info, remove_running) in list(self._held.items()):
            now, _ = _look(key)
            if now in _RESUMED or time.time() >= until:
                del self._held[key]
                self.log.warning(
                    "LateDeferExitExecutor: reporting the defer exit of %s %.1f s after the deferral (task now %s)",
                    key,
                    time.time() - until + HOLD_S,
                    now,
                )
                super().change_state(key, state, info, remove_running)
