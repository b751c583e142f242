"""A retried try re-attaches to what the dead try started: one session, one message, never two.

The first try of each task dies right after the server applied its request: either the task itself
raises there (a subclass used only here), or the server drops the connection unanswered
(``reset_after``) on a connection without client retries, so the answer is lost and the task fails.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import DAG

from mix_provider.client import MessageOptions, TurnKey
from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.session import MixCreateSessionOperator
from support.fakes import define_conn
from support.integration import MixAPI, final_reply, states, user_messages, xcom

RETRY = {"retries": 1, "retry_delay": timedelta(seconds=1)}
MESSAGES = r"/api/sessions/[^/]+/messages"


class WorkerDied(RuntimeError):
    """Stands for the worker process dying at that point."""


class _DiesOnPush:
    """A task instance whose XCom push kills the worker (after the session was created and recorded)."""

    def __init__(self, ti: Any) -> None:
        self._ti = ti

    def xcom_push(self, *args: Any, **kwargs: Any) -> None:
        raise WorkerDied("worker died after creating the session")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ti, name)


class CreateThenDie(MixCreateSessionOperator):
    """Try 1 dies after the create succeeded."""

    def execute(self, context: Any) -> str:
        if context["ti"].try_number == 1:
            context = {**context, "ti": _DiesOnPush(context["ti"])}
        return super().execute(context)


class SendThenDie(MixSendMessageOperator):
    """Try 1 dies right after the message was sent, before waiting (blocking) or deferring."""

    first_try = False

    def execute(self, context: Any) -> Any:
        self.first_try = context["ti"].try_number == 1
        return super().execute(context)

    def _wait_here(
        self, session_id: str, baseline: dict[str, Any], turn: TurnKey, already_sent: bool, options: MessageOptions
    ) -> Any:
        if self.first_try:
            self.hook.send_message(session_id, self.text, options, turn=turn)
            raise WorkerDied("worker died after sending")
        return super()._wait_here(session_id, baseline, turn, already_sent, options)

    def defer(self, **kwargs: Any) -> None:
        if self.first_try:
            raise WorkerDied("worker died after sending, before deferring")
        super().defer(**kwargs)


@pytest.fixture
def no_retry_conn(mix_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A connection to the shared server whose client never retries (a lost answer fails the try)."""
    conn = {"conn_type": "mix", "host": mix_server.base_url, "extra": {"max_retries": 0}}
    define_conn(monkeypatch, "mix_noretry", **conn)
    return "mix_noretry"


def _tries(dr: Any, task_id: str) -> int:
    ti = dr.get_task_instance(task_id)
    assert ti.state == "success", f"{task_id} is {ti.state}"
    return int(ti.try_number)


def _check_one_reply(dr: Any, api: MixAPI, task_id: str, session_id: str, text: str) -> None:
    """Exactly one user message, and the task's XCom is the reply to it."""
    export = api.export(session_id)
    assert [m["content"] for m in user_messages(export)] == [text]
    result = xcom(dr, task_id)
    assert result["message_id"] == final_reply(export)["id"]
    assert result["reply"] == f"You said: {text}"


def _posts(server: Any, session_id: str) -> int:
    return int(server.request_count("POST", f"/api/sessions/{re.escape(session_id)}/messages"))


def test_dying_tries_reattach(run_dag: Any, mix_server: Any, api: MixAPI, uid: str) -> None:
    blocking, deferred = (api.create_session(f"reattach {uid} {n}")["id"] for n in range(2))
    creates_before = mix_server.request_count("POST", "/api/sessions")
    with DAG(f"reattach_{uid}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        CreateThenDie(task_id="create", title=f"reattached {uid}", **RETRY)
        SendThenDie(task_id="send_blocking", session_id=blocking, text="blocking once", poll_interval=0.1, **RETRY)
        SendThenDie(task_id="send_deferred", session_id=deferred, text="deferred once", deferrable=True, **RETRY)
    dr = run_dag(dag)
    assert dr.state == "success", states(dr)
    assert {task: _tries(dr, task) for task in ("create", "send_blocking", "send_deferred")} == {
        "create": 2,
        "send_blocking": 2,
        "send_deferred": 2,
    }

    titled = [s for s in api.sessions() if s["title"] == f"reattached {uid}"]
    assert [s["id"] for s in titled] == [xcom(dr, "create")]
    assert xcom(dr, "create", key="session")["id"] == titled[0]["id"]
    assert mix_server.request_count("POST", "/api/sessions") - creates_before == 1

    _check_one_reply(dr, api, "send_blocking", blocking, "blocking once")
    _check_one_reply(dr, api, "send_deferred", deferred, "deferred once")
    assert _posts(mix_server, blocking) == _posts(mix_server, deferred) == 1


def test_lost_answers_reattach(run_dag: Any, faults: Any, api: MixAPI, uid: str, no_retry_conn: str) -> None:
    session_id = api.create_session(f"lost answer {uid}")["id"]
    creates_before = faults.request_count("POST", "/api/sessions")
    faults.add_fault("reset_after", method="POST", path="/api/sessions")
    faults.add_fault("reset_after", method="POST", path=MESSAGES)
    with DAG(f"lost_answers_{uid}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        create = MixCreateSessionOperator(
            task_id="create", title=f"lost create {uid}", mix_conn_id=no_retry_conn, **RETRY
        )
        send = MixSendMessageOperator(
            task_id="send",
            session_id=session_id,
            text="sent once",
            mix_conn_id=no_retry_conn,
            poll_interval=0.1,
            **RETRY,
        )
        create >> send
    dr = run_dag(dag)
    assert dr.state == "success", states(dr)
    assert _tries(dr, "create") == _tries(dr, "send") == 2, "each first try lost its answer and failed"

    titled = [s["id"] for s in api.sessions() if s["title"] == f"lost create {uid}"]
    assert titled == [xcom(dr, "create")]
    assert faults.request_count("POST", "/api/sessions") - creates_before == 1
    _check_one_reply(dr, api, "send", session_id, "sent once")
    assert _posts(faults, session_id) == 1
