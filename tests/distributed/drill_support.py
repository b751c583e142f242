"""What the distributed drills share: progress lines, polling, and reading a session's transcript."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from dist_cluster import MetadataDB

from airflow_stack.rest import AirflowRest
from mix_provider.devserver.testing import MixDevServer

RUN_TIMEOUT_S = 900.0
#: The DAG of three deferrable turns (``tests/distributed/dags/mix_drills.py``) and its turn tasks.
TRIGGERER_DRILL = "mix_drill_triggerer"
DRILL_TURNS = ("turn_1", "turn_2", "turn_3")

T = TypeVar("T")


def note(message: str) -> None:
    """A progress line (shown live with ``pytest -s``, as ``make e2e-distributed`` runs it)."""
    print(f"[distributed {time.strftime('%H:%M:%S')}] {message}", flush=True)


def wait_until(check: Callable[[], T | None], timeout: float, what: str, interval: float = 1.0) -> T:
    """Call ``check`` until it returns something truthy; return that.

    :raises AssertionError: after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def transcript(mix: MixDevServer, session_id: str) -> list[dict[str, Any]]:
    """The session's messages as the server exports them."""
    response = httpx.get(f"{mix.base_url}/api/sessions/{session_id}/export", timeout=60.0).raise_for_status()
    return list(response.json()["messages"])


def by_role(messages: list[dict[str, Any]], role: str) -> list[dict[str, Any]]:
    """The messages of one role."""
    return [m for m in messages if m.get("role") == role]


def finished_replies(messages: list[dict[str, Any]]) -> int:
    """How many assistant replies have finished (a reply still streaming has no finish reason yet)."""
    return sum(1 for m in by_role(messages, "assistant") if m.get("finishReason"))


def defer_turns(
    rest: AirflowRest, mix: MixDevServer, db: MetadataDB, delay_ms: int
) -> tuple[str, dict[str, str], dict[str, int]]:
    """Run :data:`TRIGGERER_DRILL` until its three turns wait in a triggerer, their SSE streams open.

    :returns: the run id, ``turn -> session id`` and ``turn -> triggerer job id``.
    """
    streams_before = mix.request_count("GET", "/stream")
    rest.wait_dag(TRIGGERER_DRILL)
    run_id = rest.trigger(TRIGGERER_DRILL, {"delay_ms": delay_ms})
    note(f"{TRIGGERER_DRILL}: triggered {run_id}")

    def deferred_and_assigned() -> dict[str, int] | None:
        states = {ti["task_id"]: ti["state"] for ti in rest.task_instances(TRIGGERER_DRILL, run_id)}
        failed = {task: state for task, state in states.items() if state in ("failed", "upstream_failed")}
        assert not failed, failed
        assignment = db.trigger_assignment(TRIGGERER_DRILL, run_id)
        if all(states.get(task) == "deferred" and assignment.get(task) is not None for task in DRILL_TURNS):
            return {task: int(assignment[task] or 0) for task in DRILL_TURNS}
        return None

    assignment = wait_until(deferred_and_assigned, RUN_TIMEOUT_S, "three turns deferred and assigned")
    # Each trigger has opened its SSE stream: the turns are waited for, in the triggerer, now.
    wait_until(
        lambda: mix.request_count("GET", "/stream") - streams_before >= len(DRILL_TURNS),
        120,
        "the triggers' SSE streams",
    )
    sessions = {task: str(rest.xcom(TRIGGERER_DRILL, run_id, f"create_session_{task[-1]}")) for task in DRILL_TURNS}
    return run_id, sessions, assignment


def check_turns_once(
    rest: AirflowRest, mix: MixDevServer, dag_id: str, run_id: str, sessions: dict[str, str], tries: int = 1
) -> None:
    """Each turn succeeded on try ``tries``; its message was sent once, its session holds one user message
    and one finished reply (no transcript lost or half-written), and the task's result is that reply."""
    for task, sid in sessions.items():
        ti = rest.task_instance(dag_id, run_id, task)
        assert (ti["state"], ti["try_number"]) == ("success", tries), ti
        assert mix.request_count("POST", f"/api/sessions/{sid}/messages") == 1, f"{task}: message sent more than once"
        messages = transcript(mix, sid)
        assert len(by_role(messages, "user")) == 1, messages
        assert len(by_role(messages, "assistant")) == finished_replies(messages) == 1, messages
        result = rest.xcom(dag_id, run_id, task)
        assert (result["session_id"], result["message_id"]) == (sid, by_role(messages, "assistant")[0]["id"]), result
