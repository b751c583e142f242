"""Bulk seeding for scale tests: many small sessions in one transaction, and "touching" sessions
(one more exchange each) so that their list entries, and so their archive fingerprints, change.

Rows are built here and written by :meth:`Store.bulk_insert` / :meth:`Store.add_message`; nothing
goes through the agent, so 100,000 sessions take seconds, not hours.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from mix_provider.devserver.errors import ApiError
from mix_provider.devserver.store import Store, new_message_row, new_session_row
from mix_provider.devserver.wire import Row, filler, now_rfc3339

#: Upper bounds of one bulk request (a guard against typos, not a limit of SQLite).
MAX_SESSIONS = 1_000_000
MAX_MESSAGES = 1_000


def _int(body: dict[str, Any], key: str, default: int, maximum: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise ApiError(400, "validation_error", f"{key} must be an integer from 0 to {maximum}")
    return value


def _exchange(session_id: str, index: int, text: str, now: str) -> list[Row]:
    """A user message and an assistant answer (tokens set so that the session totals change)."""
    user = new_message_row(str(uuid.uuid4()), session_id, "user", text, now)
    answer = new_message_row(
        str(uuid.uuid4()),
        session_id,
        "assistant",
        text,
        now,
        finish_reason="end_turn",
        model="devserver-seed",
        input_tokens=10 + index,
        output_tokens=max(1, len(text) // 4),
    )
    return [user, answer]


def seed_sessions(store: Store, body: dict[str, Any]) -> list[str]:
    """Create ``count`` sessions of ``messages`` messages of ``messageBytes`` bytes; their ids, in order.

    :raises ApiError: 400 on a missing or out-of-range number.
    """
    count = _int(body, "count", 0, MAX_SESSIONS)
    messages = _int(body, "messages", 2, MAX_MESSAGES)
    text = filler(_int(body, "messageBytes", 64, 1 << 20))
    prefix = str(body.get("titlePrefix", "seeded"))
    now = now_rfc3339()
    sessions: list[Row] = []
    rows: list[Row] = []
    for number in range(count):
        session_id = str(uuid.uuid4())
        mine = [m for turn in range((messages + 1) // 2) for m in _exchange(session_id, turn, text, now)][:messages]
        sessions.append(new_session_row(session_id, f"{prefix} {number}", now, **_totals(mine)))
        rows += mine
    store.bulk_insert(sessions, rows)
    return [str(row["id"]) for row in sessions]


def _totals(messages: Sequence[Row]) -> dict[str, Any]:
    """The ``sessions`` counters of these messages (what the legacy recount computes, without the query)."""
    return {
        "user_count": sum(m["role"] == "user" for m in messages),
        "assistant_count": sum(m["role"] == "assistant" for m in messages),
        "prompt_tokens": sum(m["input_tokens"] for m in messages),
        "completion_tokens": sum(m["output_tokens"] for m in messages),
    }


def touch_sessions(store: Store, body: dict[str, Any]) -> int:
    """Append one exchange to each session of ``ids`` (their counts, tokens and ``updatedAt`` change).

    :raises ApiError: 400 when ``ids`` is not a list of strings, 404 on an unknown id (nothing changed).
    """
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(sid, str) for sid in ids):
        raise ApiError(400, "validation_error", "ids must be a list of session ids")
    for sid in ids:
        store.get_session(sid)
    now = now_rfc3339()
    text = filler(_int(body, "messageBytes", 64, 1 << 20))
    store.add_message(*(m for sid in ids for m in _exchange(sid, 1, text, now)))
    return len(ids)
