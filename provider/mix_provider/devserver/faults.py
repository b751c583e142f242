"""Fault injection and request counting, as a pure ASGI middleware (streaming-safe).

Fault kinds, applied to the next ``count`` requests whose method and path match::

    ``status``        answer ``status`` (429/500/502/503...) with the error envelope; 429 carries
                      ``Retry-After: retryAfter``; the handler does not run. With ``echoHeaders``, the
                      message repeats the request's headers, as a misbehaving proxy might
    ``hang``          sleep ``delayMs`` (default 30 s), then run the handler normally
    ``reset_before``  drop the TCP connection without running the handler
    ``reset_after``   run the handler (side effects happen), then drop the connection unanswered
    ``truncate``      run the handler, send its headers with the full ``Content-Length`` but only
                      half of the body, then drop the connection
    ``malformed``     run the handler, then answer 200 with an invalid JSON body instead
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mix_provider.devserver.errors import ApiError, ErrorType

CONTROL_PREFIX = "/_devserver/"
KINDS = ("status", "hang", "reset_before", "reset_after", "truncate", "malformed")
_MALFORMED_BODY = b'{"status": "ok", "truncated'


class ConnectionDropped(Exception):
    """Raised in-process (no socket to drop) where a fault drops the connection."""


@dataclass
class Fault:
    """One injected fault; ``remaining`` counts down to zero."""

    kind: str
    method: str
    path: re.Pattern[str]
    remaining: int
    status: int
    retry_after: int | None
    delay_ms: int
    echo_headers: bool = False

    def matches(self, method: str, path: str) -> bool:
        """Tell whether a request is targeted (``path`` must fully match the regex)."""
        return self.method in ("*", method) and self.path.fullmatch(path) is not None

    def to_json(self) -> dict[str, Any]:
        """Return the fault as listed by ``GET /_devserver/faults``."""
        return {
            "kind": self.kind,
            "method": self.method,
            "path": self.path.pattern,
            "remaining": self.remaining,
            "status": self.status,
            "retryAfter": self.retry_after,
            "delayMs": self.delay_ms,
            "echoHeaders": self.echo_headers,
        }


def parse_fault(body: dict[str, Any]) -> Fault:
    """Build a fault from its control-plane JSON.

    :raises ApiError: 400 on an unknown kind, a bad regex or bad numbers.
    """
    kind = body.get("kind")
    if kind not in KINDS:
        raise ApiError(400, "validation_error", f"kind must be one of: {', '.join(KINDS)}")
    try:
        status = int(body.get("status", 503))
        retry_after = body.get("retryAfter", 1 if status == 429 else None)
        return Fault(
            kind=kind,
            method=str(body.get("method", "*")).upper(),
            path=re.compile(str(body.get("path", ".*"))),
            remaining=int(body.get("count", 1)),
            status=status,
            retry_after=int(retry_after) if retry_after is not None else None,
            delay_ms=int(body.get("delayMs", 30_000)),
            echo_headers=bool(body.get("echoHeaders", False)),
        )
    except (re.error, ValueError, TypeError) as exc:
        raise ApiError(400, "validation_error", f"invalid fault: {exc}") from exc


class FaultState:
    """Active faults and per-(method, path) request counts; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.counts: Counter[tuple[str, str]] = Counter()

    def add(self, fault: Fault) -> None:
        """Activate a fault."""
        with self._lock:
            self._faults.append(fault)

    def active(self) -> list[Fault]:
        """Return the faults with requests left to hit."""
        with self._lock:
            return [fault for fault in self._faults if fault.remaining > 0]

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """Count a request and return the first fault it consumes, if any."""
        with self._lock:
            self.counts[(method, path)] += 1
            for fault in self._faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
        return None

    def count(self, method: str | None, path_regex: str | None) -> list[dict[str, Any]]:
        """Return the request counts matching a method and a fully-matching path regex."""
        pattern = re.compile(path_regex or ".*")
        with self._lock:
            items = sorted(self.counts.items())
        return [
            {"method": m, "path": p, "count": n}
            for (m, p), n in items
            if (not method or method.upper() in ("*", m)) and pattern.fullmatch(p)
        ]


async def drop_connection(send: Send) -> None:
    """Close the client's TCP connection without a response (uvicorn), or raise in-process."""
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionDropped("connection dropped by an injected fault")
    transport.abort()
    for _ in range(3):  # let uvicorn see the disconnection before the app returns
        await asyncio.sleep(0)


def _error_type(status: int) -> ErrorType:
    """Return the envelope type used for an injected status."""
    if status >= 500:
        return "internal_error"
    if status == 404:
        return "not_found"
    return "unauthorized" if status == 401 else "bad_request"


class FaultMiddleware:
    """Counts API requests and applies the active faults to them (control plane exempt).

    :param app: the wrapped ASGI app.
    :param state: the faults and counters.
    """

    def __init__(self, app: ASGIApp, state: FaultState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request, through a fault when one matches."""
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        fault = self.state.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
        elif fault.kind == "status":
            await _send_status(fault, send, scope)
        elif fault.kind == "hang":
            await asyncio.sleep(fault.delay_ms / 1000)
            await self.app(scope, receive, send)
        elif fault.kind == "reset_before":
            await drop_connection(send)
        else:
            await self._after_handler(fault.kind, scope, receive, send)

    async def _after_handler(self, kind: str, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the handler with its response captured, then break the response."""
        messages: list[Message] = []

        async def capture(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, capture)
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        if kind == "malformed":
            await _send_bytes(send, 200, _MALFORMED_BODY, [(b"content-type", b"application/json")])
            return
        if kind == "truncate":
            start = next(m for m in messages if m["type"] == "http.response.start")
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({"type": "http.response.start", "status": start["status"], "headers": headers})
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
        await drop_connection(send)


async def _send_bytes(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """Send a whole response."""
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_status(fault: Fault, send: Send, scope: Scope) -> None:
    """Answer an injected error status with the Mix error envelope (echoing the headers if asked)."""
    message = f"Injected fault: HTTP {fault.status}"
    if fault.echo_headers:
        echoed = "; ".join(f"{k.decode('latin-1')}: {v.decode('latin-1')}" for k, v in scope.get("headers", []))
        message += f" for a request with {echoed}"
    error = ApiError(fault.status, _error_type(fault.status), message)
    headers = [(b"content-type", b"application/json")]
    if fault.retry_after is not None:
        headers.append((b"retry-after", str(fault.retry_after).encode()))
    await _send_bytes(send, fault.status, json.dumps(error.envelope()).encode(), headers)
