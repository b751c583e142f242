"""End to end in a real Airflow 3: the ``mix`` connection made and tested in the web UI, then the
example DAGs of ``dags_examples/`` run by the scheduler, the triggerer and LocalExecutor workers.

The tests share one Airflow and run in file order: the DAGs use the connection the UI created
(``mix_connection`` creates it over REST when the UI test did not run).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from e2e_airflow import AirflowStandalone
from e2e_ui import (
    connection_row,
    extra_input,
    login,
    open_add_connection,
    open_connections,
    open_extra_fields,
    open_signed_in,
    press_test_connection,
    save_connection,
    screenshot,
)
from playwright.sync_api import Page, expect

from airflow_stack.report import SUMMARY, timed
from airflow_stack.rest import AirflowRest, RunWatch
from mix_provider.devserver.testing import MixDevServer
from mix_provider.get_provider_info import get_provider_info

# Generous bounds: the first test also pays for starting Airflow (seconds on an idle machine, minutes on
# a saturated small one).
pytestmark = pytest.mark.timeout(1500)

CONN_ID = "mix_default"
LIFECYCLE_DAG = "mix_session_lifecycle"
ARCHIVE_DAG = "mix_archive_transcripts"
# A run takes minutes on a small VM, more when the triggerer is slow to build its in-process
# Execution API for the first trigger (Airflow pays that once per triggerer start).
RUN_TIMEOUT_S = 1200.0
# What the form should be filled with; the stored extra must come back with these values.
UI_URL = "https://mix.example/app"
"""The Mix UI the connection names: the tasks' "Mix session" extra links point under it."""
EXTRA_VALUES = {"timeout": "10", "max_retries": "2", "retry_max_wait": "1", "ui_url": UI_URL}


@pytest.fixture(scope="module")
def mix_type() -> dict[str, Any]:
    """The ``mix`` entry of the provider's ``connection-types``."""
    types = get_provider_info()["connection-types"]
    return next(t for t in types if t["connection-type"] == "mix")


def test_mix_connection_is_created_and_tested_in_the_ui(
    airflow: AirflowStandalone,
    e2e_mix_server: MixDevServer,
    rest: AirflowRest,
    page: Page,
    artifacts: Path,
    mix_type: dict[str, Any],
) -> None:
    """Log in, add a ``Mix`` connection through the form, save it and press Test."""
    rest.request("DELETE", f"/connections/{CONN_ID}")
    behaviour, fields = mix_type["ui-field-behaviour"], mix_type["conn-fields"]
    with timed("ui_connection_flow"):
        login(page, airflow.base_url, airflow.username, airflow.password)
        open_connections(page)
        dialog = open_add_connection(page, CONN_ID, mix_type["hook-name"])

        base_url = dialog.get_by_role("textbox", name=behaviour["relabeling"]["host"])
        expect(base_url).to_have_attribute("placeholder", behaviour["placeholders"]["host"])
        token = dialog.get_by_role("textbox", name=behaviour["relabeling"]["password"])
        expect(token).to_have_attribute("placeholder", behaviour["placeholders"]["password"])
        for hidden in ("Login", "Schema", "Host", "Password"):
            expect(dialog.get_by_role("textbox", name=hidden, exact=True)).to_have_count(0)
        base_url.fill(e2e_mix_server.base_url)
        # Airflow 3.3.2's row Test button posts port 0 for an empty port, which the API refuses as
        # "differs from the stored connection": fill the port in, as a user would.
        dialog.get_by_role("spinbutton", name="Port").fill(str(e2e_mix_server.port))
        screenshot(page, artifacts, "01-connection-form")

        open_extra_fields(dialog)
        for key, field in fields.items():
            expect(dialog.get_by_text(field["label"], exact=True).first).to_be_visible()
            expect(extra_input(dialog, key)).to_have_count(1)
        expect(extra_input(dialog, "timeout")).to_have_value(str(fields["timeout"]["schema"]["default"]))
        expect(dialog.get_by_role("checkbox", name=fields["verify_ssl"]["label"])).to_be_checked()
        for key, value in EXTRA_VALUES.items():
            extra_input(dialog, key).fill(value)
        screenshot(page, artifacts, "02-connection-extra-fields")

        save_connection(page, dialog)
        expect(connection_row(page, CONN_ID)).to_contain_text(e2e_mix_server.base_url)
        message = press_test_connection(page, CONN_ID)
        screenshot(page, artifacts, "03-connection-test-successful")

    version = httpx.get(f"{e2e_mix_server.base_url}/health").json()["version"]
    assert "Test Connection Successful" in message
    assert f"{e2e_mix_server.base_url} is ok, version {version}" in message
    stored = rest.json("GET", f"/connections/{CONN_ID}")
    assert (stored["conn_type"], stored["host"], stored["port"]) == (
        "mix",
        e2e_mix_server.base_url,
        e2e_mix_server.port,
    )
    extra = json.loads(stored["extra"])
    assert {key: str(extra[key]) for key in EXTRA_VALUES} == EXTRA_VALUES
    assert extra["verify_ssl"] is True


