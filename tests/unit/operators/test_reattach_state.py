"""What a retried try does with the task state an earlier try left (``task_state_store``, Airflow >= 3.3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mix_provider.operators.message import MixSendMessageOperator
from mix_provider.operators.session import MixCreateSessionOperator
from support.fakes import FakeTI

Attach = Callable[[Any], Any]
SID = "22222222-2222-4222-8222-222222222222"
EXISTING = {"id": SID, "title": "nightly", "createdAt": "2026-01-01T00:00:00Z", "userMessageCount": 1}
TRANSCRIPT = {
    "id": SID,
    "messages": [
        {"id": "u1", "role": "user", "content": "hi"},
        {"id": "a1", "role": "assistant", "content": "You said: hi", "finishReason": "end_turn"},
    ],
}


class FakeStore(dict[str, Any]):
    """The ``task_state_store`` accessor: get / set / delete."""

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self[key] = value

    def delete(self, key: str) -> None:
        self.pop(key, None)


def _context(**state: Any) -> dict[str, Any]:
    return {"ti": FakeTI(), "task_state_store": FakeStore(state)}


def _server(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path == "/stream":
        raise httpx.ConnectError("no stream", request=request)
    if path == "/api/sessions":
        return httpx.Response(200, json=[EXISTING]) if request.method == "GET" else httpx.Response(201, json=EXISTING)
    if path.endswith("/export"):
        return httpx.Response(200, json=TRANSCRIPT)
    return httpx.Response(202 if request.method == "POST" else 200, json=EXISTING)


def _calls(recorder: Any) -> list[tuple[str, str]]:
    return [(r.method, r.url.path) for r in recorder.requests]


@pytest.mark.parametrize("since", ["2026-01-01T00:00:00.000001+00:00", "2026-01-01T00:00:00.999999+00:00"])
def test_create_that_died_before_recording_the_id_is_found_again(attach: Attach, recorder: Any, since: str) -> None:
    """The server's ``createdAt`` has second precision: a session created in the same second is the one."""
    recorder.handler = _server
    context = _context(mix_created_session={"title": "nightly", "since": since})
    assert attach(MixCreateSessionOperator(task_id="c", title="nightly")).execute(context) == SID
    assert _calls(recorder) == [("GET", "/api/sessions")]


def test_create_with_a_recorded_id_reattaches(attach: Attach, recorder: Any) -> None:
    recorder.handler = _server
    context = _context(mix_created_session={"session_id": SID})
    assert attach(MixCreateSessionOperator(task_id="c", title="nightly")).execute(context) == SID
    assert _calls(recorder) == [("GET", f"/api/sessions/{SID}")]
    assert context["ti"].last[1]["id"] == SID


def test_create_whose_session_is_gone_creates_again(attach: Attach, recorder: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(404, json={"error": {"code": 404, "message": "gone", "type": "not_found"}})
        return _server(request)

    recorder.handler = handler
    context = _context(mix_created_session={"session_id": "old"})
    assert attach(MixCreateSessionOperator(task_id="c", title="nightly")).execute(context) == SID
    assert _calls(recorder) == [("GET", "/api/sessions/old"), ("POST", "/api/sessions")]
    assert context["task_state_store"] == {}, "the state is cleared once done: a manual re-run starts afresh"


@pytest.mark.parametrize(("baseline", "sends"), [(0, 0), (1, 1)], ids=["sent-before", "not-sent-yet"])
def test_send_sends_only_if_no_earlier_try_did(attach: Attach, recorder: Any, baseline: int, sends: int) -> None:
    recorder.handler = _server
    saved = {"user_messages": baseline, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0}
    context = _context(mix_sent_message={"session_id": SID, "baseline": saved})
    operator = MixSendMessageOperator(task_id="s", session_id=SID, text="hi", poll_interval=0.01, timeout=0.05)
    try:
        result = attach(operator).execute(context)
    except Exception as exc:  # not sent before: the mock transcript never shows the reply, so it times out
        assert sends == 1, exc
    else:
        assert sends == 0 and result["message_id"] == "a1"
        assert "mix_sent_message" not in context["task_state_store"], "the state is cleared once done"
    assert _calls(recorder).count(("POST", f"/api/sessions/{SID}/messages")) == sends
