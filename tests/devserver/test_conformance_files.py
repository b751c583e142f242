"""Conformance with the real Mix server: session files, over real sockets with plain httpx.

Each test names the Go handler it follows (paths from ``recreate-run/mix`` ``mix_agent/internal/``):
``http/rest_files.go`` (commit 10ad4ace: ``HandleUploadFile``, ``HandleListFiles``,
``HandleDeleteFile``), ``http/session_asset_server.go`` (commit 81605fda: ``HandleServeFile``,
``tryServeFromSessionStorage``, ``parseThumbnailSpec``), ``session/storage.go`` (commit 590b4030:
``DeleteSessionDirectory``) and ``session/media_cleanup.go`` (commit 303c452f:
``CleanupMediaByTimestamp``, called by ``http/rest_sessions.go`` ``HandleRewindSession``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest

from mix_provider.devserver.files import sanitize
from mix_provider.devserver.testing import MixDevServer

from .devserver_sse import create_session, send_and_wait


def _upload(http: httpx.Client, session_id: str, name: str, data: bytes) -> httpx.Response:
    return http.post(f"/api/sessions/{session_id}/files/upload", files={"file": (name, data, "application/pdf")})


def _make(mix_server: MixDevServer, session_id: str, text: str) -> None:
    asyncio.run(send_and_wait(mix_server.base_url, session_id, text))


@pytest.mark.parametrize(
    ("original", "stored"),
    [
        ("report.pdf", "report.pdf"),
        ("my  report.v1.final.pdf", "my_report_v1_final.pdf"),
        ("Screenshot\u202fat 10.pdf", "Screenshot_at_10.pdf"),
        (".hidden", ".hidden"),
    ],
)
def test_sanitize_filename(original: str, stored: str) -> None:
    """``rest_files.go::sanitizeFilename``: spaces and the base name's dots to ``_``, runs collapsed."""
    assert sanitize(original) == stored


