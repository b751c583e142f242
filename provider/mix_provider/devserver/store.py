"""SQLite persistence of sessions, messages and runs in progress.

All methods are synchronous and short; callers in the event loop run them in a worker
thread (:func:`anyio.to_thread.run_sync`). One connection serves them behind a lock;
streamed exports read through their own connection (:class:`ExportReader`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mix_provider.devserver.errors import ApiError, session_not_found
from mix_provider.devserver.totals import LEGACY, Totals
from mix_provider.devserver.wire import Row

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    browser_mode TEXT NOT NULL, cdp_url TEXT, prompt_mode TEXT NOT NULL, custom_system_prompt TEXT,
    session_type TEXT NOT NULL, subagent_type TEXT, parent_session_id TEXT, parent_tool_call_id TEXT,
    callbacks TEXT NOT NULL DEFAULT '[]', model_id TEXT, provider TEXT,
    user_count INTEGER NOT NULL DEFAULT 0, assistant_count INTEGER NOT NULL DEFAULT 0,
    tool_call_count INTEGER NOT NULL DEFAULT 0, prompt_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, cost REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, session_id TEXT NOT NULL,
    role TEXT NOT NULL, reasoning_duration INTEGER, finish_reason TEXT, model TEXT,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    -- the large columns last: reading a column stored after a large one walks its overflow pages
    -- (4 sums over a 512 MiB session: 8.3 s with content in the middle, 1.1 s with it last)
    tool_calls TEXT, reasoning TEXT, content TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages (session_id, seq);
-- several runs of one session may be in progress at once (the real agent has no busy check)
DROP TABLE IF EXISTS runs;
CREATE TABLE IF NOT EXISTS agent_runs (
    id TEXT PRIMARY KEY, session_id TEXT NOT NULL, text TEXT NOT NULL, options TEXT NOT NULL
);
"""
_MIGRATIONS = (
    ("messages", "tool_results", "TEXT"),
    ("messages", "callback_results", "TEXT"),
    ("sessions", "extra_cost", "REAL NOT NULL DEFAULT 0"),
)
"""Columns ``(table, column, type)`` added after the first release, added to an older database file
when missing."""

