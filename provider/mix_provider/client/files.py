"""Session files: the file calls described once, the upload limit, stored names and transcript references.

How the real server keeps files (``recreate-run/mix`` ``mix_agent/internal/http/rest_files.go``,
``session_asset_server.go``): an upload goes to a *shared* uploads area under its sanitized name
(every session lists and serves it; it outlives the session); what the agent makes goes to the
session's own directory, which nothing lists over REST. Both are served by
``GET /api/sessions/{id}/files/{name}`` (the session's directory first), and a reply references
them by that URL, so the transcript is the only index of what a session produced.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from mix_provider import models
from mix_provider.client.operations import Call, Reconcile, Upload, _model, _none, _session_path
from mix_provider.client.validation import require_id
from mix_provider.errors import MixConfigError, MixFileTooLargeError

#: The upload limit the API documents (413 "File too large (max 32MB)"); the handler parses the form
#: with ``ParseMultipartForm(32 << 20)``. Uploads over it are refused before they are sent.
MAX_UPLOAD_BYTES = 32 << 20
_THUMB = re.compile(r"^[wh]?\d+$")
#: Bytes kept between chunks when scanning a transcript: more than a reference's prefix and a file name.
_SCAN_OVERLAP = 4096
_NAME_END = ".,;:!"


def stored_name(filename: str) -> str:
    """The name an upload is stored and served under (``rest_files.go`` ``sanitizeFilename``, commit
    10ad4ace): Unicode spaces and the base name's dots become ``_``, runs of ``_`` collapse."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    spaced = "".join("_" if ch.isspace() or unicodedata.category(ch) == "Zs" else ch for ch in base)
    stem, dot, suffix = spaced.rpartition(".")
    if dot and stem:
        spaced = stem.replace(".", "_") + "." + suffix
    return re.sub("_+", "_", spaced)


