"""Transient failures injected into the local Mix server: retried, reconciled, or reported."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from mix_provider.client import TurnKey
from mix_provider.errors import (
    MixOutcomeUnknownError,
    MixRateLimitedError,
    MixServerError,
    MixUnauthorizedError,
)
from mix_provider.hooks.mix import MixHook

pytestmark = pytest.mark.integration


@pytest.fixture
def hook(faults_conn: str) -> Iterator[MixHook]:
    """A hook on the fault server (3 retries, waits of at most 0.2 s)."""
    with MixHook(faults_conn) as mix_hook:
        yield mix_hook


@pytest.fixture
def session_id(hook: MixHook, fault_server: Any) -> str:
    """A fresh session; request counts start after it."""
    session_id = hook.create_session(f"faults {uuid.uuid4()}").id
    fault_server.reset_request_counts()
    return session_id


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_transient_status_is_retried(hook: MixHook, fault_server: Any, session_id: str, status: int) -> None:
    path = f"/api/sessions/{session_id}"
    fault_server.add_fault("status", method="GET", path=path, status=status, count=2, retry_after=0)
    assert hook.get_session(session_id).id == session_id
    assert fault_server.request_count("GET", path) == 3


def test_retry_after_is_honoured_and_capped(hook: MixHook, fault_server: Any) -> None:
    fault_server.add_fault("status", method="GET", path="/health", status=429, retry_after=30)
    started = time.monotonic()
    assert hook.health().status == "ok"
    assert 0.2 <= time.monotonic() - started < 3  # 30 s asked, capped to retry_max_wait=0.2
    assert fault_server.request_count("GET", "/health") == 2


def test_persistent_failure_raises_after_all_attempts(hook: MixHook, fault_server: Any, session_id: str) -> None:
    fault_server.add_fault("status", method="GET", path="/api/sessions", status=429, retry_after=0, count=10)
    with pytest.raises(MixRateLimitedError) as info:
        hook.list_sessions()
    assert info.value.status == 429 and info.value.retry_after == 0
    fault_server.clear_faults()
    fault_server.add_fault("status", method="GET", path=f"/api/sessions/{session_id}", status=500, count=10)
    with pytest.raises(MixServerError) as server_error:
        hook.get_session(session_id)
    assert (server_error.value.status, server_error.value.error_type) == (500, "internal_error")
    assert fault_server.request_count("GET", "/api/sessions") == 4
    assert fault_server.request_count("GET", f"/api/sessions/{session_id}") == 4


@pytest.mark.parametrize("kind", ["reset_before", "truncate", "malformed"])
def test_broken_reads_are_retried(hook: MixHook, fault_server: Any, session_id: str, kind: str) -> None:
    path = f"/api/sessions/{session_id}/export"
    fault_server.add_fault(kind, method="GET", path=path)
    assert hook.export_session(session_id).id == session_id
    assert fault_server.request_count("GET", path) == 2


def test_hanging_server_hits_the_timeout_then_retries(fault_server: Any, faults_conn: str) -> None:
    fault_server.add_fault("hang", method="GET", path="/health", delay_ms=6000)
    started = time.monotonic()
    with MixHook(faults_conn, timeout=0.5) as hook:
        assert hook.health().status == "ok"
    assert time.monotonic() - started < 4  # far below the 6 s hang
    assert fault_server.request_count("GET", "/health") == 2


def test_lost_create_answer_is_reconciled_not_duplicated(hook: MixHook, fault_server: Any) -> None:
    title = f"lost answer {uuid.uuid4()}"
    fault_server.add_fault("reset_after", method="POST", path="/api/sessions")
    session = hook.create_session(title)
    assert [s.id for s in hook.list_sessions() if s.title == title] == [session.id]
    assert fault_server.request_count("POST", "/api/sessions") == 1


def test_create_refused_before_handling_is_sent_again(hook: MixHook, fault_server: Any) -> None:
    title = f"reset before {uuid.uuid4()}"
    fault_server.add_fault("reset_before", method="POST", path="/api/sessions")
    session = hook.create_session(title)
    assert [s.id for s in hook.list_sessions() if s.title == title] == [session.id]
    assert fault_server.request_count("POST", "/api/sessions") == 2


def test_lost_send_answer_is_reconciled_with_baseline(hook: MixHook, fault_server: Any, session_id: str) -> None:
    path = f"/api/sessions/{session_id}/messages"
    fault_server.add_fault("reset_after", method="POST", path=path)
    reply = hook.send_and_wait(session_id, "once", turn=TurnKey.of(0, "once"), timeout=30)
    assert reply.text == "You said: once"
    assert hook.get_session(session_id).user_message_count == 1
    assert fault_server.request_count("POST", path) == 1


def test_lost_send_answer_without_baseline_is_reported(hook: MixHook, fault_server: Any, session_id: str) -> None:
    path = f"/api/sessions/{session_id}/messages"
    fault_server.add_fault("reset_after", method="POST", path=path)
    with pytest.raises(MixOutcomeUnknownError, match="without a baseline"):
        hook.send_message(session_id, "maybe")
    assert fault_server.request_count("POST", path) == 1


def test_unauthorized_server_fails_fast(no_llm_server: Any, no_llm_conn: str) -> None:
    with MixHook(no_llm_conn) as hook:
        session = hook.create_session(f"no llm {uuid.uuid4()}")
        no_llm_server.reset_request_counts()
        with pytest.raises(MixUnauthorizedError) as info:
            hook.send_message(session.id, "hello")
    assert (info.value.status, info.value.error_type) == (401, "unauthorized")
    assert no_llm_server.request_count("POST", f"/api/sessions/{session.id}/messages") == 1


def test_test_connection_fails_on_a_server_without_llm_credentials(no_llm_server: Any, no_llm_conn: str) -> None:
    """Its ``/health`` answers 200, but every message would be refused: "Test" says so."""
    ok, message = MixHook(no_llm_conn).test_connection()
    assert ok is False
    assert f"{no_llm_server.base_url} is ok" in message and "no LLM provider is configured" in message
    assert no_llm_server.request_count("GET", "/api/auth/status") == 1


def test_test_connection_against_a_closed_port(closed_port_conn: str) -> None:
    started = time.monotonic()
    ok, message = MixHook(closed_port_conn).test_connection()
    assert ok is False
    assert message.startswith("Mix server unreachable") and "ConnectError" in message
    assert time.monotonic() - started < 2


def test_test_connection_is_bounded_by_the_timeout(fault_server: Any, faults_conn: str) -> None:
    fault_server.add_fault("hang", method="GET", path="/health", delay_ms=6000)
    started = time.monotonic()
    ok, message = MixHook(faults_conn, timeout=0.5).test_connection()
    assert ok is False and "ReadTimeout" in message
    assert time.monotonic() - started < 4  # far below the 6 s hang
    assert fault_server.request_count("GET", "/health") == 1
