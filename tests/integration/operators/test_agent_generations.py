"""Issue 24 on both local server generations (``--generation current|legacy``, docs/devserver.md).

``current`` follows the newest real agent: the list shows the 20 newest sessions without counts
(``sessions.sql`` ``ListSessionsWithContent``), session tokens are the last LLM call's
(``agent.go`` ``TrackUsage``), callbacks run inside the run (``callbacks/executor.go``), ``max_steps``
ends a run as ``canceled`` (``processGeneration``). ``legacy`` lists everything with real counts,
sums usage, reports per-message usage and has no step limit.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mix_provider.errors import MixListingIncompleteError, MixStepLimitError, MixTokensUnmeasurableError
from mix_provider.operators.archive import MixArchiveSessionsOperator
from mix_provider.operators.message import MixSendMessageOperator

BOTH = pytest.mark.parametrize("fresh_mix_server", ["current", "legacy"], indirect=True)
CALLBACKS = [
    {"type": "bash_script", "toolName": "bash", "name": "audit", "bashCommand": "echo audited"},
    {"type": "send_message", "toolName": "bash", "name": "nudge", "messageContent": "Please summarize"},
    {"type": "sub_agent", "toolName": "bash", "name": "review", "subAgentPrompt": "Review it"},
]


def _session(server: Any, **body: Any) -> str:
    return str(
        httpx.post(f"{server.base_url}/api/sessions", json={"title": "t", **body}).raise_for_status().json()["id"]
    )


def _turn(session_id: str, text: str, **kwargs: Any) -> dict[str, Any]:
    op = MixSendMessageOperator(task_id="turn", session_id=session_id, text=text, poll_interval=0.2, **kwargs)
    return op.execute({})  # type: ignore[no-any-return]


@BOTH
def test_archiving_60_sessions_archives_all_or_ends_naming_the_cap(fresh_mix_server: Any, tmp_path: Path) -> None:
    """On ``current`` the list shows 20; ``GET /api/messages/history`` (``HandleMessageHistory``)
    reveals the other 40 through their user messages."""
    httpx.post(f"{fresh_mix_server.base_url}/_devserver/seed/sessions", json={"count": 60}).raise_for_status()
    op = MixArchiveSessionsOperator(task_id="archive", base_path=f"file://{tmp_path}", compression=None)
    result = op.execute({})
    assert result["archived"] == 60 and result["listing"]["complete"]
    assert result["listing"]["capped"] is (fresh_mix_server.generation == "current")
    assert len(list(tmp_path.glob("*.jsonl"))) == 60


def test_the_cap_is_named_when_the_history_cannot_reveal_a_session(fresh_mix_server: Any, tmp_path: Path) -> None:
    """A server answering the history with 404 (an older or trimmed build) leaves the 40 sessions
    beyond the capped list unseen: the archive keeps the 20 it can see and fails naming the cap."""
    httpx.post(f"{fresh_mix_server.base_url}/_devserver/seed/sessions", json={"count": 60}).raise_for_status()
    fresh_mix_server.add_fault("status", method="GET", path="/api/messages/history", status=404)
    op = MixArchiveSessionsOperator(task_id="archive", base_path=f"file://{tmp_path}", compression=None)
    with pytest.raises(MixListingIncompleteError, match="only its 20 newest sessions") as info:
        op.execute({})
    assert "session_ids" in info.value.unseen, "the remedy is named"
    assert len(list(tmp_path.glob("*.jsonl"))) == 20, "what could be seen is archived; never a silent success"


@BOTH
def test_a_turn_with_every_callback_kind_returns_its_own_final_reply_promptly(fresh_mix_server: Any) -> None:
    session_id = _session(fresh_mix_server, callbacks=CALLBACKS)
    started = time.monotonic()
    result = _turn(session_id, "go [[tool:bash:ls]]", timeout=60)
    elapsed = time.monotonic() - started
    assert elapsed < 20, f"the reply came after {elapsed:.1f} s: the wait did not recognise its run's end"
    assert result["finish_reason"] == "end_turn" and not result["overlapped"]
    if fresh_mix_server.generation == "current":
        assert result["reply"] == "You said: go\nYou said: Please summarize", "the answer that ends the run"
        rows = httpx.get(f"{fresh_mix_server.base_url}/api/sessions/{session_id}/messages").json()
        # found by its text, not position: one second's messages come in no defined order
        assert [r["id"] for r in rows if r.get("assistantResponse") == result["reply"]] == [result["message_id"]]
    else:
        assert result["reply"] == "You said: go"


@BOTH
def test_turn_tokens_are_never_negative_nor_a_last_call_count(fresh_mix_server: Any) -> None:
    session_id = _session(fresh_mix_server)
    first = _turn(session_id, "a long first question " * 20 + "[[tool]]")
    second = _turn(session_id, "short")
    for result in (first, second):
        assert result["cost"] is not None and result["cost"] > 0
        if fresh_mix_server.generation == "current":
            assert (result["prompt_tokens"], result["completion_tokens"]) == (None, None), "unknowable: None"
        else:
            assert result["prompt_tokens"] > 0 and result["completion_tokens"] > 0
    rows = httpx.get(f"{fresh_mix_server.base_url}/api/sessions/{session_id}/messages").json()
    if fresh_mix_server.generation == "legacy":
        last = next(row for row in rows if row["id"] == second["message_id"])  # not by position
        assert second["prompt_tokens"] == last["inputTokens"], "the turn's own messages' usage"


@BOTH
def test_max_tokens_without_per_message_usage_fails_at_the_start(fresh_mix_server: Any) -> None:
    session_id = _session(fresh_mix_server)
    _turn(session_id, "warm up")  # an answered message tells whether the server reports usage
    if fresh_mix_server.generation == "current":
        with pytest.raises(MixTokensUnmeasurableError, match="no per-message usage"):
            _turn(session_id, "budgeted", max_tokens=100_000)
        users = httpx.get(f"{fresh_mix_server.base_url}/api/sessions/{session_id}").json()["userMessageCount"]
        assert users == 1, "refused before sending"
    else:
        assert _turn(session_id, "budgeted", max_tokens=100_000)["prompt_tokens"] > 0


@BOTH
def test_a_step_limited_run_raises_the_step_limit_error(fresh_mix_server: Any) -> None:
    session_id = _session(fresh_mix_server)
    if fresh_mix_server.generation == "current":
        with pytest.raises(MixStepLimitError, match="max_steps=1"):
            _turn(session_id, "work [[tool]]", max_steps=1)
        partial = _turn(session_id, "again [[tool]]", max_steps=1, on_step_limit="accept")
        assert partial["step_limited"] and partial["finish_reason"] == "canceled"
    else:
        assert not _turn(session_id, "work [[tool]]", max_steps=1)["step_limited"]
