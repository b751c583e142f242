"""The devserver's control plane for tests, under ``/_devserver/`` (not part of Mix).

``POST/GET/DELETE /_devserver/faults``  add / list / clear injected faults
``POST /_devserver/reset``              drop all sessions, runs, faults and request counts
``GET/DELETE /_devserver/requests``     request counts per method and path / reset them
``POST /_devserver/seed/large-session`` create a big session directly in SQLite
``GET /_devserver/run-ends``            when each run's end was published (CLOCK_MONOTONIC seconds)
``POST /_devserver/seed/sessions``      create many small sessions at once (scale tests)
``POST /_devserver/seed/touch``         append one exchange to each given session (they "changed")
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mix_provider.devserver.backend import MixBackend, blocking
from mix_provider.devserver.errors import ApiError
from mix_provider.devserver.faults import FaultState, parse_fault
from mix_provider.devserver.seed import seed_sessions, touch_sessions


def _faults(request: Request) -> FaultState:
    """Return the app's fault state."""
    state: FaultState = request.app.state.faults
    return state


async def _json_object(request: Request) -> dict[str, Any]:
    """Return the request's JSON object body.

    :raises ApiError: 400 when it is not a JSON object.
    """
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ApiError(400, "validation_error", f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "validation_error", "expected a JSON object")
    return body


async def add_fault(request: Request) -> Response:
    """Activate a fault; answers 201 with the fault."""
    fault = parse_fault(await _json_object(request))
    _faults(request).add(fault)
    return JSONResponse(fault.to_json(), status_code=201)


async def list_faults(request: Request) -> Response:
    """List the active faults with their remaining counts."""
    return JSONResponse([fault.to_json() for fault in _faults(request).active()])


async def clear_faults(request: Request) -> Response:
    """Remove every fault."""
    _faults(request).clear()
    return Response(status_code=204)


async def reset(request: Request) -> Response:
    """Drop all state: sessions, messages, runs, faults and request counts."""
    backend: MixBackend = request.app.state.backend
    await backend.reset()
    _faults(request).clear()
    _faults(request).counts.clear()
    return Response(status_code=204)


async def request_counts(request: Request) -> Response:
    """Return ``{"count": total, "requests": [{method, path, count}]}`` filtered by
    ``?method=`` and ``?path=`` (a regex that must match the whole path)."""
    method = request.query_params.get("method")
    items = _faults(request).count(method, request.query_params.get("path"))
    return JSONResponse({"count": sum(item["count"] for item in items), "requests": items})


async def reset_request_counts(request: Request) -> Response:
    """Forget the request counts."""
    _faults(request).counts.clear()
    return Response(status_code=204)


async def seed_large_session(request: Request) -> Response:
    """Create a session of ``messages`` messages of ``messageBytes`` bytes; 201 SessionData."""
    body = await _json_object(request)
    try:
        title, messages, size = str(body["title"]), int(body["messages"]), int(body["messageBytes"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ApiError(400, "validation_error", "title, messages and messageBytes are required") from exc
    backend: MixBackend = request.app.state.backend
    return JSONResponse(await backend.seed_large_session(title, messages, size), status_code=201)


async def run_ends(request: Request) -> Response:
    """Return ``{"clock": "monotonic", "ends": {messageId: seconds}}``: when the server published the
    end (``complete`` or the final ``error``) of each run, by its final message id, on the machine's
    CLOCK_MONOTONIC (comparable with other processes' ``time.monotonic()``)."""
    backend: MixBackend = request.app.state.backend
    return JSONResponse({"clock": "monotonic", "ends": dict(backend.runner.ended_at)})


async def seed_many(request: Request) -> Response:
    """Create ``count`` sessions of ``messages`` (default 2) messages of ``messageBytes`` (default 64)
    bytes, titled ``<titlePrefix> <n>``; 201 ``{"ids": [...]}`` in creation (and list) order."""
    body = await _json_object(request)
    backend: MixBackend = request.app.state.backend
    return JSONResponse({"ids": await blocking(seed_sessions, backend.store, body)}, status_code=201)


async def touch(request: Request) -> Response:
    """Append a user message and an answer to each session of ``ids``; ``{"touched": n}``."""
    body = await _json_object(request)
    backend: MixBackend = request.app.state.backend
    return JSONResponse({"touched": await blocking(touch_sessions, backend.store, body)})


CONTROL_ROUTES = [
    Route("/_devserver/faults", add_fault, methods=["POST"]),
    Route("/_devserver/faults", list_faults, methods=["GET"]),
    Route("/_devserver/faults", clear_faults, methods=["DELETE"]),
    Route("/_devserver/reset", reset, methods=["POST"]),
    Route("/_devserver/requests", request_counts, methods=["GET"]),
    Route("/_devserver/requests", reset_request_counts, methods=["DELETE"]),
    Route("/_devserver/seed/large-session", seed_large_session, methods=["POST"]),
    Route("/_devserver/run-ends", run_ends, methods=["GET"]),
    Route("/_devserver/seed/sessions", seed_many, methods=["POST"]),
    Route("/_devserver/seed/touch", touch, methods=["POST"]),
]