def test_upload_into_the_shared_area(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``HandleUploadFile``: 201 FileInfo (``originalName`` when renamed, absolute ``url``, ``modified`` 0);
    ``HandleListFiles`` lists ``uploads/``, which every session sees (``rest_file_integration_test.go::
    TestRESTFileUploadAndList``, ``::TestRESTFileSharedStorage``)."""
    session_id, other = create_session(http, "upload"), create_session(http, "other")
    name = f"q {uuid.uuid4().hex[:6]}.pdf"
    response = _upload(http, session_id, name, b"%PDF-1.4 body")
    assert response.status_code == 201, response.text
    info = response.json()
    stored = name.replace(" ", "_")
    assert {k: info[k] for k in ("name", "size", "modified", "isDir", "originalName")} == {
        "name": stored,
        "size": 13,
        "modified": 0,
        "isDir": False,
        "originalName": name,
    }
    assert info["url"] == f"{mix_server.base_url}/api/sessions/{session_id}/files/{stored}"
    listed = {f["name"]: f for f in http.get(f"/api/sessions/{other}/files").json()}
    assert listed[stored]["size"] == 13 and listed[stored]["url"].endswith(f"/api/sessions/{other}/files/{stored}")
    served = http.get(f"/api/sessions/{other}/files/{stored}")
    assert served.content == b"%PDF-1.4 body" and served.headers["content-disposition"].startswith("inline")


def test_upload_and_list_errors(http: httpx.Client) -> None:
    """The handlers' checks in order: id format (400 ``id``), session (404), form (400 ``file``)."""
    session_id = create_session(http, "errors")
    bad_id = http.post("/api/sessions/not-a-uuid/files/upload", files={"file": ("a.pdf", b"x")})
    assert bad_id.status_code == 400 and "'id'" in bad_id.json()["error"]["message"]
    unknown = http.get(f"/api/sessions/{uuid.uuid4()}/files")
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found"
    no_file = http.post(f"/api/sessions/{session_id}/files/upload", data={"other": "1"})
    assert no_file.status_code == 400 and "'file'" in no_file.json()["error"]["message"]


def test_session_storage_is_served_first_and_never_listed_or_deleted(
    mix_server: MixDevServer, http: httpx.Client
) -> None:
    """``HandleServeFile`` tries ``tryServeFromSessionStorage`` first; ``HandleDeleteFile`` deletes from
    ``uploads/`` only, 404 for a missing name (``rest_file_integration_test.go::TestRESTFileDeletion``);
    ``HandleListFiles`` never lists the session's directory."""
    session_id = create_session(http, "order")
    name = f"same{uuid.uuid4().hex[:6]}.txt"
    assert _upload(http, session_id, name, b"uploaded").status_code == 201
    _make(mix_server, session_id, f"make [[file:{name}]]")
    served = http.get(f"/api/sessions/{session_id}/files/{name}")
    assert served.text.startswith("Made by the Mix devserver") and "content-disposition" not in served.headers
    assert http.delete(f"/api/sessions/{session_id}/files/{name}").status_code == 204  # the upload went
    assert http.get(f"/api/sessions/{session_id}/files/{name}").status_code == 200  # the session's stays
    assert http.delete(f"/api/sessions/{session_id}/files/{name}").status_code == 404
    assert name not in [f["name"] for f in http.get(f"/api/sessions/{session_id}/files").json()]


def test_thumbnails(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``parseThumbnailSpec``: ``100``/``w100``/``h100`` within 16..1024 give a JPEG; another spec is a
    500 and a file that is neither image nor video a 400 (plain text, ``http.Error``)."""
    session_id = create_session(http, "thumbs")
    _make(mix_server, session_id, "[[file:pic.png]] [[file:doc.pdf]]")
    for spec in ("100", "w64", "h1024"):
        thumb = http.get(f"/api/sessions/{session_id}/files/pic.png", params={"thumb": spec, "time": "2.5"})
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert thumb.content[:2] == b"\xff\xd8"
    too_small = http.get(f"/api/sessions/{session_id}/files/pic.png", params={"thumb": "8"})
    assert too_small.status_code == 500 and "between 16 and 1024" in too_small.text
    not_media = http.get(f"/api/sessions/{session_id}/files/doc.pdf", params={"thumb": "100"})
    assert not_media.status_code == 400 and "only supported for video and image" in not_media.text
    assert http.get(f"/api/sessions/{session_id}/files/doc.pdf").content.startswith(b"%PDF-1.4")


def test_rewind_cleanup_media_and_session_deletion(mix_server: MixDevServer, http: httpx.Client) -> None:
    """``CleanupMediaByTimestamp`` removes files modified after the kept message's second, only with
    ``cleanupMedia``; ``DeleteSessionDirectory`` removes the rest with the session."""
    session_id = create_session(http, "rewind")
    _make(mix_server, session_id, "first [[file:kept.png]]")
    kept_id = http.get(f"/api/sessions/{session_id}/messages").json()[-1]["id"]
    time.sleep(1.1)  # the server compares whole seconds
    _make(mix_server, session_id, "second [[file:late.png]]")
    path = f"/api/sessions/{session_id}"
    assert http.post(f"{path}/rewind", json={"messageId": kept_id}).status_code == 200
    assert http.get(f"{path}/files/late.png").status_code == 200  # no cleanupMedia: kept
    _make(mix_server, session_id, "third [[file:later.png]]")
    assert http.post(f"{path}/rewind", json={"messageId": kept_id, "cleanupMedia": True}).status_code == 200
    statuses: dict[str, Any] = {
        name: http.get(f"{path}/files/{name}").status_code for name in ("kept.png", "later.png")
    }
    assert statuses == {"kept.png": 200, "later.png": 404}
    assert http.delete(path).status_code == 204
    assert not (mix_server.data_dir / "storage" / session_id).exists()


def test_serving_round_trip_and_path_security(http: httpx.Client) -> None:
    """``rest_file_integration_test.go::TestRESTFileUploadAndServing`` (the bytes come back, an unknown
    name is 404) and ``::TestRESTFilePathSecurity`` (the multipart name ``../etc/passwd`` is stored as
    ``passwd``; ``..`` paths are refused with 400 or 404)."""
    session_id = create_session(http, "security")
    content = b"This is test content for file serving validation.\nIt has multiple lines.\n!@#$%^&*()"
    assert _upload(http, session_id, "test-serve.txt", content).status_code == 201
    served = http.get(f"/api/sessions/{session_id}/files/test-serve.txt")
    assert served.content == content and served.headers["content-type"]
    assert http.get(f"/api/sessions/{session_id}/files/non-existent.txt").status_code == 404
    traversal = _upload(http, session_id, "../etc/passwd", b"not outside")
    assert traversal.status_code == 201 and traversal.json()["name"] == "passwd"
    for dangerous in ("../other-session-file.txt", "../../config.json", "./../sensitive.txt"):
        assert http.get(f"/api/sessions/{session_id}/files/{dangerous}").status_code in (400, 404)
    assert http.get("/api/sessions/wrong-session-id/files/passwd").status_code == 400
