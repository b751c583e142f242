"""Exports: a seeded large session streamed (valid JSON, bounded server memory), a small one in one piece."""

from __future__ import annotations

import json
import threading
import time

import httpx
import psutil

from mix_provider.devserver.testing import MixDevServer

MESSAGES = 64
MESSAGE_BYTES = 1024 * 1024


def test_large_export_is_streamed(mix_server: MixDevServer) -> None:
    started = time.monotonic()
    session = mix_server.seed_large_session(title="big", messages=MESSAGES, message_bytes=MESSAGE_BYTES)
    assert time.monotonic() - started < 20
    assert session["userMessageCount"] == MESSAGES // 2
    assert mix_server.pid is not None
    process = psutil.Process(mix_server.pid)
    baseline = process.memory_info().rss
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, process.memory_info().rss)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    url = f"{mix_server.base_url}/api/sessions/{session['id']}/export"
    received = bytearray()
    try:
        with httpx.stream("GET", url, timeout=120, verify=False) as response:
            assert response.headers["content-disposition"] == (
                f"attachment; filename=session_{session['id']}_transcript.json"
            )
            assert "content-length" not in response.headers
            for chunk in response.iter_bytes():
                received += chunk
    finally:
        done.set()
        sampler.join()
    assert len(received) > MESSAGES * MESSAGE_BYTES
    assert peak - baseline < 48 * 1024 * 1024, f"server RSS grew by {(peak - baseline) >> 20} MiB"
    document = json.loads(received)
    assert document["id"] == session["id"] and len(document["messages"]) == MESSAGES
    assert document["messages"][1]["role"] == "assistant" and document["assistantMessageCount"] == MESSAGES // 2


def test_a_transcript_that_fits_one_batch_is_sent_in_one_piece(mix_server: MixDevServer) -> None:
    """Read in one trip to a worker thread and sent with its length, as the real handler answers
    (``sendJSONResponse``); a transcript of more than one batch is streamed (above)."""
    session = mix_server.seed_large_session(title="small", messages=6, message_bytes=512)
    response = httpx.get(f"{mix_server.base_url}/api/sessions/{session['id']}/export", timeout=30)
    assert response.headers["content-length"] == str(len(response.content))
    assert "chunked" not in response.headers.get("transfer-encoding", "")
    document = response.json()
    assert document["id"] == session["id"] and len(document["messages"]) == 6
    assert [m["role"] for m in document["messages"]] == ["user", "assistant"] * 3
