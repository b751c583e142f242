"""MixRewindSessionOperator against the local server: by message id, by message count, by whole turns.

The server keeps the messages *listed* up to the one rewound to and lists one second's messages in no
defined order: turns here start in seconds of their own (``next_second``), except where a test shows
a cut inside a shared second being refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.providers.common.compat.sdk import DAG

from mix_provider.operators.rewind import MixRewindSessionOperator
from support.integration import MixAPI, next_second, states, xcom

TURNS = ("one", "two [[tool]]", "three")


def _ids(export: dict[str, Any]) -> list[str]:
    return [m["id"] for m in export["messages"]]


def converse_in_own_seconds(api: MixAPI, sid: str) -> list[str]:
    """Each of :data:`TURNS` in a second of its own (a turn takes well under a second here)."""
    for text in TURNS:
        next_second()
        export = api.converse(sid, text)
    return _ids(export)


def test_rewind_three_ways(run_dag: Any, api: MixAPI, uid: str) -> None:
    by_id, by_count, by_turns = (api.create_session(f"rewind {uid} {n}")["id"] for n in range(3))
    before = {sid: converse_in_own_seconds(api, sid) for sid in (by_id, by_count, by_turns)}
    assert all(len(ids) == 8 for ids in before.values()), "the tool turn is four messages"

    with DAG(f"rewind_{uid}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        MixRewindSessionOperator(task_id="by_id", session_id=by_id, message_id=before[by_id][1], cleanup_media=True)
        MixRewindSessionOperator(task_id="by_count", session_id=by_count, keep_messages=6)
        MixRewindSessionOperator(task_id="by_turns", session_id=by_turns, drop_last_turns=1, cleanup_media=False)
    dr = run_dag(dag)
    assert dr.state == "success", states(dr)

    expected = {by_id: before[by_id][:2], by_count: before[by_count][:6], by_turns: before[by_turns][:6]}
    for task_id, sid in (("by_id", by_id), ("by_count", by_count), ("by_turns", by_turns)):
        kept = _ids(api.export(sid))
        assert kept == expected[sid], task_id
        result = xcom(dr, task_id)
        assert result["rewound_to"] == kept[-1]
        assert result["id"] == sid
        assert result["user_message_count"] == api.session(sid).json()["userMessageCount"]


def test_rewind_beyond_the_turns_fails_and_keeps_the_session(run_dag: Any, api: MixAPI, uid: str) -> None:
    sid = api.create_session(f"rewind too far {uid}")["id"]
    before = _ids(api.converse(sid, "only turn"))
    with DAG(f"rewind_too_far_{uid}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        MixRewindSessionOperator(task_id="too_far", session_id=sid, drop_last_turns=1)
    dr = run_dag(dag)
    assert dr.state == "failed"
    assert _ids(api.export(sid)) == before


def test_keeping_part_of_a_shared_second_fails_and_keeps_the_session(run_dag: Any, api: MixAPI, uid: str) -> None:
    """The tool turn's four messages share a second: "keep 3" would keep whichever three the server
    lists first, so it is refused, naming why."""
    sid = api.create_session(f"rewind inside a second {uid}")["id"]
    before = converse_in_own_seconds(api, sid)
    with DAG(f"rewind_split_{uid}", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        MixRewindSessionOperator(task_id="split", session_id=sid, keep_messages=3)
    dr = run_dag(dag)
    assert dr.state == "failed"
    assert _ids(api.export(sid)) == before
