"""Every Mix API call described once, as data: method, path, body, how to parse, how to reconcile.

The sync and async clients execute these descriptions; neither knows any endpoint by itself.
Builders validate their arguments, so a bad argument fails before any request is sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import IO, Any, Generic, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from mix_provider import models
from mix_provider.client.options import NO_OPTIONS, MessageOptions, SessionSpec
from mix_provider.client.turns import TurnKey, find_turn
from mix_provider.client.validation import CallbackLike, check_callbacks, require_bool, require_id, require_text
from mix_provider.errors import MixAPIError, MixConfigError, MixError, MixOutcomeUnknownError

T = TypeVar("T")
L = TypeVar("L")
M = TypeVar("M", bound=BaseModel)

#: Sessions whose ``createdAt`` is this close to a lost create request are candidates for reconciling.
CREATE_RECONCILE_WINDOW = timedelta(seconds=2)


@dataclass(frozen=True)
class Reconcile(Generic[T, L]):
    """How to learn whether a non-idempotent request whose outcome is unknown was applied.

    :param lookup: a read-only call to make after the failure.
    :param match: returns the original call's result when the lookup shows it was applied,
        ``None`` when it was not (the request may then be sent again); raises
        :class:`~mix_provider.errors.MixOutcomeUnknownError` when it cannot tell.
    """

    lookup: Call[L]
    match: Callable[[L], T | None]


@dataclass(frozen=True)
class FromHeaders(Generic[T]):
    """A call's result read from the response headers, not its body (a ``HEAD`` has none).

    :param read: turns the headers into the result.
    """

    read: Callable[[Mapping[str, str]], T]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API call: what to send and how to read the answer.

    :param method: HTTP method.
    :param path: URL path below the base URL, ids already quoted.
    :param parse: turns the response body (bytes) into the result, or reads it from the headers.
    :param params: query parameters.
    :param body: JSON body (only the fields the caller set).
    :param idempotent: safe to send again after an unknown outcome.
    :param reconcile: for non-idempotent calls, how to settle an unknown outcome; ``None`` means
        such an outcome is reported as :class:`~mix_provider.errors.MixOutcomeUnknownError`.
    :param if_gone: for a call whose effect is the resource's absence (a delete): its result when a
        retry answers 404 after an earlier attempt may have been applied (the answer, not the delete, was lost).
    :param upload: a file sent as the multipart body instead of ``body`` (reopened for each attempt).
    :param refine: turns the server's error answer into a more precise one (e.g. naming refused fields).
    """

    method: str
    path: str
    parse: Callable[[bytes], T] | FromHeaders[T]
    params: Mapping[str, str] | None = None
    body: Any = None
    idempotent: bool = True
    reconcile: Reconcile[T, Any] | None = None
    if_gone: Callable[[], T] | None = None
    upload: Upload | None = None
    refine: Callable[[MixAPIError], MixAPIError] | None = None


@dataclass(frozen=True)
class Upload:
    """A file to send as one multipart field, streamed from ``open()`` (called once per attempt).

    :param field: the form field.
    :param filename: the file name sent with it.
    :param size: its size in bytes (checked against the limit before any request).
    :param open: returns a new binary file object positioned at the start; the caller closes it.
    :param content_type: the part's ``Content-Type``.
    """

    field: str
    filename: str
    size: int
    open: Callable[[], IO[bytes]]
    content_type: str = "application/octet-stream"


#: Several calls whose order depends on their answers: a generator that yields each call and is sent
#: its result (or thrown its :class:`~mix_provider.errors.MixError`); it returns the plan's result.
Plan = Generator[Call[Any], Any, T]


class Stepper(Generic[T]):
    """Drives a :data:`Plan` for a client: ``call`` is the call to make now (None once the plan has
    returned ``result``); its answer goes back with :meth:`send` or :meth:`throw`."""

    def __init__(self, plan: Plan[T]) -> None:
        self._plan = plan
        self.result: T
        self.call: Call[Any] | None = self._step(lambda: next(plan))

    def send(self, value: Any) -> None:
        """Hand the current call's result to the plan."""
        self.call = self._step(lambda: self._plan.send(value))

    def throw(self, error: MixError) -> None:
        """Hand the current call's error to the plan (raised again unless the plan handles it)."""
        self.call = self._step(lambda: self._plan.throw(error))

    def _step(self, advance: Callable[[], Call[Any]]) -> Call[Any] | None:
        try:
            return advance()
        except StopIteration as stop:
            self.result = stop.value
            return None


def _model(cls: type[M]) -> Callable[[bytes], M]:
    return cls.model_validate_json


def _none(_: bytes) -> None:
    return None


def _session_path(session_id: str, suffix: str = "") -> str:
    return f"/api/sessions/{quote(require_id('session_id', session_id), safe='')}{suffix}"


def health() -> Call[models.Health]:
    """``GET /health``."""
    return Call("GET", "/health", _model(models.Health))