@pytest.fixture
def mix_connection(rest: AirflowRest, e2e_mix_server: MixDevServer) -> str:
    """``mix_default`` as the UI test left it, or made over REST when that test did not run."""
    if rest.request("GET", f"/connections/{CONN_ID}").status_code == 404:
        body = {
            "connection_id": CONN_ID,
            "conn_type": "mix",
            "host": e2e_mix_server.base_url,
            "port": e2e_mix_server.port,
            "extra": json.dumps({"timeout": 10, "max_retries": 2, "retry_max_wait": 1, "ui_url": UI_URL}),
        }
        rest.json("POST", "/connections", json=body)
    return CONN_ID


def run_dag(rest: AirflowRest, dag_id: str, conf: dict[str, Any] | None = None, **trigger: Any) -> RunWatch:
    """Trigger ``dag_id`` and watch it to the end; the failure message carries the failed tasks' logs."""
    rest.wait_dag(dag_id)
    with timed(f"dag_{dag_id}"):
        watch = rest.watch_run(dag_id, rest.trigger(dag_id, conf, **trigger), timeout=RUN_TIMEOUT_S)
    SUMMARY[f"timeline_{dag_id}"] = watch.timeline
    if watch.state != "success":
        pytest.fail(rest.failure_report(watch))
    return watch


def test_lifecycle_dag_defers_through_the_triggerer(
    airflow: AirflowStandalone,
    rest: AirflowRest,
    mix_connection: str,
    e2e_mix_server: MixDevServer,
    page: Page,
    artifacts: Path,
) -> None:
    """``mix_session_lifecycle`` succeeds, and both message waits really went through the triggerer."""
    watch = run_dag(rest, LIFECYCLE_DAG)
    instances = {ti["task_id"]: ti for ti in rest.task_instances(LIFECYCLE_DAG, watch.run_id)}
    senders = sorted(task for task, ti in instances.items() if ti["operator"] == "MixSendMessageOperator")
    events = rest.task_events(LIFECYCLE_DAG, watch.run_id)
    SUMMARY["deferred_seen_by_polling"] = sorted(t for t, states in watch.task_states.items() if "deferred" in states)

    run_page = f"{airflow.base_url}/dags/{LIFECYCLE_DAG}/runs/{watch.run_id}"
    open_signed_in(page, run_page, airflow.username, airflow.password)
    expect(page.get_by_text(watch.run_id).first).to_be_visible()
    expect(page.get_by_text("MixSendMessageOperator").first).to_be_visible()
    screenshot(page, artifacts, "04-lifecycle-run-success", full_page=True)

    assert len(senders) == 2, f"expected the two message turns, got {sorted(instances)}"
    assert sorted(t for t, evs in events.items() if ("deferred", 1) in evs) == senders, dict(events)
    for task_id in senders:
        # Deferred, then resumed by the scheduler on the same try once the trigger fired.
        assert [e for e, _ in events[task_id]] == ["running", "deferred", "running", "success"], events[task_id]
        assert instances[task_id]["try_number"] == 1
        log = rest.log_lines(LIFECYCLE_DAG, watch.run_id, task_id)
        assert any(re.search(r"attempt=1\.log\.trigger\.\d+\.log$", line) for line in log), log[:5]
    session_id = rest.xcom(LIFECYCLE_DAG, watch.run_id, "create_session")
    session_url = f"{UI_URL}/sessions/{session_id}"
    links = rest.json("GET", f"{rest.run_path(LIFECYCLE_DAG, watch.run_id)}/taskInstances/first_turn/links")
    assert links["extra_links"] == {"Mix session": session_url}, links
    page.goto(f"{run_page}/tasks/first_turn/details")  # the Details tab lists the extra links
    link = page.get_by_role("link", name="Mix session")
    try:
        expect(link).to_have_attribute("href", session_url)
    finally:
        screenshot(page, artifacts, "05-mix-session-extra-link")
    assert e2e_mix_server.request_count("DELETE", f"/api/sessions/{session_id}") == 1
    assert httpx.get(f"{e2e_mix_server.base_url}/api/sessions/{session_id}").status_code == 404


def test_archive_dag_writes_transcripts_and_manifest(
    rest: AirflowRest, mix_connection: str, e2e_mix_server: MixDevServer, tmp_path: Path
) -> None:
    """``mix_archive_transcripts`` writes each session's gzipped JSONL transcript and a manifest under ``base_path``."""
    session_id = str(e2e_mix_server.seed_large_session(title="e2e archive", messages=6, message_bytes=2000)["id"])
    messages = httpx.get(f"{e2e_mix_server.base_url}/api/sessions/{session_id}/messages").json()
    # The DAG partitions by ``{{ ds }}``, which a run without a logical date does not have.
    logical_date = datetime.now(timezone.utc)
    run_dag(rest, ARCHIVE_DAG, {"base_path": str(tmp_path)}, logical_date=logical_date.isoformat())

    partition = tmp_path / f"dt={logical_date.date().isoformat()}"
    parts = [json.loads(part.read_text())["sessions"] for part in sorted((partition / "manifest.d").glob("*.json"))]
    entry = next(sessions[session_id] for sessions in reversed(parts) if session_id in sessions)
    transcript = partition / entry["path"]
    data = transcript.read_bytes()
    assert (entry["sha256"], entry["bytes"]) == (hashlib.sha256(data).hexdigest(), len(data))
    assert entry["messages"] == len(messages)
    lines = [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]
    assert len(lines) >= len(messages)
    assert session_id in json.dumps(lines[0])
