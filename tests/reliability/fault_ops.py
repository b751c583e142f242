"""The operations of the reliability matrix: each MixHook call (sync and async) and the operators built
on them, with what it needs prepared through plain HTTP and what its fault-free result must be.

An operation's ``call`` raises what the provider raised, or ``AssertionError`` when it returned
something other than the fault-free result. Its ``invariant`` holds whatever the outcome: one
session per create, one user message per send, a transcript file complete or absent.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from airflow.providers.common.compat.sdk import DAG, ObjectStoragePath

from mix_provider.archive import PARTIAL_SUFFIX, read_manifest, read_summary
from mix_provider.client import TurnKey
from mix_provider.hooks.mix import MixHook
from mix_provider.operators.archive import MixArchiveSessionsOperator
from mix_provider.operators.export import MixExportSessionOperator
from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.session import MixCreateSessionOperator
from support.integration import MixAPI, xcom

T = TypeVar("T")
START = datetime(2026, 1, 1)
TEXT = "exactly once"
REPLY = f"You said: {TEXT}"
CALLBACK = {"type": "bash_script", "toolName": "Bash", "bashCommand": "echo done"}


@dataclass
class Target:
    """What one cell works on, prepared before the fault is injected."""

    server: Any
    api: MixAPI
    conn_id: str
    out: Path
    title: str = field(default_factory=lambda: f"reliability {uuid.uuid4().hex}")
    session_id: str = ""
    message_id: str = ""

    def titled(self) -> list[str]:
        """Ids of the sessions carrying this cell's title (plain HTTP)."""
        return [s["id"] for s in self.api.sessions() if s["title"] == self.title]

    def user_messages(self) -> int:
        """User messages of this cell's session (plain HTTP)."""
        return sum(1 for m in self.api.export(self.session_id)["messages"] if m["role"] == "user")

    def served_export(self) -> bytes:
        """The transcript bytes as the server serves them now."""
        return self.api.http.get(f"/api/sessions/{self.session_id}/export").raise_for_status().content


def _empty_session(t: Target) -> None:
    t.session_id = t.api.create_session(t.title)["id"]


def _two_messages(t: Target) -> None:
    """A session holding one finished turn (seeded, no agent run, both messages in one second) and the
    message listed first: a rewind to it keeps it alone, whichever order the second is listed in."""
    t.session_id = str(t.server.seed_large_session(title=t.title, messages=2, message_bytes=64)["id"])
    t.message_id = t.api.export(t.session_id)["messages"][0]["id"]


def _message_sent(t: Target) -> None:
    """A session whose first message was sent through plain HTTP (its reply runs)."""
    _empty_session(t)
    t.api.send(t.session_id, TEXT)


def _nothing(t: Target) -> None:
    return None


def _no_invariant(t: Target, ok: bool) -> None:
    return None


def one_session(t: Target, ok: bool) -> None:
    """Never two sessions for one create; exactly one when it succeeded."""
    found = t.titled()
    assert len(found) <= 1, f"duplicate sessions {found}"
    assert len(found) == 1 or not ok


def one_message(t: Target, ok: bool) -> None:
    """Never the message twice; exactly once when the send succeeded."""
    users = t.user_messages()
    assert users <= 1, f"message sent {users} times"
    assert users == 1 or not ok


def complete_or_absent(t: Target, ok: bool) -> None:
    """No temporary file left; the transcript file is complete (the server's bytes) or absent."""
    assert sorted(p.name for p in t.out.rglob(f"*{PARTIAL_SUFFIX}")) == []
    stored = list(t.out.rglob(f"{t.session_id}.json"))
    assert len(stored) == (1 if ok else 0), f"expected {'one file' if ok else 'no file'}, found {stored}"
    for path in stored:
        assert path.read_bytes() == t.served_export()


@dataclass(frozen=True)
class Task:
    """An operator row: builds its operator for a target (given the task's common arguments); checks its XCom."""

    build: Callable[..., Any]
    check: Callable[[Target, Any], None]


@dataclass(frozen=True)
class Op:
    """One matrix row: the call, where its faults go, what it needs and what must hold after it.

    :param path: the faulted endpoint; ``{sid}`` stands for the prepared session.
    :param call: runs a hook call (hook rows); operator rows have a ``task`` instead.
    """

    name: str
    method: str
    path: str
    call: Callable[[Target], None] | None
    prepare: Callable[[Target], None] = _empty_session
    invariant: Callable[[Target, bool], None] = _no_invariant
    task: Task | None = None

    def endpoint(self, t: Target) -> str:
        """The concrete path the faults target."""
        return self.path.format(sid=t.session_id)