def auth_status() -> Call[models.AuthStatus]:
    """``GET /api/auth/status``: whether an LLM provider is configured (newer servers only)."""
    return Call("GET", "/api/auth/status", _model(models.AuthStatus))


def list_sessions(include_subagents: bool = False) -> Call[list[models.SessionData]]:
    """``GET /api/sessions``, subagent sessions only when asked."""
    params = {"includeSubagents": "true"} if require_bool("include_subagents", include_subagents) else None
    return Call("GET", "/api/sessions", models.SESSION_LIST.validate_json, params=params)


def message_history(limit: int, offset: int = 0) -> Call[list[models.BackendMessage]]:
    """``GET /api/messages/history``: user messages of every session, newest first, a page at a time."""
    if not 1 <= limit <= 1000 or offset < 0:
        raise MixConfigError("limit", f"must be 1..1000 with offset >= 0, got limit={limit}, offset={offset}")
    params = {"limit": str(limit), "offset": str(offset)}
    return Call("GET", "/api/messages/history", models.MESSAGE_LIST.validate_json, params=params)


def get_session(session_id: str) -> Call[models.SessionData]:
    """``GET /api/sessions/{id}``."""
    return Call("GET", _session_path(session_id), _model(models.SessionData))


def delete_session(session_id: str) -> Call[None]:
    """``DELETE /api/sessions/{id}`` (204, no body); a retry finding it gone after a lost answer is done."""
    return Call("DELETE", _session_path(session_id), _none, if_gone=lambda: None)


def export_session(session_id: str) -> Call[models.ExportSession]:
    """``GET /api/sessions/{id}/export``, parsed whole (use the streaming export for large transcripts)."""
    return Call("GET", _session_path(session_id, "/export"), _model(models.ExportSession))


def get_messages(session_id: str) -> Call[list[models.BackendMessage]]:
    """``GET /api/sessions/{id}/messages``."""
    return Call("GET", _session_path(session_id, "/messages"), models.MESSAGE_LIST.validate_json)


def cancel_session(session_id: str) -> Call[models.CancelResult]:
    """``POST /api/sessions/{id}/cancel``: stop the run in progress."""
    return Call("POST", _session_path(session_id, "/cancel"), _model(models.CancelResult))


def update_callbacks(session_id: str, callbacks: Iterable[CallbackLike]) -> Call[models.SessionData]:
    """``PATCH /api/sessions/{id}/callbacks``: replace the whole list (``[]`` clears it)."""
    body = {"callbacks": [cb.to_wire() for cb in check_callbacks(callbacks)]}
    return Call("PATCH", _session_path(session_id, "/callbacks"), _model(models.SessionData), body=body)


def rewind_session(session_id: str, message_id: str, *, cleanup_media: bool) -> Call[models.SessionData]:
    """``POST /api/sessions/{id}/rewind``: keep messages up to ``message_id``; ``cleanupMedia`` always sent."""
    body = {
        "messageId": require_id("message_id", message_id),
        "cleanupMedia": require_bool("cleanup_media", cleanup_media),
    }
    return Call("POST", _session_path(session_id, "/rewind"), _model(models.SessionData), body=body)


def create_session(spec: SessionSpec | str, *, now: datetime | None = None) -> Call[models.SessionData]:
    """``POST /api/sessions``; on an unknown outcome, reconciled by title and creation time.

    :param spec: the session (a bare title for a session with the server's defaults).
    :param now: when the request is sent (default: now), the start of the reconcile window.
    """
    if isinstance(spec, str):
        spec = SessionSpec.checked(spec)
    sent_at = now or datetime.now(timezone.utc)
    title = spec.title
    reconcile = Reconcile(list_sessions(), lambda sessions: find_created_session(sessions, title, sent_at))
    body = spec.to_wire()
    refine = spec.refused if spec.model_wire() else None
    parse = _model(models.SessionData)
    return Call("POST", "/api/sessions", parse, body=body, idempotent=False, reconcile=reconcile, refine=refine)


def find_created_session(
    sessions: list[models.SessionData], title: str, sent_at: datetime
) -> models.SessionData | None:
    """The one session titled ``title`` created by a request sent at ``sent_at``; None if none, error if several.

    ``createdAt`` has second precision and the server's clock: sessions created since
    :data:`CREATE_RECONCILE_WINDOW` before ``sent_at`` are candidates.
    """
    since = sent_at - CREATE_RECONCILE_WINDOW
    found = [s for s in sessions if s.title == title and s.created_at is not None and s.created_at >= since]
    if len(found) > 1:
        ids = ", ".join(s.id for s in found)
        raise MixOutcomeUnknownError(
            "POST",
            "/api/sessions",
            f"create lost its answer and {len(found)} sessions match: {ids}",
            sent=True,
        )
    return found[0] if found else None


