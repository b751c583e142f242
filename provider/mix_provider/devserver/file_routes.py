"""The session file routes (``server.go`` ``StartServer``): upload, list, serve, delete.

Each checks like the Go handlers, in their order: the session id's format (400, field ``id``),
the session (404), then the request (see :mod:`mix_provider.devserver.files` for the sources).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from mix_provider.devserver.backend import MixBackend, blocking
from mix_provider.devserver.errors import ApiError, field_error
from mix_provider.devserver.files import THUMBNAIL_JPEG, FileStorage, content_type, file_url_path, thumbnail_error

#: Parts spooled in memory before they go to a temporary file (``ParseMultipartForm(32 << 20)``).
MEMORY_PART_BYTES = 32 << 20
#: Bytes per read of a served upload.
CHUNK_BYTES = 64 << 10
_NO_CACHE = {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache", "Expires": "0"}


async def _checked_session(request: Request) -> tuple[MixBackend, FileStorage, str]:
    """The backend, its file storage and the path's session id, once the session exists."""
    backend: MixBackend = request.app.state.backend
    session_id = request.path_params["id"]
    try:
        uuid.UUID(session_id)
    except ValueError:
        raise field_error("id", "invalid session ID format") from None
    await blocking(backend.store.get_session, session_id)
    return backend, backend.files, session_id


def _file_info(request: Request, session_id: str, name: str, size: int) -> dict[str, object]:
    """A ``FileInfo``: ``modified`` is 0 (the storage provider keeps no time) and ``url`` absolute."""
    base = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    return {"name": name, "size": size, "modified": 0, "isDir": False, "url": base + file_url_path(session_id, name)}


async def upload_file(request: Request) -> Response:
    """``POST /api/sessions/{id}/files/upload``: 201 ``FileInfo`` (``originalName`` when renamed)."""
    _, storage, session_id = await _checked_session(request)
    try:
        form = await request.form(max_files=1, max_part_size=MEMORY_PART_BYTES)
    except Exception:  # python-multipart or starlette: any malformed body
        raise field_error("form", "failed to parse multipart form") from None
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile) or not part.filename:
            raise field_error("file", "file upload required")
        name, size = await blocking(storage.save_upload, part.file, part.filename)
        info = _file_info(request, session_id, name, size)
        if name != part.filename:
            info["originalName"] = part.filename
    finally:
        await form.close()
    return JSONResponse(info, status_code=201)


async def list_files(request: Request) -> Response:
    """``GET /api/sessions/{id}/files``: the shared uploads area, never the session's own files."""
    _, storage, session_id = await _checked_session(request)
    uploads = await blocking(storage.list_uploads)
    return JSONResponse([_file_info(request, session_id, name, size) for name, size in uploads])


async def serve_file(request: Request) -> Response:
    """``GET /api/sessions/{id}/files/{filename}``: the session's directory first, then uploads."""
    _, storage, session_id = await _checked_session(request)
    name = request.path_params["filename"]
    found = await blocking(storage.find, session_id, name)
    if found is None:
        raise ApiError(404, "not_found", f"File with ID '{name}' not found")
    path, own = found
    if own and path.is_dir():
        return PlainTextResponse("Cannot serve directory\n", status_code=400)
    thumb = request.query_params.get("thumb", "")
    if thumb:
        problem = thumbnail_error(name, thumb)
        if problem is not None:
            return PlainTextResponse(f"{problem[1]}\n", status_code=problem[0])
        headers = {"Cache-Control": "public, max-age=86400"}
        return Response(THUMBNAIL_JPEG, media_type="image/jpeg", headers=headers)
    if own:
        return FileResponse(path, media_type=content_type(name), headers=_NO_CACHE)
    disposition = {"Content-Disposition": f'inline; filename="{name}"', **_NO_CACHE}
    return StreamingResponse(_chunks(path), media_type=content_type(name), headers=disposition)


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    """An upload's bytes, copied as ``io.Copy`` does: no length, no ``Last-Modified`` (no ``ServeContent``)."""
    with open(path, "rb") as file:
        while chunk := await anyio.to_thread.run_sync(file.read, CHUNK_BYTES):
            yield chunk


async def delete_file(request: Request) -> Response:
    """``DELETE /api/sessions/{id}/files/{filename}``: 204; only the uploads area is touched."""
    _, storage, _session_id = await _checked_session(request)
    name = request.path_params["filename"]
    if not await blocking(storage.delete_upload, name):
        raise ApiError(404, "not_found", f"File with ID '{name}' not found")
    return Response(status_code=204)


FILE_ROUTES = [
    Route("/api/sessions/{id}/files/upload", upload_file, methods=["POST"]),
    Route("/api/sessions/{id}/files", list_files, methods=["GET"]),
    Route("/api/sessions/{id}/files/{filename}", serve_file, methods=["GET"]),
    Route("/api/sessions/{id}/files/{filename}", delete_file, methods=["DELETE"]),
]