def _sync(t: Target, use: Callable[[MixHook], T]) -> T:
    with MixHook(t.conn_id) as hook:
        return use(hook)


def _async(t: Target, use: Callable[[MixHook], Coroutine[Any, Any, T]]) -> T:
    async def run() -> T:
        hook = MixHook(t.conn_id)
        try:
            return await use(hook)
        finally:
            await hook.aclose()

    return asyncio.run(run())


def _health(t: Target) -> None:
    assert _sync(t, lambda h: h.health()).status == "ok"


def _list(t: Target) -> None:
    assert t.session_id in {s.id for s in _sync(t, lambda h: h.list_sessions())}


def _alist(t: Target) -> None:
    assert t.session_id in {s.id for s in _async(t, lambda h: h.alist_sessions())}


def _create(t: Target) -> None:
    session = _sync(t, lambda h: h.create_session(t.title))
    assert t.titled() == [session.id] and session.title == t.title


def _get(t: Target) -> None:
    assert _sync(t, lambda h: h.get_session(t.session_id)).id == t.session_id


def _aget(t: Target) -> None:
    assert _async(t, lambda h: h.aget_session(t.session_id)).id == t.session_id


def _update_callbacks(t: Target) -> None:
    session = _sync(t, lambda h: h.update_callbacks(t.session_id, [CALLBACK]))
    assert [cb.to_wire() for cb in session.callbacks or []] == [CALLBACK]
    assert t.api.session(t.session_id).json()["callbacks"] == [CALLBACK]


def _messages(t: Target) -> None:
    assert sorted(m.role for m in _sync(t, lambda h: h.get_messages(t.session_id))) == ["assistant", "user"]


def _export(t: Target) -> None:
    export = _sync(t, lambda h: h.export_session(t.session_id))
    assert (export.id, len(export.messages)) == (t.session_id, 2)


def _aexport(t: Target) -> None:
    export = _async(t, lambda h: h.aexport_session(t.session_id))
    assert (export.id, len(export.messages)) == (t.session_id, 2)


def _consume_export(t: Target) -> None:
    summary = _sync(t, lambda h: read_summary(h, t.session_id))
    assert (summary["session_id"], summary["messages"]) == (t.session_id, 2)


def _rewind(t: Target) -> None:
    session = _sync(t, lambda h: h.rewind_session(t.session_id, t.message_id))
    assert session.id == t.session_id
    assert [m["id"] for m in t.api.export(t.session_id)["messages"]] == [t.message_id]


def _cancel(t: Target) -> None:
    assert _sync(t, lambda h: h.cancel_session(t.session_id)).status == "cancelled"


def _acancel(t: Target) -> None:
    assert _async(t, lambda h: h.acancel_session(t.session_id)).status == "cancelled"


def _delete(t: Target) -> None:
    _sync(t, lambda h: h.delete_session(t.session_id))
    assert t.api.session(t.session_id).status_code == 404


def _send(t: Target) -> None:
    accepted = _sync(t, lambda h: h.send_message(t.session_id, TEXT, turn=TurnKey.of(0, TEXT)))
    assert accepted.session_id == t.session_id


def _send_unreconciled(t: Target) -> None:
    _sync(t, lambda h: h.send_message(t.session_id, TEXT))


def _send_and_wait(t: Target) -> None:
    reply = _sync(t, lambda h: h.send_and_wait(t.session_id, TEXT, turn=TurnKey.of(0, TEXT), poll_interval=0.1))
    assert reply.text == REPLY


def _wait(t: Target) -> None:
    assert _sync(t, lambda h: h.wait_for_reply(t.session_id, TurnKey(0), timeout=30, poll_interval=0.1)).text == REPLY


def _await(t: Target) -> None:
    assert _async(t, lambda h: h.await_for_reply(t.session_id, TurnKey(0), timeout=30, poll_interval=0.1)).text == REPLY


