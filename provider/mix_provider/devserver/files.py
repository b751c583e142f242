"""Session files as the real server keeps them: a shared uploads area and one directory per session.

Read in ``recreate-run/mix`` ``mix_agent/internal/``:

* ``http/rest_files.go`` (commit 10ad4ace) ``HandleUploadFile``: multipart field ``file`` parsed with
  ``ParseMultipartForm(32 << 20)`` (32 MiB held in memory, the rest spooled to disk: no size
  refusal), the name cleaned by ``sanitizeFilename``, stored as ``uploads/<name>`` (shared by every
  session, never removed with one), answered 201 ``FileInfo`` with ``modified: 0`` and an absolute
  ``url``; ``HandleListFiles`` lists ``uploads/`` only; ``HandleDeleteFile`` deletes from ``uploads/``
  only (commit 0374a6de answers 404 for a missing file, which this server keeps).
* ``http/session_asset_server.go`` (commit 81605fda) ``HandleServeFile``: the session's own directory
  first (``tryServeFromSessionStorage``, ``http.ServeContent``), then ``uploads/`` (``io.Copy`` with
  ``Content-Disposition: inline``); ``?thumb=100|w100|h100`` (16..1024) answers a JPEG for images and
  videos, 400 for other files, 500 for a bad spec; ``?time=`` picks a video frame (0..86400 s).
* ``session/storage.go`` (commit 590b4030): ``<base>/<session id>`` and ``<base>/uploads``;
  ``DeleteSessionDirectory`` removes the session's directory with the session.
* ``session/media_cleanup.go`` (commit 303c452f) ``CleanupMediaByTimestamp``: a rewind with
  ``cleanupMedia`` deletes the top-level files modified after the kept message's second.

Thumbnails are not scaled here: every thumbnail is the same small JPEG (nothing decodes images).
"""

from __future__ import annotations

import mimetypes
import os
import re
import shutil
import unicodedata
import uuid
import zlib
from pathlib import Path
from typing import IO

from mix_provider.devserver.errors import field_error

UPLOADS = "uploads"
_THUMB = re.compile(r"^(w|h)?(\d+)$")
THUMB_MIN, THUMB_MAX = 16, 1024
_IMAGES = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tiff"}
_VIDEOS = {".mp4", ".webm", ".mov", ".avi", ".mkv", ".wmv", ".flv", ".m4v"}
_COPY_CHUNK = 1 << 20
#: A 1x1 grey baseline JPEG: what every thumbnail request gets.
THUMBNAIL_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b0b0c1912130f"
    "141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e333432ffc0000b080001000101"
    "011100ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303020403"
    "050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a1617"
    "18191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a83"
    "8485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7"
    "d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"
)


def sanitize(filename: str) -> str:
    """The stored name of an upload (``sanitizeFilename``): every Unicode space becomes ``_``, every dot
    of the base name but a leading one becomes ``_``, and runs of ``_`` collapse to one."""
    spaced = "".join("_" if ch.isspace() or unicodedata.category(ch) == "Zs" else ch for ch in filename)
    dot = spaced.rfind(".")
    if dot > 0:
        spaced = spaced[:dot].replace(".", "_") + spaced[dot:]
    return re.sub("_+", "_", spaced)


