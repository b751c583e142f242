"""MixHook's session files, model per session and escape hatch against the local Mix server over real sockets."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from mix_provider.client import SessionSpec, TurnKey
from mix_provider.errors import (
    MixConfigError,
    MixFileTooLargeError,
    MixNotFoundError,
    MixOutcomeUnknownError,
    MixUnsupportedFieldError,
)
from mix_provider.hooks.mix import MixHook

pytestmark = pytest.mark.integration


@pytest.fixture
def hook(mix_server: Any) -> Iterator[MixHook]:
    """A hook on ``mix_default``."""
    with MixHook() as mix_hook:
        yield mix_hook


@pytest.fixture
def session_id(hook: MixHook) -> str:
    """A new session."""
    return hook.create_session(f"files {uuid.uuid4()}").id


def _digest(chunks: Iterator[bytes]) -> tuple[int, str]:
    sha = hashlib.sha256()
    size = 0
    for chunk in chunks:
        sha.update(chunk)
        size += len(chunk)
    return size, sha.hexdigest()


def test_upload_list_download_delete(hook: MixHook, session_id: str, tmp_path: Path) -> None:
    source = tmp_path / "quarterly report.v2.pdf"
    source.write_bytes(b"%PDF-1.4\n" + bytes(range(256)) * 400)
    info = hook.upload_file(session_id, f"file://{source}")
    assert (info.name, info.size, info.original_name) == ("quarterly_report_v2.pdf", source.stat().st_size, source.name)
    assert info.url and info.url.endswith(f"/api/sessions/{session_id}/files/quarterly_report_v2.pdf")
    other = hook.create_session(f"other {uuid.uuid4()}").id
    assert "quarterly_report_v2.pdf" in [f.name for f in hook.list_files(other)]  # a shared area
    size, sha = hook.consume_file(session_id, "quarterly_report_v2.pdf", _digest)
    assert (size, sha) == (source.stat().st_size, hashlib.sha256(source.read_bytes()).hexdigest())
    hook.delete_file(session_id, "quarterly_report_v2.pdf")
    assert "quarterly_report_v2.pdf" not in [f.name for f in hook.list_files(session_id)]
    with pytest.raises(MixNotFoundError):
        hook.consume_file(session_id, "quarterly_report_v2.pdf", _digest)


def test_agent_file_is_referenced_served_and_removed_with_the_session(hook: MixHook, session_id: str) -> None:
    text = "draw it [[file:chart.png]] and [[file:notes.txt]]"
    reply = hook.send_and_wait(session_id, text, turn=TurnKey.of(0, text), timeout=30)
    assert f"/api/sessions/{session_id}/files/chart.png" in reply.text
    assert hook.referenced_files(session_id) == ["chart.png", "notes.txt"]
    assert "chart.png" not in [f.name for f in hook.list_files(session_id)]  # nothing lists agent files
    size, _ = hook.consume_file(session_id, "chart.png", _digest)
    assert size > 50
    thumb = hook.consume_file(session_id, "chart.png", b"".join, thumb="w64")
    assert thumb[:2] == b"\xff\xd8"  # a JPEG
    hook.delete_session(session_id)
    with pytest.raises(MixNotFoundError):
        hook.consume_file(session_id, "chart.png", _digest)


def test_bad_uploads_fail_before_the_request(hook: MixHook, session_id: str, tmp_path: Path, mix_server: Any) -> None:
    mix_server.reset_request_counts()
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 2048)
    with pytest.raises(MixFileTooLargeError) as too_large:
        hook.upload_file(session_id, str(big), limit=1024)
    assert (too_large.value.field, too_large.value.size, too_large.value.limit) == ("source", 2048, 1024)
    with pytest.raises(MixConfigError, match="does not exist"):
        hook.upload_file(session_id, str(tmp_path / "missing.pdf"))
    with pytest.raises(MixConfigError, match="nosuchscheme"):
        hook.upload_file(session_id, "nosuchscheme://bucket/a.pdf")
    with pytest.raises(MixConfigError, match="directory"):
        hook.upload_file(session_id, str(tmp_path))
    assert mix_server.request_count("POST", f"/api/sessions/{session_id}/files/upload") == 0


def test_model_id_reaches_the_server_and_back(hook: MixHook) -> None:
    spec = SessionSpec.checked("model", model_id="gemini-3-flash-preview", provider="gemini")
    created = hook.create_session(spec)
    assert (created.model_id, created.provider) == ("gemini-3-flash-preview", "gemini")
    again = hook.get_session(created.id)
    assert (again.model_id, again.provider) == ("gemini-3-flash-preview", "gemini")
    assert hook.create_session("no model").model_id is None


def test_request_escape_hatch(hook: MixHook, session_id: str) -> None:
    assert hook.request("GET", f"/api/sessions/{session_id}")["id"] == session_id
    assert hook.request("get", "/api/auth/status")["providers"]
    assert hook.request("DELETE", f"/api/sessions/{session_id}") is None
    with pytest.raises(MixNotFoundError):
        hook.request("GET", f"/api/sessions/{session_id}")
    for bad in ("http://elsewhere/api", "//elsewhere/api", "api/sessions"):
        with pytest.raises(MixConfigError, match="path"):
            hook.request("GET", bad)
    with pytest.raises(MixConfigError, match="method"):
        hook.request("TRACE", "/health")


def test_async_twins(hook: MixHook, session_id: str, tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text("a,b\n1,2\n")

    async def collect(chunks: AsyncIterator[bytes]) -> bytes:
        return b"".join([chunk async for chunk in chunks])

    async def scenario() -> tuple[Any, ...]:
        try:
            uploaded = await hook.aupload_file(session_id, str(source))
            listed = [f.name for f in await hook.alist_files(session_id)]
            body = await hook.aconsume_file(session_id, uploaded.name, collect)
            session = await hook.arequest("GET", f"/api/sessions/{session_id}")
            await hook.adelete_file(session_id, uploaded.name)
            return uploaded.name, "a.csv" in listed, body, session["id"], await hook.areferenced_files(session_id)
        finally:
            await hook.aclose()

    assert asyncio.run(scenario()) == ("a.csv", True, b"a,b\n1,2\n", session_id, [])


def test_lost_upload_answer_is_reconciled_not_resent(fault_server: Any, faults_conn: str, tmp_path: Path) -> None:
    source = tmp_path / "once.pdf"
    source.write_bytes(b"%PDF-1.4 once")
    with MixHook(faults_conn) as hook:
        sid = hook.create_session("reconcile upload").id
        path = f"/api/sessions/{sid}/files/upload"
        fault_server.add_fault("reset_after", method="POST", path=path)
        info = hook.upload_file(sid, str(source))
        assert (info.name, info.size) == ("once.pdf", source.stat().st_size)
        assert fault_server.request_count("POST", path) == 1  # applied, found by listing, not sent again
        fault_server.add_fault("hang", method="POST", path=path, delay_ms=3000)
        with MixHook(faults_conn, timeout=0.5) as impatient, pytest.raises(MixOutcomeUnknownError):
            impatient.upload_file(sid, str(tmp_path / "once.pdf"), filename="late.pdf")


@pytest.mark.parametrize("fresh_mix_server", ["legacy"], indirect=True)
def test_an_older_server_refusing_the_model_fields_is_named(fresh_mix_server: Any) -> None:
    with MixHook() as hook:
        with pytest.raises(MixUnsupportedFieldError) as refused:
            hook.create_session(SessionSpec.checked("model", model_id="gemini-3-flash-preview", provider="gemini"))
        assert refused.value.fields == ("modelId", "provider") and refused.value.status == 400
        assert "modelId" in str(refused.value) and "leave them unset or upgrade" in str(refused.value)
        assert hook.create_session("no model").model_id is None  # without them the same server creates it
