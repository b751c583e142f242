"""A small client of Airflow's public REST API (``/api/v2``) for the tests that run a real Airflow."""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

TERMINAL_RUN_STATES = ("success", "failed")


@dataclass
class RunWatch:
    """What polling a DAG run saw: its final state and every state each task instance went through.

    ``timeline`` says when each change was first seen, in seconds since the watch began, so that a
    slow run shows where its time went.
    """

    dag_id: str
    run_id: str
    state: str = "queued"
    task_states: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    timeline: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def record(self, task_id: str, state: str | None) -> None:
        """Append ``state`` to the task's history when it changed."""
        history = self.task_states[task_id]
        if state is not None and (not history or history[-1] != state):
            history.append(state)
            self.timeline.append(f"{time.monotonic() - self.started:6.1f} s {task_id} {state}")

    def unfinished(self) -> list[str]:
        """The tasks last seen in a state other than ``success``."""
        return [task_id for task_id, history in self.task_states.items() if history[-1] != "success"]


class AirflowRest:
    """Token-authenticated calls to one Airflow api-server.

    :param base_url: ``http://host:port`` of the api-server.
    """

    def __init__(self, base_url: str, username: str, password: str) -> None:
        token = httpx.post(
            f"{base_url}/auth/token", json={"username": username, "password": password}, timeout=10.0
        ).raise_for_status()
        self._client = httpx.Client(
            base_url=f"{base_url}/api/v2",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=120.0,
        )

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call; the response is returned whatever its status."""
        return self._client.request(method, path, **kwargs)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call that must succeed; its JSON body."""
        return self.request(method, path, **kwargs).raise_for_status().json()

    def wait_dag(self, dag_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the dag-processor has parsed ``dag_id``; fail on an import error of its file.

        :raises AssertionError: on an import error or a timeout.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            response = self.request("GET", f"/dags/{dag_id}")
            if response.status_code == 200:
                return dict(response.json())
            errors = self.json("GET", "/importErrors")["import_errors"]
            assert not errors, f"DAG import errors: {errors}"
            time.sleep(0.5)
        raise AssertionError(f"DAG {dag_id} not parsed within {timeout:.0f} s")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, logical_date: str | None = None) -> str:
        """Trigger a manual run now; return its run id."""
        body = {"logical_date": logical_date, "conf": conf or {}}
        return str(self.json("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"])

    def run_path(self, dag_id: str, run_id: str) -> str:
        """The REST path of one DAG run."""
        return f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of a run."""
        return list(self.json("GET", f"{self.run_path(dag_id, run_id)}/taskInstances")["task_instances"])

    def watch_run(self, dag_id: str, run_id: str, timeout: float = 180.0, interval: float = 1.0) -> RunWatch:
        """Poll a run (and its task instances) until it finishes or ``timeout`` passes.

        Each poll is two api-server requests, served by the process the workers' Execution API calls
        go to: a second apart leaves it to them.
        """
        watch = RunWatch(dag_id, run_id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            watch.state = str(self.json("GET", self.run_path(dag_id, run_id))["state"])
            for ti in self.task_instances(dag_id, run_id):
                watch.record(ti["task_id"], ti["state"])
            if watch.state in TERMINAL_RUN_STATES:
                return watch
            time.sleep(interval)
        return watch

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """The deserialized value of one XCom."""
        path = f"{self.run_path(dag_id, run_id)}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.json("GET", path)["value"]

    def task_events(self, dag_id: str, run_id: str) -> dict[str, list[tuple[str, int]]]:
        """The audit log of a run: ``task_id -> [(event, try_number), ...]`` in time order."""
        params = {"dag_id": dag_id, "run_id": run_id, "limit": 1000}
        entries = sorted(self.json("GET", "/eventLogs", params=params)["event_logs"], key=lambda e: e["when"])
        events: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for entry in entries:
            if entry["task_id"]:
                events[entry["task_id"]].append((entry["event"], entry["try_number"]))
        return events

    def log_lines(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[str]:
        """The structured log of one try, one ``event`` string per line (source headers included)."""
        path = f"{self.run_path(dag_id, run_id)}/taskInstances/{task_id}/logs/{try_number}"
        body = self.json("GET", path, params={"full_content": True}, headers={"Accept": "application/json"})
        content = body.get("content") or []
        return [str(line.get("event", "")) if isinstance(line, dict) else str(line) for line in content]

    def run_dag(
        self, dag_id: str, conf: dict[str, Any] | None = None, *, timeout: float, logical_date: str | None = None
    ) -> RunWatch:
        """Wait for ``dag_id`` to be parsed, trigger it and watch the run to its end."""
        self.wait_dag(dag_id)
        return self.watch_run(dag_id, self.trigger(dag_id, conf, logical_date), timeout=timeout)

    def failure_report(self, watch: RunWatch, log_lines: int = 40) -> str:
        """Why a run did not succeed: its state, its timeline and the log tails of its unfinished tasks."""
        unfinished = watch.unfinished()
        logs = {
            ti["task_id"]: self.log_lines(watch.dag_id, watch.run_id, ti["task_id"], ti["try_number"])[-log_lines:]
            for ti in self.task_instances(watch.dag_id, watch.run_id)
            if ti["task_id"] in unfinished and ti["try_number"] > 0
        }
        timeline = "\n".join(watch.timeline)
        return f"{watch.dag_id} run {watch.run_id} ended {watch.state}:\n{timeline}\n{logs}"

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """One task instance (its latest try)."""
        return dict(self.json("GET", f"{self.run_path(dag_id, run_id)}/taskInstances/{task_id}"))

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict[str, Any]]:
        """Every try of one task instance, first try first."""
        body = self.json("GET", f"{self.run_path(dag_id, run_id)}/taskInstances/{task_id}/tries")
        return sorted(body["task_instances"], key=lambda ti: ti["try_number"])
