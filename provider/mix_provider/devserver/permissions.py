"""Permission requests of the scripted agent's tools, answered by ``POST /api/permissions/{id}/grant|deny``.

Follows the real server (``recreate-run/mix`` ``mix_agent/internal/``):

- A tool asks before it does anything (``llm/tools/bash.go`` ``bashTool.Run``,
  ``llm/tools/write.go`` ``writeTool.Run``), and its run blocks until an answer arrives, or
  for 30 s, after which the request counts as denied (``permission/permission.go``
  ``permissionService.Request``).
- The request is announced as an SSE ``permission`` event on the session's streams:
  ``{"type":"permission","id","sessionId","toolName","description","action","path","params"}``
  (``http/sse.go`` ``HandleSSEStream``, ``http/sse_events.go`` ``PermissionEvent``;
  ``parentToolCallId`` is never set there, so it is omitted).
- ``grant``/``deny`` answer 200 ``{"id","message","status"}`` for **any** id: the handlers
  do not look it up, and ``Grant``/``Deny`` do nothing for an id that is not pending
  (``http/rest_system.go`` ``HandleGrantPermission``/``HandleDenyPermission``). Only the
  first answer to a pending request counts.
- A denied tool fails with ``permission denied``; ``executeToolCall`` turns that into a
  result that is **not** an error (``IsError: false``, "a security boundary") telling the
  model to stop, and the turn continues (``llm/agent/concurrency_tools.go``).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

from mix_provider.devserver.bus import EventBus
from mix_provider.devserver.waiters import Waiters

PERMISSION_TIMEOUT_S = 30.0
"""``permissionService.Request``: no answer within 30 s denies."""
DENIED = "permission denied"
"""``permission.ErrorPermissionDenied``, the error a denied tool returns."""
REJECTED = (
    "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if it was a file "
    "edit, the new_string was NOT written to the file). STOP what you are doing and wait for the user to "
    "tell you how to proceed."
)
"""The tool result of a denied tool (``executeToolCall``)."""


def storage_dir(data_dir: Path, session_id: str) -> str:
    """Return the session's storage directory (``session/storage.go`` ``GetSessionStoragePath``:
    ``<base>/storage/<id>``); the devserver never creates it."""
    return str(data_dir / "storage" / session_id)


def write_target(file_path: str, storage: str) -> str:
    """Return the absolute path a ``Write`` of ``file_path`` goes to (relative paths are in storage)."""
    return file_path if os.path.isabs(file_path) else os.path.join(storage, file_path)


def permission_fields(tool_name: str, tool_input: str, storage: str) -> dict[str, Any]:
    """Return ``toolName``, ``description``, ``action``, ``path`` and ``params`` of the request a tool makes.

    A tool with a ``command`` asks like ``bash.go`` (path: the storage directory; params:
    ``BashPermissionsParams``), one with a ``file_path`` like ``write.go`` (path: the file's
    directory, or the storage directory for a file inside it; params: ``WritePermissionsParams``).
    Any other tool asks with its input as params (the devserver's own wording).
    """
    arguments = json.loads(tool_input)
    if isinstance(arguments, dict) and "command" in arguments:
        action = f"Execute command: {arguments['command']}"
        params: dict[str, Any] = {"command": str(arguments["command"]), "timeout": 0}
        return _fields(tool_name, action, action, storage, params)
    if isinstance(arguments, dict) and "file_path" in arguments:
        target = write_target(str(arguments["file_path"]), storage)
        parent = storage if target.startswith(storage) else os.path.dirname(target)
        params = {"file_path": target, "diff": f"--- {target}\n+++ {target}\n"}
        return _fields(tool_name, f"Create file {target}", "write", parent, params)
    return _fields(tool_name, f"Use the {tool_name} tool", tool_name, storage, arguments)


def _fields(tool_name: str, description: str, action: str, path: str, params: object) -> dict[str, Any]:
    """Return the request fields in ``PermissionEvent`` order."""
    return {"toolName": tool_name, "description": description, "action": action, "path": path, "params": params}


class PermissionService:
    """Pending permission requests of every session (``permissionService``).

    :param bus: where ``permission`` events go.
    :param timeout_s: how long a request waits before it counts as denied.
    """

    def __init__(self, bus: EventBus, timeout_s: float = PERMISSION_TIMEOUT_S) -> None:
        self._bus = bus
        self._timeout_s = timeout_s
        self._waiters: Waiters[bool] = Waiters()

    async def request(self, session_id: str, fields: dict[str, Any]) -> bool:
        """Announce a request and wait for its answer; ``False`` when denied or timed out."""
        permission_id = str(uuid.uuid4())
        future = self._waiters.open(permission_id)
        event = {"type": "permission", "id": permission_id, "sessionId": session_id, **fields}
        self._bus.publish(session_id, "permission", event)
        return await self._waiters.wait(permission_id, future, self._timeout_s) is True

    async def ask(self, session_id: str, tool_name: str, tool_input: str, data_dir: Path) -> bool:
        """Ask, under ``session_id``, for a tool to run (the fields of :func:`permission_fields`)."""
        storage = storage_dir(data_dir, session_id)
        return await self.request(session_id, permission_fields(tool_name, tool_input, storage))

    def answer(self, permission_id: str, granted: bool) -> dict[str, str]:
        """Grant or deny a pending request (no effect otherwise) and return the handler's body
        (a Go ``map[string]string``, so its keys are sorted)."""
        self._waiters.answer(permission_id, granted)
        status = "granted" if granted else "denied"
        return {"id": permission_id, "message": f"Permission {status} successfully", "status": status}


def denied_result(call_id: str, tool_name: str) -> dict[str, Any]:
    """Return the stored result of a denied tool (``executeToolCall``: not an error, no metadata)."""
    return {"tool_call_id": call_id, "name": tool_name, "content": REJECTED, "metadata": "", "is_error": False}