def run_tasks(run_dag: Callable[..., Any], cells: dict[str, tuple[Task, Target]]) -> dict[str, Any]:
    """Run one task per cell in one ``dag.test()``: the XCom of each, or the exception it failed with."""
    failures: dict[str, BaseException] = {}
    task_ids = {name: re.sub(r"\W+", "_", name) for name in cells}
    with DAG(f"reliability_{uuid.uuid4().hex[:12]}", schedule=None, start_date=START) as dag:
        for name, (task, target) in cells.items():
            task.build(
                target,
                task_id=task_ids[name],
                mix_conn_id=target.conn_id,
                retries=0,
                on_failure_callback=lambda context, name=name: failures.update({name: context["exception"]}),
            )
    dr = run_dag(dag)
    outcomes = {}
    for name, task_id in task_ids.items():
        state = dr.get_task_instance(task_id).state
        assert state == "success" or name in failures, f"{name} is {state} but reported no exception"
        outcomes[name] = failures[name] if name in failures else xcom(dr, task_id)
    return outcomes


def _create_operator(t: Target, **common: Any) -> Any:
    return MixCreateSessionOperator(title=t.title, **common)


def _created(t: Target, session_id: Any) -> None:
    assert t.titled() == [session_id]


def _send_operator(t: Target, **common: Any) -> Any:
    return MixSendMessageOperator(
        session_id=t.session_id, text=TEXT, deferrable=False, poll_interval=0.1, timeout=30, **common
    )


def _replied(t: Target, result: Any) -> None:
    assert result["reply"] == REPLY


def _export_operator(t: Target, **common: Any) -> Any:
    return MixExportSessionOperator(
        session_id=t.session_id, output_path=f"file://{t.out}/{t.session_id}.json", **common
    )


def _exported(t: Target, result: Any) -> None:
    assert result["bytes"] == len((t.out / f"{t.session_id}.json").read_bytes()) and result["messages"] == 2


def _archive_operator(t: Target, **common: Any) -> Any:
    base = f"file://{t.out}/archive"
    return MixArchiveSessionsOperator(
        base_path=base, session_ids=[t.session_id], format="json", compression=None, **common
    )


def _archived(t: Target, result: Any) -> None:
    assert (result["archived"], result["failed"]) == (1, 0)
    assert t.session_id in read_manifest(ObjectStoragePath(f"file://{t.out}/archive")).entries


SESSION = "/api/sessions/{sid}"
OPS = [
    Op("health", "GET", "/health", _health, _nothing),
    Op("list_sessions", "GET", "/api/sessions", _list),
    Op("alist_sessions", "GET", "/api/sessions", _alist),
    Op("create_session", "POST", "/api/sessions", _create, _nothing, one_session),
    Op("get_session", "GET", SESSION, _get),
    Op("aget_session", "GET", SESSION, _aget),
    Op("update_callbacks", "PATCH", SESSION + "/callbacks", _update_callbacks),
    Op("get_messages", "GET", SESSION + "/messages", _messages, _two_messages),
    Op("export_session", "GET", SESSION + "/export", _export, _two_messages),
    Op("aexport_session", "GET", SESSION + "/export", _aexport, _two_messages),
    Op("consume_export", "GET", SESSION + "/export", _consume_export, _two_messages),
    Op("rewind_session", "POST", SESSION + "/rewind", _rewind, _two_messages),
    Op("cancel_session", "POST", SESSION + "/cancel", _cancel),
    Op("acancel_session", "POST", SESSION + "/cancel", _acancel),
    Op("delete_session", "DELETE", SESSION, _delete),
    Op("send_message", "POST", SESSION + "/messages", _send, invariant=one_message),
    Op("send_message, no baseline", "POST", SESSION + "/messages", _send_unreconciled, invariant=one_message),
    Op("send_and_wait", "POST", SESSION + "/messages", _send_and_wait, invariant=one_message),
    Op("wait_for_reply (stream)", "GET", "/stream", _wait, _message_sent, one_message),
    Op("await_for_reply (stream)", "GET", "/stream", _await, _message_sent, one_message),
    Op(
        "MixCreateSessionOperator",
        "POST",
        "/api/sessions",
        None,
        _nothing,
        one_session,
        Task(_create_operator, _created),
    ),
    Op(
        "MixSendMessageOperator",
        "POST",
        SESSION + "/messages",
        None,
        invariant=one_message,
        task=Task(_send_operator, _replied),
    ),
    Op(
        "MixExportSessionOperator",
        "GET",
        SESSION + "/export",
        None,
        _two_messages,
        complete_or_absent,
        Task(_export_operator, _exported),
    ),
    Op(
        "MixArchiveSessionsOperator",
        "GET",
        SESSION + "/export",
        None,
        _two_messages,
        complete_or_absent,
        Task(_archive_operator, _archived),
    ),
]