def send_message(
    session_id: str, text: str, options: MessageOptions = NO_OPTIONS, *, turn: TurnKey | None = None
) -> Call[models.MessageAccepted]:
    """``POST /api/sessions/{id}/messages`` (202: the reply streams on SSE).

    :param options: plan mode, thinking level, step cap (:meth:`MessageOptions.checked
        <mix_provider.client.options.MessageOptions.checked>`).
    :param turn: the key of this message (:meth:`TurnKey.of <mix_provider.client.turns.TurnKey.of>` of the
        session's user message count before sending and the text). With it, a send whose outcome is
        unknown is reconciled (sent iff the transcript holds our message after the baseline); without
        it, such a send raises :class:`~mix_provider.errors.MixOutcomeUnknownError` rather than risk a
        duplicate.
    """
    body: dict[str, Any] = {"text": require_text("text", text), **options.to_wire()}
    reconcile = None
    if turn is not None:
        accepted = models.MessageAccepted(status="processing", session_id=session_id)
        reconcile = Reconcile(
            export_session(session_id),
            lambda export: accepted if find_turn(export.messages, turn) is not None else None,
        )
    path = _session_path(session_id, "/messages")
    return Call("POST", path, _model(models.MessageAccepted), body=body, idempotent=False, reconcile=reconcile)


#: The answers ``POST /api/notifications/{id}/respond`` accepts (its ``type``).
RESPONSE_TYPES = frozenset({"acknowledge", "text", "choice"})


def _permission(permission_id: str, verb: str) -> Call[models.PermissionAnswer]:
    path = f"/api/permissions/{quote(require_id('permission_id', permission_id), safe='')}/{verb}"
    return Call("POST", path, _model(models.PermissionAnswer))


def grant_permission(permission_id: str) -> Call[models.PermissionAnswer]:
    """``POST /api/permissions/{id}/grant`` (no body; 200 even for an id no longer pending, a no-op)."""
    return _permission(permission_id, "grant")


def deny_permission(permission_id: str) -> Call[models.PermissionAnswer]:
    """``POST /api/permissions/{id}/deny``: the tool fails, the turn goes on to its reply."""
    return _permission(permission_id, "deny")


def respond_to_notification(notification_id: str, response_type: str, value: str = "") -> Call[None]:
    """``POST /api/notifications/{id}/respond`` ``{type, value}`` (204; 404 once answered or timed out).

    A retry that finds it gone (404) after an attempt whose answer was lost counts as answered.

    :param response_type: ``acknowledge``, ``text`` or ``choice``.
    :param value: the text or the chosen option (ignored by ``acknowledge``).
    """
    if response_type not in RESPONSE_TYPES:
        raise MixConfigError("response_type", f"{response_type!r} is not one of: {', '.join(sorted(RESPONSE_TYPES))}")
    if not isinstance(value, str):
        raise MixConfigError("value", f"must be a string, got {type(value).__name__}")
    path = f"/api/notifications/{quote(require_id('notification_id', notification_id), safe='')}/respond"
    return Call("POST", path, _none, body={"type": response_type, "value": value}, if_gone=lambda: None)


def stream_events(session_id: str) -> Call[None]:
    """``GET /stream?sessionId=``: the session's server-sent events (opened, never parsed whole)."""
    sid = require_id("session_id", session_id)
    return Call("GET", "/stream", _none, params={"sessionId": sid})


#: Methods the escape hatch sends again after an unknown outcome unless the caller says otherwise (RFC 9110).
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
HTTP_METHODS = IDEMPOTENT_METHODS | {"POST", "PATCH"}


def _json_or_text(body: bytes) -> Any:
    """A response body as JSON, its text when it is not JSON, None when empty."""
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def raw_request(
    method: str,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    json_body: Any = None,
    idempotent: bool | None = None,
) -> Call[Any]:
    """Any endpoint of the server, for those the provider does not wrap; answers JSON (or text, or None).

    :param method: ``GET``, ``POST``, ``PUT``, ``PATCH``, ``DELETE``, ``HEAD`` or ``OPTIONS``.
    :param path: a path below the base URL, starting with one ``/`` (never a URL: the connection's
        headers go to the connection's server only).
    :param idempotent: whether a request whose outcome is unknown may be sent again; by default true for
        the idempotent methods (:data:`IDEMPOTENT_METHODS`), false for ``POST`` and ``PATCH``.
    """
    verb = method.upper() if isinstance(method, str) else method
    if verb not in HTTP_METHODS:
        raise MixConfigError("method", f"{method!r} is not one of: {', '.join(sorted(HTTP_METHODS))}")
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//") or "\\" in path:
        raise MixConfigError("path", f"must be a path below the base URL starting with one '/', got {path!r}")
    if params is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in params.items()):
        raise MixConfigError("params", "must map strings to strings")
    safe = verb in IDEMPOTENT_METHODS if idempotent is None else require_bool("idempotent", idempotent)
    return Call(verb, path, _json_or_text, params=params, body=json_body, idempotent=safe)