class FileStorage:
    """The storage tree: ``<root>/uploads`` and ``<root>/<session id>``.

    :param root: the storage base directory (created on first write).
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def session_dir(self, session_id: str) -> Path:
        """The session's own directory (``GetSessionStoragePath``)."""
        return self.root / session_id

    def _inside(self, directory: Path, name: str) -> Path:
        """``directory/name`` for a one-segment name (``os.Root`` refuses anything that escapes)."""
        if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
            raise field_error("filename", f"invalid filename or path traversal attempt: {name}")
        return directory / name

    def save_upload(self, source: IO[bytes], filename: str) -> tuple[str, int]:
        """Copy an uploaded part into ``uploads/`` under its sanitized name; return ``(name, size)``."""
        name = sanitize(os.path.basename(filename))
        target = self._inside(self.root / UPLOADS, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{name}.{uuid.uuid4().hex}.upload")
        with open(temp, "wb") as out:
            shutil.copyfileobj(source, out, _COPY_CHUNK)
        os.replace(temp, target)
        return name, target.stat().st_size

    def list_uploads(self) -> list[tuple[str, int]]:
        """``(name, size)`` of every file of ``uploads/`` (the storage provider's ``List``)."""
        directory = self.root / UPLOADS
        if not directory.is_dir():
            return []
        entries = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.endswith(".upload"))
        return [(p.name, p.stat().st_size) for p in entries]

    def find(self, session_id: str, name: str) -> tuple[Path, bool] | None:
        """Where ``name`` is served from: ``(path, in the session's directory)``, or None."""
        own = self._inside(self.session_dir(session_id), name)
        if own.exists():
            return own, True
        shared = self._inside(self.root / UPLOADS, name)
        return (shared, False) if shared.is_file() else None

    def delete_upload(self, name: str) -> bool:
        """Delete ``uploads/<name>``; False when there is none."""
        target = self._inside(self.root / UPLOADS, name)
        if not target.is_file():
            return False
        target.unlink()
        return True

    def delete_session(self, session_id: str) -> None:
        """Remove the session's directory (``DeleteSessionDirectory``)."""
        shutil.rmtree(self.session_dir(session_id), ignore_errors=True)

    def cleanup_after(self, session_id: str, timestamp: int) -> None:
        """Delete the session's top-level files modified after ``timestamp`` (whole seconds)."""
        directory = self.session_dir(session_id)
        if not directory.is_dir():
            return
        for entry in directory.iterdir():
            if entry.is_file() and int(entry.stat().st_mtime) > timestamp:
                entry.unlink(missing_ok=True)


def content_type(name: str) -> str:
    """The ``Content-Type`` served for ``name`` (by extension, as ``http.ServeContent`` first tries)."""
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def thumbnail_error(name: str, thumb: str) -> tuple[int, str] | None:
    """Why ``?thumb=`` cannot be answered for ``name``: ``(status, plain-text message)``, else None."""
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in _IMAGES | _VIDEOS:
        return 400, "Thumbnails only supported for video and image files"
    match = _THUMB.match(thumb)
    if match is None:
        return (
            500,
            "Thumbnail generation failed: invalid thumbnail format, use: 100 (box), w100 (width), or h100 (height)",
        )
    kind = {"w": "width", "h": "height"}.get(match.group(1) or "", "size")
    if not THUMB_MIN <= int(match.group(2)) <= THUMB_MAX:
        return 500, f"Thumbnail generation failed: {kind} must be between {THUMB_MIN} and {THUMB_MAX}"
    return None


# -- what the scripted agent makes ------------------------------------------------------------------


def _png(seed: int, side: int = 32) -> bytes:
    """A ``side`` x ``side`` RGB PNG of one colour picked by ``seed``."""
    colour = bytes(((seed >> shift) & 0xFF) for shift in (0, 8, 16))
    raw = b"".join(b"\x00" + colour * side for _ in range(side))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + b"\x08\x02\x00\x00\x00"
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _pdf(title: str) -> bytes:
    """A one-page PDF saying ``title`` (no cross-reference table: readers rebuild it)."""
    text = title.replace("\\", "").replace("(", "").replace(")", "")
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    body = b"".join(b"%d 0 obj\n%s\nendobj\n" % (i, obj) for i, obj in enumerate(objects, 1))
    return b"%PDF-1.4\n" + body + b"trailer\n<< /Root 1 0 R >>\n%%EOF\n"


def made_content(name: str) -> bytes:
    """What the scripted agent writes for ``name``: a PNG, a JPEG, a PDF, else a line of text."""
    suffix = os.path.splitext(name)[1].lower()
    if suffix == ".png":
        return _png(zlib.crc32(name.encode()))
    if suffix in (".jpg", ".jpeg"):
        return THUMBNAIL_JPEG
    if suffix == ".pdf":
        return _pdf(f"Made by the Mix devserver: {name}")
    return f"Made by the Mix devserver: {name}\n".encode()


def make_file(directory: str, name: str, size: int | None) -> None:
    """Write ``name`` into the session's ``directory``: :func:`made_content`, or ``size`` filler bytes."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path, "wb") as out:
        if size is None:
            out.write(made_content(name))
            return
        block = bytes(range(256)) * (_COPY_CHUNK // 256)
        for start in range(0, size, len(block)):
            out.write(block[: min(len(block), size - start)])


def file_url_path(session_id: str, name: str) -> str:
    """The URL path a reply references a session file by."""
    return f"/api/sessions/{session_id}/files/{name}"
