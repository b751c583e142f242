"""Complete archives: ``include_files`` stores the referenced files beside each transcript, incrementally."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath

from mix_provider.archive import read_manifest
from mix_provider.operators.archive import MixArchiveSessionsOperator
from support.integration import MixAPI

pytestmark = pytest.mark.integration
FILE_GETS = r"/api/sessions/[^/]+/files/[^/]+"
SESSIONS = 100


def _archive(archive_dir: Path, ids: list[str]) -> dict[str, Any]:
    operator = MixArchiveSessionsOperator(
        task_id="archive", base_path=f"file://{archive_dir}", session_ids=ids, include_files=True
    )
    result: dict[str, Any] = operator.execute({})
    return result


# legacy: the rerun tells unchanged sessions by the full list (the current one shows 20; issue 24)
@pytest.mark.parametrize("fresh_mix_server", ["legacy"], indirect=True)
def test_a_hundred_sessions_with_files_rerun_without_downloading_unchanged_files(
    fresh_mix_server: Any, archive_dir: Path, uid: str
) -> None:
    api, mix_server = MixAPI(fresh_mix_server.base_url), fresh_mix_server

    def make(i: int) -> str:
        session_id = api.create_session(f"files {uid} #{i}")["id"]
        api.converse(session_id, f"chart {i} [[file:chart.png]]")
        return session_id

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(make, range(SESSIONS)))
    first = ids[0]
    api.converse(first, f"see /api/sessions/{first}/files/gone.pdf")

    mix_server.reset_request_counts()
    result = _archive(archive_dir, ids)
    assert (result["archived"], result["failed"]) == (SESSIONS, 0)
    assert {k: result["files"][k] for k in ("downloaded", "kept", "missing")} == {
        "downloaded": SESSIONS,
        "kept": 0,
        "missing": 1,
    }
    assert mix_server.request_count("GET", FILE_GETS) == SESSIONS
    entry = read_manifest(ObjectStoragePath(f"file://{archive_dir}")).entries[first]
    assert entry.files is not None and entry.files["gone.pdf"] == {"missing": True}
    chart = entry.files["chart.png"]
    stored = archive_dir / chart["path"]
    assert chart["path"] == f"{first}.files/chart.png" and chart["content_type"] == "image/png"
    assert (chart["size"], chart["sha256"]) == (stored.stat().st_size, hashlib.sha256(stored.read_bytes()).hexdigest())
    assert stored.read_bytes() == api.http.get(f"/api/sessions/{first}/files/chart.png").content

    mix_server.reset_request_counts()
    again = _archive(archive_dir, ids)
    assert (again["archived"], again["skipped"], again["files"]["downloaded"]) == (0, SESSIONS, 0)
    assert mix_server.request_count("GET", FILE_GETS) == mix_server.request_count("HEAD", FILE_GETS) == 0

    api.converse(ids[1], "one more [[file:second.png]]")
    mix_server.reset_request_counts()
    changed = _archive(archive_dir, ids)
    assert (changed["archived"], changed["skipped"]) == (1, SESSIONS - 1)
    assert {k: changed["files"][k] for k in ("downloaded", "kept")} == {"downloaded": 1, "kept": 1}
    assert mix_server.request_count("GET", FILE_GETS) == 1  # only second.png: chart.png was checked by HEAD
    files = read_manifest(ObjectStoragePath(f"file://{archive_dir}")).entries[ids[1]].files
    assert files is not None and sorted(files) == ["chart.png", "second.png"]


def test_an_archive_made_without_files_gets_them_when_asked(
    api: MixAPI, mix_server: Any, archive_dir: Path, uid: str
) -> None:
    session_id = api.create_session(f"later {uid}")["id"]
    api.converse(session_id, "[[file:late.png]]")
    plain = MixArchiveSessionsOperator(task_id="plain", base_path=f"file://{archive_dir}", session_ids=[session_id])
    assert "files" not in plain.execute({})
    assert "files" not in plain._mix_stored  # the asset event's extra
    operator = MixArchiveSessionsOperator(
        task_id="archive", base_path=f"file://{archive_dir}", session_ids=[session_id], include_files=True
    )
    result = operator.execute({})
    assert result["files"]["downloaded"] == 1 and (archive_dir / f"{session_id}.files" / "late.png").is_file()
    assert operator._mix_stored["files"] == result["files"]
    # Whether the (current, capped) list shows it or not, a rerun downloads nothing: the session is
    # skipped by its list entry, or re-exported, found identical by hash, and its file checked by HEAD.
    mix_server.reset_request_counts()
    assert _archive(archive_dir, [session_id])["files"]["downloaded"] == 0
    assert mix_server.request_count("GET", FILE_GETS) == 0