_MESSAGE_COLUMNS = (
    "id, session_id, role, content, reasoning, reasoning_duration, finish_reason, model, "
    "input_tokens, output_tokens, cost, tool_calls, tool_results, callback_results, created_at, updated_at"
)
_INSERT_MESSAGE = (
    f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES (:id, :session_id, :role, :content, "
    ":reasoning, :reasoning_duration, :finish_reason, :model, :input_tokens, :output_tokens, "
    ":cost, :tool_calls, :tool_results, :callback_results, :created_at, :updated_at)"
)
_UPDATE_MESSAGE = """
UPDATE messages SET content = :content, reasoning = :reasoning, reasoning_duration = :reasoning_duration,
  finish_reason = :finish_reason, input_tokens = :input_tokens, output_tokens = :output_tokens,
  cost = :cost, tool_calls = :tool_calls, updated_at = :updated_at
WHERE id = :id
"""


MESSAGE_ORDERS: dict[str, tuple[str, ...]] = {
    "insertion": ("seq",),
    "shuffled": ("created_at", "(seq * 2654435761) % 4294967296", "seq"),
}
"""``ORDER BY`` of a session's messages per tie order. ``db/sql/messages.sql``
``ListMessagesBySession`` orders by ``created_at`` (whole seconds) alone; ``shuffled`` breaks its
ties by a multiplicative hash of the insertion number: fixed, so a test sees the same order on
every run, but unrelated to the order the messages were stored in."""


def connect(path: Path) -> sqlite3.Connection:
    """Open a connection in WAL mode returning rows as :class:`sqlite3.Row`."""
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


class Store:
    """The devserver's state in SQLite.

    :param path: database file, created when missing.
    :param totals: how session totals follow the messages (the server generation's rules).
    :param order: the ``ORDER BY`` expressions of a session's messages (:data:`MESSAGE_ORDERS`).
    """

    def __init__(self, path: Path, totals: Totals = LEGACY, order: tuple[str, ...] = ("seq",)) -> None:
        self.path = path
        self.order = order
        self._totals = totals
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(path)
        self._conn.executescript(_SCHEMA)
        for table, column, kind in _MIGRATIONS:
            if column not in {row["name"] for row in self._conn.execute(f"PRAGMA table_info({table})")}:
                self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Yield the connection inside ``BEGIN IMMEDIATE`` ... ``COMMIT`` under the lock."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: dict[str, Any] | tuple[Any, ...] = ()) -> list[Row]:
        """Run one read query and return its rows as dicts."""
        with self._lock:
            return [dict(row) for row in self._conn.execute(sql, params)]

    def create_session(self, row: Row) -> Row:
        """Insert a session row (columns as keys) and return it as stored."""
        columns = ", ".join(row)
        values = ", ".join(f":{key}" for key in row)
        with self._transaction() as conn:
            conn.execute(f"INSERT INTO sessions ({columns}) VALUES ({values})", row)
        return self.get_session(row["id"])

    def get_session(self, session_id: str) -> Row:
        """Return a session row.

        :raises ApiError: 404 when it does not exist.
        """
        rows = self._query("SELECT * FROM sessions WHERE id = ?", (session_id,))
        if not rows:
            raise session_not_found(session_id)
        return rows[0]

    def list_sessions(self, include_subagents: bool) -> list[Row]:
        """Return all sessions, oldest first, subagent sessions only when asked."""
        where = "" if include_subagents else "WHERE session_type != 'subagent'"
        return self._query(f"SELECT * FROM sessions {where} ORDER BY created_at, rowid")

    def newest_sessions(self, limit: int) -> list[Row]:
        """Return the ``limit`` newest sessions, sub-agent ones included (``ListSessionsWithContent``:
        ``ORDER BY created_at DESC LIMIT 20``)."""
        return self._query("SELECT * FROM sessions ORDER BY created_at DESC, rowid DESC LIMIT ?", (limit,))

    def first_user_message(self, session_id: str) -> str | None:
        """Return the content of the first user message of a session, if any."""
        order = ", ".join(self.order)
        sql = f"SELECT content FROM messages WHERE session_id = ? AND role = 'user' ORDER BY {order} LIMIT 1"
        rows = self._query(sql, (session_id,))
        return str(rows[0]["content"]) if rows else None

    def delete_session(self, session_id: str) -> list[str]:
        """Delete a session, its subagent sessions, their messages and runs; return the ids.

        :raises ApiError: 404 when it does not exist.
        """
        self.get_session(session_id)
        children = self._query("SELECT id FROM sessions WHERE parent_session_id = ?", (session_id,))
        ids = [session_id, *(row["id"] for row in children)]
        with self._transaction() as conn:
            for table, column in (("messages", "session_id"), ("agent_runs", "session_id"), ("sessions", "id")):
                conn.executemany(f"DELETE FROM {table} WHERE {column} = ?", [(i,) for i in ids])
        return ids

    def set_callbacks(self, session_id: str, callbacks: list[dict[str, Any]], now: str) -> Row:
        """Replace the callbacks of a session and return the updated row."""
        self.get_session(session_id)
        with self._transaction() as conn:
            conn.execute(
                "UPDATE sessions SET callbacks = ?, updated_at = ? WHERE id = ?",
                (json.dumps(callbacks), now, session_id),
            )
        return self.get_session(session_id)

    def rename_session(self, session_id: str, title: str, now: str) -> None:
        """Set a session's title (nothing happens when it was deleted meanwhile)."""
        with self._transaction() as conn:
            conn.execute("UPDATE sessions SET title = ?, updated_at = ? WHERE id = ?", (title, now, session_id))

    def list_messages(self, session_id: str) -> list[Row]:
        """Return the messages of a session in order (none for an unknown session, like the
        real ``HandleListSessionMessages``, which does not look the session up)."""
        sql = f"SELECT * FROM messages WHERE session_id = ? ORDER BY {', '.join(self.order)}"
        return self._query(sql, (session_id,))

    def user_message_history(self, limit: int, offset: int) -> list[Row]:
        """Return the user messages of every session, newest first (``messages.sql``
        ``ListUserMessageHistory``: ``WHERE role = 'user' ORDER BY created_at DESC LIMIT ? OFFSET ?``)."""
        order = ", ".join(f"{expr} DESC" for expr in self.order)
        sql = f"SELECT * FROM messages WHERE role = 'user' ORDER BY {order} LIMIT ? OFFSET ?"
        return self._query(sql, (limit, offset))

    def add_message(self, *messages: Row, run: Row | None = None) -> None:
        """Insert messages and update their session's totals (with a run starting, its row too).

        :param messages: message rows (all message columns as keys).
        :param run: an ``agent_runs`` row to insert with them (a run starting).
        """
        with self._transaction() as conn:
            for message in messages:
                conn.execute(_INSERT_MESSAGE, message)
                conn.execute(self._totals.add, {**message, "calls": len(json.loads(message["tool_calls"] or "[]"))})
            if run is not None:
                conn.execute("INSERT INTO agent_runs VALUES (:id, :session_id, :text, :options)", run)

    def update_message(self, message: Row) -> None:
        """Store the final state of a message inserted empty (an assistant reply streaming):
        its content, finish reason, tool calls, tokens and cost, added to the session's totals."""
        with self._transaction() as conn:
            conn.execute(_UPDATE_MESSAGE, message)
            totals = {**message, "role": "", "calls": len(json.loads(message["tool_calls"] or "[]"))}
            conn.execute(self._totals.add, totals)

    def set_finish_reason(self, message: Row) -> None:
        """Change a stored message's finish reason (``finishMessage``: a step-limited round)."""
        with self._transaction() as conn:
            sql = "UPDATE messages SET finish_reason = :finish_reason, updated_at = :updated_at WHERE id = :id"
            conn.execute(sql, message)

    def increment_cost(self, session_id: str, cost: float, now: str) -> None:
        """Add a sub-agent's cost to a session (``sessions.sql`` ``IncrementSessionCost``)."""
        with self._transaction() as conn:
            sql = "UPDATE sessions SET cost = cost + :c, extra_cost = extra_cost + :c, updated_at = :now WHERE id = :id"
            conn.execute(sql, {"c": cost, "now": now, "id": session_id})

    def finish_run(self, run_id: str) -> None:
        """Forget a run: it ended (stored its last message) or was aborted."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM agent_runs WHERE id = ?", (run_id,))

    def pending_runs(self) -> list[Row]:
        """Return the runs that were in progress when the server last stopped."""
        return self._query("SELECT * FROM agent_runs")

    def discard_messages(self, session_id: str, message_ids: Iterable[str]) -> None:
        """Delete the given messages (a resumed run's partial output) and recount the session."""
        with self._transaction() as conn:
            conn.executemany("DELETE FROM messages WHERE id = ?", [(mid,) for mid in message_ids])
            conn.execute(self._totals.recount, {"id": session_id})

    def rewind(self, session_id: str, message_id: str, now: str) -> Row:
        """Delete the messages listed after ``message_id`` and return the updated session row.

        Like ``rest_sessions.go`` ``HandleRewindSession``: the message's index in the listed order,
        then ``DeleteAfterIndex`` deletes every message listed after it, so in a shared second the cut
        follows the listed order, not the order the messages were stored in.

        :raises ApiError: 404 when the session or the message does not exist.
        """
        self.get_session(session_id)
        sql = f"SELECT id FROM messages WHERE session_id = ? ORDER BY {', '.join(self.order)}"
        listed = [row["id"] for row in self._query(sql, (session_id,))]
        if message_id not in listed:
            raise ApiError(404, "not_found", f"Message with ID '{message_id}' not found")
        dropped = listed[listed.index(message_id) + 1 :]
        with self._transaction() as conn:
            conn.executemany("DELETE FROM messages WHERE id = ?", [(mid,) for mid in dropped])
            conn.execute("DELETE FROM agent_runs WHERE session_id = ?", (session_id,))
            conn.execute(self._totals.rewind, {"id": session_id})
            conn.execute("UPDATE sessions SET updated_at = ? WHERE id = ?", (now, session_id))
        return self.get_session(session_id)

    def insert_messages(self, session_id: str, messages: Iterable[Row]) -> None:
        """Bulk-insert messages (seeding) and recompute the session's totals."""
        with self._transaction() as conn:
            conn.executemany(_INSERT_MESSAGE, messages)
            conn.execute(self._totals.recount, {"id": session_id})

    def bulk_insert(self, sessions: list[Row], messages: list[Row]) -> None:
        """Insert session rows (totals already set, same columns each) and their messages, in one transaction."""
        if not sessions:
            return
        columns = ", ".join(sessions[0])
        values = ", ".join(f":{key}" for key in sessions[0])
        with self._transaction() as conn:
            conn.executemany(f"INSERT INTO sessions ({columns}) VALUES ({values})", sessions)
            conn.executemany(_INSERT_MESSAGE, messages)

    def reset(self) -> None:
        """Delete every session, message and run."""
        with self._transaction() as conn:
            for table in ("messages", "agent_runs", "sessions"):
                conn.execute(f"DELETE FROM {table}")


def new_session_row(session_id: str, title: str, now: str, **fields: Any) -> Row:
    """Return a ``sessions`` row with defaults for every column not given."""
    row: Row = {
        "id": session_id,
        "title": title,
        "created_at": now,
        "updated_at": now,
        "browser_mode": "local-browser-service",
        "cdp_url": None,
        "prompt_mode": "default",
        "custom_system_prompt": None,
        "session_type": "main",
        "subagent_type": None,
        "parent_session_id": None,
        "parent_tool_call_id": None,
        "callbacks": "[]",
        "model_id": None,
        "provider": None,
    }
    row.update(fields)
    return row


def new_message_row(message_id: str, session_id: str, role: str, content: str, now: str, **fields: Any) -> Row:
    """Return a ``messages`` row with defaults for every column not given.

    Non-assistant messages get ``finish_reason`` ``stop``, as ``message.Service.Create`` adds.
    """
    row: Row = {
        "id": message_id,
        "session_id": session_id,
        "role": role,
        "content": content,
        "reasoning": None,
        "reasoning_duration": None,
        "finish_reason": None if role == "assistant" else "stop",
        "model": None,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost": 0.0,
        "tool_calls": None,
        "tool_results": None,
        "callback_results": None,
        "created_at": now,
        "updated_at": now,
    }
    row.update(fields)
    return row
