"""Airflow's defer race, reproduced on every run and survived (no browser).

A turn's trigger can have its event within milliseconds (a permission request, an instant reply). If the
scheduler learns that the deferring process exited only after that event queued the task again, Airflow
fails the resumed task as "state changed externally" (apache/airflow#66374, #71580, #72716). The e2e
scheduler's executor (``late_exit_executor.py``) learns it late on purpose for ``mix_e2e_defer_race``:
until the task is queued again (the race lost) or for ``HOLD_S`` seconds. The provider's trigger holds an
early event until the deferral has settled (``DEFER_SETTLE``), so both turns finish on their first try.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from e2e_airflow import AirflowStandalone
from late_exit_executor import HOLD_S, RACE_DAG
from test_airflow_ui import RUN_TIMEOUT_S, mix_connection

from airflow_stack.report import SUMMARY, timed
from airflow_stack.rest import AirflowRest
from mix_provider.devserver.testing import MixDevServer
from mix_provider.triggers.settle import DEFER_SETTLE

__all__ = ["mix_connection"]

pytestmark = pytest.mark.timeout(900)

#: What the scheduler logs when it fails a task for the race.
RACE_FAILURE = "but the task instance's state attribute is"


def _wait_for_person(rest: AirflowRest, run_id: str) -> dict[str, Any]:
    """Poll until ``fast_ask`` waits for a person; fail at once if it ended first."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    path = f"{rest.run_path(RACE_DAG, run_id)}/taskInstances/fast_ask/-1/hitlDetails"
    while time.monotonic() < deadline:
        ti = rest.task_instance(RACE_DAG, run_id, "fast_ask")
        if ti["state"] in ("failed", "success", "upstream_failed"):
            pytest.fail(f"fast_ask ended {ti['state']} before asking a person: {ti}")
        if ti["state"] in ("awaiting_input", "deferred"):
            response = rest.request("GET", path)
            if response.status_code == 200:
                return dict(response.json())
        time.sleep(0.5)
    pytest.fail(f"fast_ask did not ask a person within {RUN_TIMEOUT_S} s")


def test_turns_whose_event_comes_at_once_survive_the_defer_race(
    airflow: AirflowStandalone, rest: AirflowRest, mix_connection: str, e2e_mix_server: MixDevServer
) -> None:
    assert HOLD_S < DEFER_SETTLE, "the executor must hold the exit report for less than the trigger holds its event"
    rest.wait_dag(RACE_DAG)
    with timed("defer_race_until_asked"):
        run_id = rest.trigger(RACE_DAG)
        detail = _wait_for_person(rest, run_id)
    assert detail["subject"].startswith("Mix agent asks: bash 'ls -la'"), detail
    # A person reads the request first: an answer before Airflow has seen the parked process exit
    # loses a race of Airflow's own resume path (AirflowStandalone.wait_exit_read).
    airflow.wait_exit_read("fast_ask", run_id, "awaiting_input", RUN_TIMEOUT_S)
    path = f"{rest.run_path(RACE_DAG, run_id)}/taskInstances/fast_ask/-1/hitlDetails"
    rest.json("PATCH", path, json={"chosen_options": ["Grant"], "params_input": {}})
    with timed("defer_race_after_answer"):
        watch = rest.watch_run(RACE_DAG, run_id, timeout=RUN_TIMEOUT_S)
    SUMMARY["timeline_defer_race"] = watch.timeline
    log = airflow.log_path.read_text(errors="replace")
    held = [line for line in log.splitlines() if "LateDeferExitExecutor: reporting" in line and run_id in line]
    SUMMARY["defer_race_reports"] = held
    if watch.state != "success":
        pytest.fail(rest.failure_report(watch))

    assert not [line for line in log.splitlines() if RACE_FAILURE in line and run_id in line]
    # The scheduler did learn of each deferring exit late: twice for the asking turn (the message, then
    # the answer), once for the instant reply.
    assert sum("'fast_ask'" in line for line in held) >= 2 and any("'fast_reply'" in line for line in held), held
    for task_id in ("warm_up", "fast_ask", "fast_reply"):
        ti = rest.task_instance(RACE_DAG, run_id, task_id)
        assert (ti["state"], ti["try_number"]) == ("success", 1), ti
        session_id = rest.xcom(RACE_DAG, run_id, f"create_session_{task_id}")
        path = f"/api/sessions/{session_id}/messages"
        assert e2e_mix_server.request_count("POST", path) == 1, f"{task_id}: one message sent"
        users = [m for m in httpx.get(f"{e2e_mix_server.base_url}{path}").json() if m.get("role") == "user"]
        assert len(users) == 1, users
    asked = rest.xcom(RACE_DAG, run_id, "fast_ask")
    assert "permission granted: bash" in asked["reply"] and asked["decisions"]["asked"] == 1, asked
    assert rest.xcom(RACE_DAG, run_id, "fast_reply")["reply"]
