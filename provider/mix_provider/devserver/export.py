"""Streamed ``GET /api/sessions/{id}/export``: the transcript is read from SQLite in small
batches inside one read transaction and written out as it goes, never held whole. A transcript that
fits in its first batch is sent in one piece, read in one trip to a worker thread (the real handler
answers every export in one piece: ``rest_messages.go`` ``HandleExportSession``, ``sendJSONResponse``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from mix_provider.devserver.backend import blocking
from mix_provider.devserver.errors import session_not_found
from mix_provider.devserver.store import connect
from mix_provider.devserver.wire import Row, message_to_export

_BATCH_ROWS = 256
_BATCH_BYTES = 1024 * 1024


class ExportReader:
    """A consistent snapshot of one session, read batch by batch.

    :param db_path: the devserver's database.
    :param session_id: the session to export.
    :param order: the ``ORDER BY`` expressions of the messages (unique together; the generation's).
    """

    def __init__(self, db_path: Path, session_id: str, order: tuple[str, ...]) -> None:
        self._conn: sqlite3.Connection = connect(db_path)
        self._session_id = session_id
        keys = ", ".join(f"{expr} AS _k{index}" for index, expr in enumerate(order))
        self._select = f"SELECT *, {keys} FROM messages WHERE session_id = ?"
        self._order = f" ORDER BY {', '.join(order)} LIMIT ?"
        self._after_clause = f" AND ({', '.join(order)}) > ({', '.join('?' for _ in order)})"
        self._width = len(order)
        self._after: tuple[Any, ...] | None = None
        #: Whether the last batch was the end of the transcript (fewer rows and bytes than a batch holds).
        self.ended = False

    def open(self) -> Row:
        """Start the read transaction and return the session row.

        :raises ApiError: 404 when the session does not exist (the reader is then closed).
        """
        self._conn.execute("BEGIN")
        rows = self._conn.execute("SELECT * FROM sessions WHERE id = ?", (self._session_id,)).fetchall()
        if not rows:
            self.close()
            raise session_not_found(self._session_id)
        return dict(rows[0])

    def next_batch(self) -> bytes:
        """Return the next messages as comma-led ExportMessage JSON, about 1 MiB (empty at the end)."""
        after = () if self._after is None else self._after
        sql = self._select + (self._after_clause if after else "") + self._order
        batch: list[str] = []
        size = 0
        for row in self._conn.execute(sql, (self._session_id, *after, _BATCH_ROWS)):
            self._after = tuple(row[f"_k{index}"] for index in range(self._width))
            batch.append(json.dumps(message_to_export(dict(row))))
            size += len(batch[-1])
            if size >= _BATCH_BYTES:
                break
        self.ended = len(batch) < _BATCH_ROWS and size < _BATCH_BYTES
        return "".join("," + item for item in batch).encode()

    def first(self) -> tuple[Row, bytes]:
        """:meth:`open`, then the first :meth:`next_batch` (one trip to a worker thread)."""
        return self.open(), self.next_batch()

    def close(self) -> None:
        """End the transaction and close the connection."""
        self._conn.close()


def export_head(session: Row) -> dict[str, Any]:
    """Return the ExportSession fields that precede ``messages``."""
    return {
        "id": session["id"],
        "title": session["title"],
        "createdAt": session["created_at"],
        "updatedAt": session["updated_at"],
        "userMessageCount": session["user_count"],
        "assistantMessageCount": session["assistant_count"],
        "toolCallCount": session["tool_call_count"],
        "promptTokens": session["prompt_tokens"],
        "completionTokens": session["completion_tokens"],
        "cost": float(session["cost"]),
    }


async def open_export(db_path: Path, session_id: str, order: tuple[str, ...]) -> tuple[ExportReader, Row, bytes]:
    """Open a reader on a session (404 before any byte is sent); the session and the first batch."""
    reader = ExportReader(db_path, session_id, order)
    session, first = await blocking(reader.first)
    return reader, session, first


def _opening(session: Row) -> bytes:
    head = json.dumps(export_head(session))
    return (head[:-1] + ', "messages": [').encode()


def whole_export(reader: ExportReader, session: Row, first: bytes) -> bytes | None:
    """The whole ExportSession document when the first batch held every message (the reader is then
    closed), else None: stream it (:func:`export_chunks`)."""
    if not reader.ended:
        return None
    reader.close()
    return _opening(session) + first[1:] + b"]}"


async def export_chunks(reader: ExportReader, session: Row, first: bytes) -> AsyncIterator[bytes]:
    """Yield the ExportSession JSON document piece by piece, closing the reader at the end."""
    try:
        yield _opening(session) + first[1:]
        while batch := await blocking(reader.next_batch):
            yield batch
        yield b"]}"
    finally:
        reader.close()
