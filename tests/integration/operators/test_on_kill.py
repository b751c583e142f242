"""Killing a blocking MixSendMessageOperator cancels the run on the server."""

from __future__ import annotations

import threading
import time
from typing import Any

from mix_provider.errors import MixReplyCanceledError
from mix_provider.operators.message import MixSendMessageOperator
from support.integration import MixAPI, final_reply


def test_on_kill_cancels_the_run(mix_server: Any, api: MixAPI) -> None:
    session_id = api.create_session("killed while waiting")["id"]
    op = MixSendMessageOperator(task_id="long", session_id=session_id, text="slow [[delay:10000]]", timeout=60)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = op.execute({})
        except Exception as exc:  # the outcome is checked below
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    started = time.monotonic()
    worker.start()
    api.wait_running(session_id)
    op.on_kill()
    worker.join(timeout=8)

    assert not worker.is_alive(), "execute kept waiting after on_kill"
    assert time.monotonic() - started < 8, "the 10 s reply was cut short"
    assert final_reply(api.export(session_id))["finishReason"] == "canceled"
    assert isinstance(outcome.get("error"), MixReplyCanceledError)
    assert "finish reason 'canceled'" in str(outcome["error"])


def test_on_kill_before_waiting_sends_nothing(mix_server: Any, api: MixAPI) -> None:
    session_id = api.create_session("killed before sending")["id"]
    op = MixSendMessageOperator(task_id="idle", session_id=session_id, text="never sent")
    op.on_kill()
    assert mix_server.request_count("POST", f"/api/sessions/{session_id}/cancel") == 0
