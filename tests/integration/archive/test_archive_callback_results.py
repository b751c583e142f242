"""MixArchiveSessionsOperator stores each session's CallbackResults beside its transcript.

The real export carries none (``http/rest_messages.go`` ``convertToExportSession``: ``ExportMessage``
has no field for them); ``GET /api/sessions/{id}/messages`` shows them (``convertMessagesToData``).
On the current generation callbacks run inside the run and store results; on the legacy one they
are stored and never run, so a session with callbacks has no results to archive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider.archive.parts import read_manifest
from mix_provider.operators.archive import MixArchiveSessionsOperator
from support.integration import MixAPI

BOTH = pytest.mark.parametrize("fresh_mix_server", ["current", "legacy"], indirect=True)
CALLBACKS = [
    {"type": "bash_script", "toolName": "bash", "name": "audit", "bashCommand": "echo audited"},
    {"type": "send_message", "toolName": "bash", "name": "nudge", "messageContent": "Please summarize"},
]


def _conversed(http: httpx.Client, text: str, **body: Any) -> str:
    """A session (created with ``body``) whose one run has finished."""
    session_id = str(http.post("/api/sessions", json={"title": "t", **body}).raise_for_status().json()["id"])
    http.post(f"/api/sessions/{session_id}/messages", json={"text": text}).raise_for_status()
    api = MixAPI(str(http.base_url))
    api.wait_finished(session_id, 1, timeout=20)
    api.close()
    return session_id


def _archive(tmp_path: Path) -> dict[str, Any]:
    op = MixArchiveSessionsOperator(task_id="archive", base_path=f"file://{tmp_path}", compression=None)
    return op.execute({})  # type: ignore[no-any-return]


@BOTH
def test_callback_results_are_archived_beside_the_transcript(fresh_mix_server: Any, tmp_path: Path) -> None:
    with httpx.Client(base_url=fresh_mix_server.base_url) as http:
        with_callbacks = _conversed(http, "go [[tool:bash:ls]]", callbacks=CALLBACKS)
        plain = _conversed(http, "go [[tool:bash:ls]]")
        fresh_mix_server.reset_request_counts()
        assert _archive(tmp_path)["archived"] == 2
        messages_reads = fresh_mix_server.request_count("GET", r"/api/sessions/[^/]+/messages")
        served = http.get(f"/api/sessions/{with_callbacks}/messages").json()
    entries = read_manifest(ObjectStoragePath(f"file://{tmp_path}")).entries
    assert entries[plain].callback_results is None and not (tmp_path / f"{plain}.callbacks.json").exists()
    assert messages_reads == 1, "only the session with callbacks is read for its results"
    expected = [result for row in served for result in row.get("callbackResults") or ()]
    stored = tmp_path / f"{with_callbacks}.callbacks.json"
    if fresh_mix_server.generation == "legacy":  # callbacks stored, never run: nothing to archive
        assert expected == [] and not stored.exists() and entries[with_callbacks].callback_results is None
        return
    assert [r["callback_name"] for r in expected] == ["audit", "nudge"]
    assert json.loads(stored.read_text()) == expected, "what the server holds, as it holds it"
    record = entries[with_callbacks].callback_results
    assert record is not None and record["path"] == stored.name and record["count"] == 2
    assert record["bytes"] == stored.stat().st_size
    assert not list(tmp_path.glob(".*partial*")), "written atomically: no temporary file left"


def test_a_failed_read_of_the_results_fails_the_session_and_records_nothing(
    fresh_mix_server: Any, tmp_path: Path
) -> None:
    with httpx.Client(base_url=fresh_mix_server.base_url) as http:
        session_id = _conversed(http, "go [[tool:bash:ls]]", callbacks=CALLBACKS)
    fresh_mix_server.add_fault("status", method="GET", path=f"/api/sessions/{session_id}/messages", status=400)
    op = MixArchiveSessionsOperator(task_id="archive", base_path=f"file://{tmp_path}", compression=None)
    with pytest.raises(Exception, match=r"1 session\(s\) failed to archive: .*MixBadRequestError"):
        op.execute({})
    assert session_id not in read_manifest(ObjectStoragePath(f"file://{tmp_path}")).entries
    assert not (tmp_path / f"{session_id}.callbacks.json").exists()


@BOTH
def test_a_single_export_stores_the_results_beside_its_file(fresh_mix_server: Any, tmp_path: Path) -> None:
    """``MixExportSessionOperator`` with ``output_path``: the results beside the file, named after it;
    a session without callbacks costs no ``/messages`` read."""
    from mix_provider.operators.export import MixExportSessionOperator

    with httpx.Client(base_url=fresh_mix_server.base_url) as http:
        with_callbacks = _conversed(http, "go [[tool:bash:ls]]", callbacks=CALLBACKS)
        plain = _conversed(http, "go [[tool:bash:ls]]")
        served = http.get(f"/api/sessions/{with_callbacks}/messages").json()
        fresh_mix_server.reset_request_counts()
        results = {
            sid: MixExportSessionOperator(
                task_id=f"export_{n}", session_id=sid, output_path=f"file://{tmp_path}/{sid}.json"
            ).execute({})
            for n, sid in enumerate((with_callbacks, plain))
        }
        messages_reads = fresh_mix_server.request_count("GET", r"/api/sessions/[^/]+/messages")
    assert results[plain]["callback_results"] is None and messages_reads == 1
    expected = [result for row in served for result in row.get("callbackResults") or ()]
    stored = tmp_path / f"{with_callbacks}.json.callbacks.json"
    record = results[with_callbacks]["callback_results"]
    if fresh_mix_server.generation == "legacy":  # callbacks stored, never run: nothing to store
        assert record is None and not stored.exists()
        return
    assert json.loads(stored.read_text()) == expected and len(expected) == 2
    assert record == {
        "uri": f"file://{stored}",
        "sha256": record["sha256"],
        "bytes": stored.stat().st_size,
        "count": 2,
    }
