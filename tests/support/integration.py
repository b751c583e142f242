"""Helpers of the integration tests: a plain ``httpx`` view of the local Mix server, and XCom reading.

:class:`MixAPI` deliberately does not use the provider's client: a bug there must not be able to hide itself.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

#: Finish reasons after which an assistant message is no longer streaming.
TERMINAL = frozenset({"end_turn", "max_tokens", "canceled", "error", "permission_denied", "unknown"})


class MixAPI:
    """Direct calls to the Mix REST API of ``base_url``.

    :param base_url: the server's base URL.
    """

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30.0)

    def create_session(self, title: str | None = None, **fields: Any) -> dict[str, Any]:
        """Create a session (``local-browser-service`` unless ``fields`` say otherwise)."""
        body = {"title": title or f"test {uuid.uuid4().hex[:8]}", "browserMode": "local-browser-service", **fields}
        response = self.http.post("/api/sessions", json=body)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def session(self, session_id: str) -> httpx.Response:
        """``GET /api/sessions/{id}`` (the raw response: tests check 404s too)."""
        return self.http.get(f"/api/sessions/{session_id}")

    def sessions(self, include_subagents: bool = True) -> list[dict[str, Any]]:
        """``GET /api/sessions``: every session, or the 20 newest on the ``current`` generation."""
        params = {"includeSubagents": "true"} if include_subagents else {}
        result: list[dict[str, Any]] = self.http.get("/api/sessions", params=params).raise_for_status().json()
        return result

    def findable(self, include_subagents: bool = True) -> set[str]:
        """Ids of the sessions a client can find: the list, and every session that holds a user message
        (``GET /api/messages/history``, every page), sub-agents only if asked; on a capped server an
        older session that holds no message is in neither."""
        ids = {s["id"] for s in self.sessions(include_subagents)}
        history: set[str] = set()
        offset, page = 0, [{}]
        while page:
            page = self.http.get("/api/messages/history", params={"limit": 1000, "offset": offset}).json()
            history |= {m["sessionId"] for m in page}
            offset += len(page)
        return ids | {sid for sid in history - ids if include_subagents or self._main(sid)}

    def _main(self, session_id: str) -> bool:
        found = self.session(session_id).raise_for_status().json()
        return found.get("sessionType") != "subagent" and not found.get("parentSessionId")

    def export(self, session_id: str) -> dict[str, Any]:
        """The transcript."""
        result: dict[str, Any] = self.http.get(f"/api/sessions/{session_id}/export").raise_for_status().json()
        return result

    def send(self, session_id: str, text: str) -> None:
        """Send a message (202: the reply runs in the background)."""
        self.http.post(f"/api/sessions/{session_id}/messages", json={"text": text}).raise_for_status()

    def cancel(self, session_id: str) -> None:
        """Stop the run in progress, if any."""
        self.http.post(f"/api/sessions/{session_id}/cancel")

    def wait_finished(self, session_id: str, user_messages: int, timeout: float = 30.0) -> dict[str, Any]:
        """Poll until the session has ``user_messages`` user messages (a ``send_message`` callback's
        among them) and every run finished."""
        nudges = self.nudges(session_id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            export = self.export(session_id)
            users, finished = turn_counts(export["messages"], nudges)
            if finished >= users >= user_messages:
                return export
            time.sleep(0.05)
        raise AssertionError(f"session {session_id} did not finish turn {user_messages} in {timeout} s")

    def nudges(self, session_id: str) -> frozenset[str]:
        """The texts the session's ``send_message`` callbacks send inside a run (no run of their own)."""
        callbacks = self.session(session_id).raise_for_status().json().get("callbacks") or ()
        return frozenset(c["messageContent"] for c in callbacks if c.get("type") == "send_message")

    def converse(self, session_id: str, *texts: str) -> dict[str, Any]:
        """Send each text in turn, waiting for every reply; return the final transcript."""
        export = self.export(session_id)
        users = sum(1 for m in export["messages"] if m["role"] == "user")
        for text in texts:
            self.send(session_id, text)
            users += 1
            export = self.wait_finished(session_id, users)
        return export

    def wait_running(self, session_id: str, timeout: float = 10.0) -> None:
        """Poll until a reply is in progress (a turn has no finished assistant message yet)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            users, finished = turn_counts(self.export(session_id)["messages"], self.nudges(session_id))
            if users > finished:
                return
            time.sleep(0.05)
        raise AssertionError(f"no run started in session {session_id} within {timeout} s")

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()


def turn_counts(messages: list[dict[str, Any]], nudges: frozenset[str] = frozenset()) -> tuple[int, int]:
    """How many user messages a transcript holds, and how many runs finished, counted as if the
    ``nudges`` (user messages a callback sends inside a run) had none: not read by position, as the
    messages of one second come in no defined order."""
    users = sum(1 for m in messages if m["role"] == "user")
    injected = sum(1 for m in messages if m["role"] == "user" and m["content"] in nudges)
    finished = sum(1 for m in messages if m["role"] == "assistant" and m.get("finishReason") in TERMINAL)
    return users, finished + injected


def next_second() -> None:
    """Sleep into the next wall-clock second. The server stores message times in whole seconds and
    lists one second's messages in no defined order, so a wait that reads only the transcript (no
    stream followed since its send) cannot tell two turns of one second apart: a test of something
    else starts its next turn in a later second."""
    time.sleep(1.02 - time.time() % 1)


def user_messages(export: dict[str, Any]) -> list[dict[str, Any]]:
    """The user messages of a transcript."""
    return [m for m in export["messages"] if m["role"] == "user"]


def asset_events(asset_name: str) -> list[dict[str, Any]]:
    """The extras of every event of the asset named ``asset_name``, oldest first (from the metadata DB)."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as db:
        query = select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        return [dict(e.extra) for e in db.scalars(query.where(AssetModel.name == asset_name).order_by(AssetEvent.id))]


def xcom(dr: Any, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
    """The XCom a task instance of the DagRun ``dr`` pushed (read from the metadata DB)."""
    ti = dr.get_task_instance(task_id, map_index=map_index)
    assert ti is not None, f"no task instance {task_id}[{map_index}]"
    return ti.xcom_pull(task_ids=task_id, key=key, map_indexes=map_index)


def states(dr: Any) -> dict[str, str]:
    """``{task_id: state}`` of the unmapped task instances of the DagRun ``dr``."""
    return {ti.task_id: ti.state for ti in dr.get_task_instances() if ti.map_index == -1}


@pytest.fixture(scope="module")
def api(mix_server: Any) -> Iterator[MixAPI]:
    """Plain HTTP to the module's server (the shared one unless the module has its own ``mix_server``)."""
    client = MixAPI(mix_server.base_url)
    yield client
    client.close()


@pytest.fixture
def uid() -> str:
    """A token unique to the test, for titles and DAG ids."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def faults(mix_server: Any) -> Iterator[Any]:
    """The shared server, with every fault cleared after the test."""
    yield mix_server
    mix_server.clear_faults()


@pytest.fixture(scope="session")
def dag_bundles(airflow_db: Any) -> None:
    """Register the configured DAG bundles: ``sync_bag_to_db`` needs the ``dags-folder`` row (FK)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()


@pytest.fixture
def run_dag(run_dag: Callable[..., Any], dag_bundles: None) -> Callable[..., Any]:
    """The harness's ``run_dag``, once the bundles are registered."""
    return run_dag