def content_type_of(name: str) -> str:
    """A session file's content type from its name (as the server's ``http.ServeContent`` first decides)."""
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def check_file_name(field: str, name: object) -> str:
    """Return ``name`` when it is one path segment a file can be served under, else raise naming ``field``."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\x00" in name:
        raise MixConfigError(field, f"must be a file name without '/', got {name!r}")
    return name


def check_upload_size(field: str, path: str, size: int, limit: int = MAX_UPLOAD_BYTES) -> None:
    """Refuse a file over ``limit`` bytes before anything is sent."""
    if size > limit:
        raise MixFileTooLargeError(field, path, size, limit)


def _file_path(session_id: str, name: str) -> str:
    return _session_path(session_id, f"/files/{quote(check_file_name('name', name), safe='')}")


def list_files(session_id: str) -> Call[list[models.FileInfo]]:
    """``GET /api/sessions/{id}/files``: the shared uploads area (not the session's own files)."""
    return Call("GET", _session_path(session_id, "/files"), models.FILE_LIST.validate_json)


def upload_file(session_id: str, upload: Upload, *, limit: int = MAX_UPLOAD_BYTES) -> Call[models.FileInfo]:
    """``POST /api/sessions/{id}/files/upload`` (multipart ``file``); 201 ``FileInfo``.

    An attempt whose answer was lost is reconciled by listing: a file under the stored name with our
    size counts as this upload (a same-named file of the same size already there counts too).

    :raises MixFileTooLargeError: over ``limit``, before any request.
    """
    check_upload_size("source", upload.filename, upload.size, limit)
    name = stored_name(check_file_name("filename", upload.filename))
    reconcile = Reconcile(list_files(session_id), lambda files: _uploaded(files, name, upload.size))
    path = _session_path(session_id, "/files/upload")
    return Call("POST", path, _model(models.FileInfo), idempotent=False, reconcile=reconcile, upload=upload)


def _uploaded(files: list[models.FileInfo], name: str, size: int) -> models.FileInfo | None:
    return next((info for info in files if info.name == name and info.size == size), None)


def download_file(session_id: str, name: str, *, thumb: str | None = None, time: float | None = None) -> Call[None]:
    """``GET /api/sessions/{id}/files/{name}``: the session's own file, else the upload (streamed).

    :param thumb: a JPEG thumbnail instead: ``"100"`` (box), ``"w100"`` or ``"h100"`` (16 to 1024).
    :param time: for a video's thumbnail, the frame's second (0 to 86400; default 1).
    """
    params: dict[str, str] = {}
    if thumb is not None:
        if not isinstance(thumb, str) or not _THUMB.match(thumb):
            raise MixConfigError("thumb", f"must be like '100', 'w100' or 'h100', got {thumb!r}")
        params["thumb"] = thumb
    if time is not None:
        if isinstance(time, bool) or not isinstance(time, int | float) or not 0 <= time <= 86400:
            raise MixConfigError("time", f"must be seconds between 0 and 86400, got {time!r}")
        params["time"] = repr(float(time))
    return Call("GET", _file_path(session_id, name), _none, params=params or None)


@dataclass(frozen=True)
class FileStat:
    """What a ``HEAD`` of a session file tells without its body (None where the server does not say).

    The session's own files are served by ``http.ServeContent`` (size and ``Last-Modified``); an upload
    is copied without either.
    """

    size: int | None
    last_modified: str | None
    content_type: str | None


def _stat(headers: Mapping[str, str]) -> FileStat:
    length = headers.get("content-length")
    size = int(length) if length and length.isdigit() else None
    return FileStat(size, headers.get("last-modified"), headers.get("content-type"))


def stat_file(session_id: str, name: str) -> Call[FileStat]:
    """``HEAD /api/sessions/{id}/files/{name}`` (Go's mux answers ``HEAD`` with the ``GET`` handler)."""
    return Call("HEAD", _file_path(session_id, name), _none_stat, from_headers=_stat)


def _none_stat(_: bytes) -> FileStat:  # never called: the result comes from the headers
    return FileStat(None, None, None)


def delete_file(session_id: str, name: str) -> Call[None]:
    """``DELETE /api/sessions/{id}/files/{name}`` (204): from the shared uploads area only."""
    return Call("DELETE", _file_path(session_id, name), _none, if_gone=lambda: None)


class ReferenceScanner:
    """The names of a session's files its transcript references, read from the raw export in chunks.

    A reference is the URL path ``/api/sessions/<id>/files/<name>`` (relative or inside an absolute
    URL) in message content, tool inputs or results; other sessions' files are not this session's.
    Memory stays bounded whatever the transcript's size.

    :param session_id: the session.
    """

    def __init__(self, session_id: str) -> None:
        prefix = re.escape(f"/api/sessions/{require_id('session_id', session_id)}/files/".encode())
        self._pattern = re.compile(prefix + rb"([^\s\"'<>()\[\]{}\\?#/|`]+)")
        self._tail = b""
        self._names: dict[str, None] = {}

    def feed(self, chunk: bytes) -> None:
        """Scan one more chunk."""
        data = self._tail + chunk
        for match in self._pattern.finditer(data):
            if match.end() < len(data):  # ended by a delimiter: complete
                self._add(match.group(1))
        self._tail = data[-_SCAN_OVERLAP:]

    def finish(self) -> list[str]:
        """Scan what is left and return the names, in the order first referenced."""
        for match in self._pattern.finditer(self._tail):
            self._add(match.group(1))
        self._tail = b""
        return list(self._names)

    def _add(self, raw: bytes) -> None:
        name = unquote(raw.decode("utf-8", "replace")).rstrip(_NAME_END)
        if name and name not in (".", "..", "upload"):  # ``.../files/upload`` is the upload endpoint
            self._names.setdefault(name, None)


def referenced_files(session_id: str, chunks: Iterable[bytes]) -> list[str]:
    """The names :class:`ReferenceScanner` finds in ``chunks``."""
    scanner = ReferenceScanner(session_id)
    for chunk in chunks:
        scanner.feed(chunk)
    return scanner.finish()


async def areferenced_files(session_id: str, chunks: AsyncIterator[bytes]) -> list[str]:
    """Async :func:`referenced_files`."""
    scanner = ReferenceScanner(session_id)
    async for chunk in chunks:
        scanner.feed(chunk)
    return scanner.finish()
