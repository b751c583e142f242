"""The ``hitl-answer`` compat check: a person's answer reaches a supervised turn through Airflow's REST API.

``dag.test()`` cannot run this path: on 3.1/3.2 the task defers to the standard provider's
``HITLTrigger``, which reads the request through the triggerer's supervisor, and the in-process test
supervisor does not serve that call. So the check starts a real Airflow (``airflow standalone``:
api-server, scheduler with the LocalExecutor, dag-processor, triggerer; the same launcher as the
browser suite, ``tests/e2e/e2e_airflow.py``) on SQLite, with the browser suite's supervised DAG
(``tests/e2e/dags/mix_e2e_supervised.py``: a bash permission no rule decides), and drives it
through the public REST API only: trigger the run, wait until the turn's task asks (the request is
listed by ``GET .../taskInstances/{task}/-1/hitlDetails``), answer "Grant" with ``PATCH`` on that
path as a signed-in user, and watch the run finish with the grant in the agent's reply.
Airflow 3.0 has no human-in-the-loop, and from 3.3 the task waits in ``awaiting_input`` (no trigger,
a path the integration tests run through ``dag.test()``): the check is not applicable there.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "e2e")]

from e2e_airflow import AirflowStandalone  # noqa: E402

from airflow_stack.rest import AirflowRest, RunWatch  # noqa: E402

DAGS = REPO / "tests" / "e2e" / "dags"
DAG_ID, TASK_ID = "mix_e2e_supervised", "supervised_turn"
USER, PASSWORD = "compat", "compat-hitl"
RUN_TIMEOUT = 300.0
#: Runs tried when each is lost to Airflow's race below.
ATTEMPTS = 3
#: What Airflow logs when the executor's event for a process that deferred (or paused for input)
#: arrives after the same try moved on ("... finished with state success, but the task instance's
#: state attribute is queued" or "running": "task state changed externally"); the run is lost, before
#: or after the request was answered. Such a run is run again (up to ATTEMPTS runs), and the detail says so.
DEFER_RACE = "but the task instance's state attribute is "


class NotApplicable(Exception):
    """The check does not apply to this Airflow release (shown as ``N/A`` in the matrix)."""


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for probe in sockets:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


class _Airflow(AirflowStandalone):
    """``airflow standalone`` whose processes know the Mix connection."""

    def __init__(self, home: Path, mix_url: str) -> None:
        api, worker_logs, trigger_logs = _free_ports(3)
        super().__init__(home, DAGS, (api, worker_logs, trigger_logs), db_url=None, username=USER, password=PASSWORD)
        self.mix_connection = json.dumps({"conn_type": "mix", "host": mix_url})

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "AIRFLOW_CONN_MIX_DEFAULT": self.mix_connection}


def _until_asked(rest: AirflowRest, run_id: str) -> str | None:
    """None once the turn's request is listed by the REST API; the task's end state if it ended first."""
    path = f"{rest.run_path(DAG_ID, run_id)}/taskInstances/{TASK_ID}/-1/hitlDetails"
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        state = rest.task_instance(DAG_ID, run_id, TASK_ID)["state"]
        if state in ("deferred", "awaiting_input") and rest.request("GET", path).status_code == 200:
            return None
        if state in ("failed", "success", "upstream_failed"):
            return str(state)
        time.sleep(1)
    raise TimeoutError(f"{TASK_ID} did not ask a person within {RUN_TIMEOUT:.0f} s")


def _answered_run(airflow: _Airflow, rest: AirflowRest) -> tuple[str, RunWatch, dict[str, Any], list[str]]:
    """Trigger, wait for the request, answer "Grant", watch the run; a run lost to the defer race is
    run again. The run, its watch, the answer and the runs lost."""
    lost: list[str] = []
    for attempt in range(1, ATTEMPTS + 1):
        run_id = rest.trigger(DAG_ID)
        ended, answered = _until_asked(rest, run_id), {}
        if ended is None:
            path = f"{rest.run_path(DAG_ID, run_id)}/taskInstances/{TASK_ID}/-1/hitlDetails"
            answered = rest.json("PATCH", path, json={"chosen_options": ["Grant"], "params_input": {}})
            watch = rest.watch_run(DAG_ID, run_id, timeout=RUN_TIMEOUT)
            if watch.state == "success":
                return run_id, watch, answered, lost
        raced = any(DEFER_RACE in line and run_id in line for line in airflow.log_tail(10_000_000).splitlines())
        if not raced or attempt == ATTEMPTS:
            report = rest.failure_report(watch) if ended is None else f"{TASK_ID} ended {ended} before asking"
            raise RuntimeError(f"run {run_id}: {report}")
        lost.append(run_id)
    raise AssertionError("unreachable")


def check_hitl_answer(expect: Any, home: Path, mix_url: str) -> str:
    """Run the asking turn on a real Airflow and answer it through ``PATCH .../hitlDetails``."""
    from mix_provider.version_compat import AIRFLOW_V_3_3_PLUS, HAS_HITL

    if not HAS_HITL:
        raise NotApplicable("no human-in-the-loop before Airflow 3.1 (ask is refused at parse time: ask-gate)")
    if AIRFLOW_V_3_3_PLUS:
        raise NotApplicable(
            "from 3.3 the task waits in awaiting_input, no trigger: dag.test() runs that path "
            "(tests/integration/operators/test_supervised.py) and the browser suite answers it in the UI"
        )
    airflow = _Airflow(home / "standalone", mix_url)
    began = time.monotonic()
    airflow.start()
    try:
        airflow.warm_execution_api()
        started = time.monotonic() - began
        rest = AirflowRest(airflow.base_url, USER, PASSWORD)
        rest.wait_dag(DAG_ID, timeout=RUN_TIMEOUT)
        run_id, watch, answered, lost = _answered_run(airflow, rest)
        result = rest.xcom(DAG_ID, run_id, TASK_ID)
        expect("permission granted: bash" in result["reply"], f"the agent did not get the grant: {result['reply']!r}")
        expect(result["decisions"]["asked"] == 1, f"decisions: {result['decisions']}")
        answer_logged = f"answered by {USER}" in "\n".join(rest.log_lines(DAG_ID, run_id, TASK_ID))
        expect(answer_logged, f"the task log does not say the request was answered by {USER}")
        states = " > ".join(watch.task_states[TASK_ID])
    finally:
        airflow.stop()
    by = answered["responded_by"]["name"]
    rerun = f"; runs lost to the defer race and run again: {len(lost)}" if lost else ""
    return f"{TASK_ID} {states}; 'Grant' by {by} via PATCH hitlDetails; granted (Airflow up in {started:.0f} s{rerun})"
