"""The Mix REST routes: thin adapters from HTTP to :class:`MixBackend`.

Errors raised as :class:`ApiError` are serialized once, by :func:`api_error_handler`.
"""

from __future__ import annotations

import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from mix_provider import __version__
from mix_provider.devserver.backend import MixBackend
from mix_provider.devserver.errors import ApiError
from mix_provider.devserver.export import export_chunks, open_export, whole_export
from mix_provider.devserver.notifications import NOT_FOUND
from mix_provider.devserver.stream import stream_events
from mix_provider.devserver.wire import now_rfc3339

VERSION = f"{__version__}-devserver"
_PROVIDERS = {"anthropic": "Anthropic", "openai": "OpenAI", "openrouter": "OpenRouter"}


def _backend(request: Request) -> MixBackend:
    """Return the app's backend."""
    backend: MixBackend = request.app.state.backend
    return backend


async def api_error_handler(request: Request, exc: Exception) -> Response:
    """Serialize an :class:`ApiError` into the Mix error envelope."""
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.envelope(), status_code=exc.status)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Answer routing errors: plain text (like Go's mux), an envelope for unknown API paths."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and request.url.path.startswith("/api/"):
        message = f"Not implemented by the Mix devserver: {request.method} {request.url.path}"
        return JSONResponse(ApiError(404, "not_found", message).envelope(), status_code=404)
    return PlainTextResponse(f"{exc.detail}\n", status_code=exc.status_code, headers=exc.headers)


async def list_sessions(request: Request) -> Response:
    """``GET /api/sessions``: sub-agent sessions only for ``includeSubagents=true`` exactly."""
    include = request.query_params.get("includeSubagents", "") == "true"
    return JSONResponse(await _backend(request).list_sessions(include))


async def create_session(request: Request) -> Response:
    """``POST /api/sessions``."""
    return JSONResponse(await _backend(request).create_session(await request.body()), status_code=201)


async def get_session(request: Request) -> Response:
    """``GET /api/sessions/{id}``."""
    return JSONResponse(await _backend(request).get_session(request.path_params["id"]))


async def delete_session(request: Request) -> Response:
    """``DELETE /api/sessions/{id}``: 204, empty body."""
    await _backend(request).delete_session(request.path_params["id"])
    return Response(status_code=204)


async def update_callbacks(request: Request) -> Response:
    """``PATCH /api/sessions/{id}/callbacks``."""
    body = await request.body()
    return JSONResponse(await _backend(request).update_callbacks(request.path_params["id"], body))


async def export_session(request: Request) -> Response:
    """``GET /api/sessions/{id}/export``, streamed."""
    session_id = request.path_params["id"]
    store = _backend(request).store
    reader, session, first = await open_export(store.path, session_id, store.order)
    headers = {"Content-Disposition": f"attachment; filename=session_{session_id}_transcript.json"}
    if (whole := whole_export(reader, session, first)) is not None:
        return Response(whole, media_type="application/json", headers=headers)
    return StreamingResponse(export_chunks(reader, session, first), media_type="application/json", headers=headers)


async def rewind_session(request: Request) -> Response:
    """``POST /api/sessions/{id}/rewind``."""
    body = await request.body()
    return JSONResponse(await _backend(request).rewind(request.path_params["id"], body))


async def list_messages(request: Request) -> Response:
    """``GET /api/sessions/{id}/messages``."""
    return JSONResponse(await _backend(request).list_messages(request.path_params["id"]))


_HISTORY_LIMIT = 50
#: What Go's ``strconv.ParseInt(s, 10, 64)`` accepts (no spaces or underscores, unlike ``int``).
_GO_INT = re.compile(r"[+-]?[0-9]+")
_INT64_MAX = 2**63 - 1


def _query_int(request: Request, name: str, default: int, minimum: int) -> int:
    """A query integer as ``HandleMessageHistory`` reads it: the default when absent, not an
    int64, or below ``minimum`` (never an error)."""
    raw = request.query_params.get(name, "")
    if not _GO_INT.fullmatch(raw) or not minimum <= int(raw) <= _INT64_MAX:
        return default
    return int(raw)


async def message_history(request: Request) -> Response:
    """``GET /api/messages/history``: ``limit`` (default 50, any positive value, no maximum) and
    ``offset`` (default 0) as ``rest_messages.go`` ``HandleMessageHistory`` parses them."""
    limit = _query_int(request, "limit", _HISTORY_LIMIT, 1)
    offset = _query_int(request, "offset", 0, 0)
    return JSONResponse(await _backend(request).message_history(limit, offset))


async def send_message(request: Request) -> Response:
    """``POST /api/sessions/{id}/messages``: 202 processing (200 for a slash command)."""
    status, body = await _backend(request).send_message(request.path_params["id"], await request.body())
    return JSONResponse(body, status_code=status)


async def cancel(request: Request) -> Response:
    """``POST /api/sessions/{id}/cancel``."""
    return JSONResponse(await _backend(request).cancel(request.path_params["id"]))


async def grant_permission(request: Request) -> Response:
    """``POST /api/permissions/{id}/grant``: 200 ``{"id","message","status":"granted"}`` for any id."""
    return JSONResponse(_backend(request).answer_permission(request.path_params["id"], True))


async def deny_permission(request: Request) -> Response:
    """``POST /api/permissions/{id}/deny``: 200 ``{"id","message","status":"denied"}`` for any id."""
    return JSONResponse(_backend(request).answer_permission(request.path_params["id"], False))


async def respond_notification(request: Request) -> Response:
    """``POST /api/notifications/{id}/respond``: 204, or Go's plain-text ``http.Error`` 404 when
    nothing waits under that id (``HandleNotificationRespond``)."""
    if _backend(request).respond_notification(request.path_params["id"], await request.body()):
        return Response(status_code=204)
    return PlainTextResponse(f"{NOT_FOUND}\n", status_code=404, headers={"X-Content-Type-Options": "nosniff"})


async def health(request: Request) -> Response:
    """``GET /health``."""
    body = {
        "status": "ok",
        "timestamp": now_rfc3339(),
        "version": VERSION,
        "environment": "devserver",
        "services": {"backend": "healthy", "database": "connected"},
    }
    return JSONResponse(body)


async def auth_status(request: Request) -> Response:
    """``GET /api/auth/status``: Anthropic is configured unless ``--no-llm-credentials``."""
    configured = _backend(request).settings.llm_credentials
    providers = {
        key: {
            "authenticated": configured and key == "anthropic",
            "auth_method": "api_key" if configured and key == "anthropic" else "none",
            "display_name": name,
        }
        for key, name in _PROVIDERS.items()
    }
    return JSONResponse({"providers": providers})


ROUTES = [
    Route("/health", health, methods=["GET"]),
    Route("/api/auth/status", auth_status, methods=["GET"]),
    Route("/api/sessions", list_sessions, methods=["GET"]),
    Route("/api/sessions", create_session, methods=["POST"]),
    Route("/api/sessions/{id}", get_session, methods=["GET"]),
    Route("/api/sessions/{id}", delete_session, methods=["DELETE"]),
    Route("/api/sessions/{id}/callbacks", update_callbacks, methods=["PATCH"]),
    Route("/api/sessions/{id}/export", export_session, methods=["GET"]),
    Route("/api/sessions/{id}/rewind", rewind_session, methods=["POST"]),
    Route("/api/sessions/{id}/messages", list_messages, methods=["GET"]),
    Route("/api/sessions/{id}/messages", send_message, methods=["POST"]),
    Route("/api/sessions/{id}/cancel", cancel, methods=["POST"]),
    Route("/api/messages/history", message_history, methods=["GET"]),
    Route("/api/permissions/{id}/grant", grant_permission, methods=["POST"]),
    Route("/api/permissions/{id}/deny", deny_permission, methods=["POST"]),
    Route("/api/notifications/{id}/respond", respond_notification, methods=["POST"]),
    Route("/stream", stream_events, methods=["GET"]),
]
