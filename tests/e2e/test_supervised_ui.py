"""A supervised turn in a real Airflow: the agent asks for bash permission, no rule decides, and a person
answers in the Airflow UI's Required Actions (driven in Chromium); the turn then finishes with the answer.

Airflow 3.3 parks the task in ``awaiting_input`` while it waits for the person (3.1/3.2 defer it to
``HITLTrigger``); once answered, the task sends the answer to Mix and defers to the message trigger again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from e2e_airflow import AirflowStandalone
from e2e_ui import open_signed_in, screenshot
from playwright.sync_api import Page, expect
from test_airflow_ui import RUN_TIMEOUT_S, mix_connection

from airflow_stack.report import SUMMARY, timed
from airflow_stack.rest import AirflowRest

__all__ = ["mix_connection"]

pytestmark = pytest.mark.timeout(1500)

DAG_ID, TASK_ID = "mix_e2e_supervised", "supervised_turn"
SUBJECT = "Mix agent asks: bash 'ls -la'"


def _wait_for_required_action(rest: AirflowRest, run_id: str, timeout: float = RUN_TIMEOUT_S) -> str:
    """Poll until the turn's task waits for a person (``awaiting_input``, or ``deferred`` to HITLTrigger).

    The permission request reaches the trigger within milliseconds of the message; the run must not end
    first (Airflow's defer race is the provider's to survive: test_defer_race.py).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ti = rest.task_instance(DAG_ID, run_id, TASK_ID)
        if ti["state"] in ("awaiting_input", "deferred"):
            path = f"{rest.run_path(DAG_ID, run_id)}/taskInstances/{TASK_ID}/-1/hitlDetails"
            if rest.request("GET", path).status_code == 200:
                return str(ti["state"])
        if ti["state"] in ("failed", "success", "upstream_failed"):
            pytest.fail(f"{TASK_ID} ended {ti['state']} before asking a person (run {run_id})")
        time.sleep(1)
    pytest.fail(f"{TASK_ID} did not ask a person within {timeout} s")


@pytest.mark.parametrize(("choice", "outcome"), [("Grant", "permission granted: bash"), ("Deny", "permission denied")])
def test_a_person_answers_the_permission_in_the_ui(
    airflow: AirflowStandalone,
    rest: AirflowRest,
    mix_connection: str,
    page: Page,
    artifacts: Path,
    choice: str,
    outcome: str,
) -> None:
    rest.wait_dag(DAG_ID)
    name = f"supervised_{choice.lower()}"
    with timed(f"{name}_until_asked"):
        run_id = rest.trigger(DAG_ID)
        state = _wait_for_required_action(rest, run_id)
        airflow.wait_exit_read(TASK_ID, run_id, state, RUN_TIMEOUT_S)
    url = f"{airflow.base_url}/dags/{DAG_ID}/runs/{run_id}/tasks/{TASK_ID}/required_actions"
    try:
        with timed(f"{name}_ui_answer"):
            open_signed_in(page, url, airflow.username, airflow.password)
            expect(page.get_by_text(SUBJECT).first).to_be_visible()
            screenshot(page, artifacts, f"10-{name}-required-action", full_page=True)
            page.get_by_role("button", name=choice, exact=True).click()
        with timed(f"{name}_after_answer"):
            watch = rest.watch_run(DAG_ID, run_id, timeout=RUN_TIMEOUT_S)
    except Exception:
        screenshot(page, artifacts, f"10-{name}-failure", full_page=True)
        raise
    SUMMARY[f"timeline_{name}"] = watch.timeline
    if watch.state != "success":
        pytest.fail(rest.failure_report(watch))
    result: dict[str, Any] = rest.xcom(DAG_ID, run_id, TASK_ID)
    assert outcome in result["reply"]
    assert result["decisions"]["asked"] == 1
    log = "\n".join(rest.log_lines(DAG_ID, run_id, TASK_ID))
    assert f"answered by {airflow.username}" in log
    assert "Mix permission request bash 'ls -la'" in log
