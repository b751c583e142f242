"""The devserver's model layer: every Mix operation, raising :class:`ApiError` on failure.

It owns the store, the event bus and the agent runner; the routing layer only decodes
requests and serializes what these methods return.
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import anyio

from mix_provider.devserver.agent import MODEL, plan_reply, title_for
from mix_provider.devserver.bus import EventBus
from mix_provider.devserver.errors import ApiError, internal
from mix_provider.devserver.files import FileStorage
from mix_provider.devserver.notifications import NotificationNotFound, NotificationService
from mix_provider.devserver.permissions import PermissionService
from mix_provider.devserver.runner import Runner
from mix_provider.devserver.settings import Settings
from mix_provider.devserver.store import MESSAGE_ORDERS, Store, new_message_row, new_session_row
from mix_provider.devserver.totals import CURRENT, LEGACY
from mix_provider.devserver.validation import (
    validate_callbacks_body,
    validate_create,
    validate_message,
    validate_notification_response,
    validate_rewind,
)
from mix_provider.devserver.wire import Row, filler, message_to_backend, now_rfc3339, session_to_wire

T = TypeVar("T")
DB_FILE = "mix-devserver.sqlite3"
LIST_LIMIT = 20
"""``sessions.sql`` ``ListSessionsWithContent`` (current generation): the 20 newest sessions."""
_LIST_COUNTS = ("user_count", "assistant_count", "tool_call_count")
_CREATE_COLUMNS = {
    "browserMode": "browser_mode",
    "cdpUrl": "cdp_url",
    "promptMode": "prompt_mode",
    "customSystemPrompt": "custom_system_prompt",
    "modelId": "model_id",
    "provider": "provider",
}


async def blocking(func: Callable[..., T], *args: Any) -> T:
    """Run a blocking (SQLite) call in a worker thread."""
    return await anyio.to_thread.run_sync(partial(func, *args))


class MixBackend:
    """All devserver state, as one object (resettable, passed around, never global).

    :param settings: the server's settings.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        totals = CURRENT if settings.generation == "current" else LEGACY
        self.store = Store(settings.data_dir / DB_FILE, totals, MESSAGE_ORDERS[settings.tie_order])
        self.files = FileStorage(settings.data_dir / "storage")
        self.bus = EventBus()
        self.permissions = PermissionService(self.bus, settings.permission_timeout_s)
        self.notifications = NotificationService(self.bus)
        self.runner = Runner(self.store, self.bus, settings, self.permissions, self.notifications)

    async def startup(self) -> None:
        """Resume the runs that were in progress when the server stopped."""
        for run in await blocking(self.store.pending_runs):
            self.runner.start(run, resumed=True)

    async def shutdown(self) -> None:
        """Stop the runs (they resume at the next start) and close the database."""
        await self.runner.shutdown()
        self.store.close()

    async def reset(self) -> None:
        """Forget every session, message and run."""
        for session_id in [row["id"] for row in await blocking(self.store.list_sessions, True)]:
            await self.runner.abort(session_id)
            self.bus.close_session(session_id)
        await blocking(self.store.reset)
        await blocking(partial(shutil.rmtree, self.files.root, ignore_errors=True))

    async def list_sessions(self, include_subagents: bool) -> list[dict[str, Any]]:
        """Return the SessionData list of ``GET /api/sessions`` (sub-agent sessions only when asked).

        ``legacy``: every session with its counts, oldest first. ``current``: the newest
        :data:`LIST_LIMIT` sessions, newest first, every count 0, sub-agent sessions dropped
        *after* the limit (``sessions.sql`` ``ListSessionsWithContent``, ``rest_sessions.go``
        ``HandleListSessions``), so fewer may come back although more exist.
        """
        if self.settings.generation == "legacy":
            rows = await blocking(self.store.list_sessions, include_subagents)
            return [session_to_wire(row) for row in rows]
        rows = await blocking(self.store.newest_sessions, LIST_LIMIT)
        kept = [row for row in rows if include_subagents or row["session_type"] != "subagent"]
        return [session_to_wire({**row, **dict.fromkeys(_LIST_COUNTS, 0)}) for row in kept]

    async def create_session(self, raw: bytes) -> dict[str, Any]:
        """Validate a create body, store the session and return its SessionData."""
        body = validate_create(raw, model_fields=self.settings.generation == "current")
        columns = {column: body[key] for key, column in _CREATE_COLUMNS.items() if key in body}
        row = new_session_row(
            str(uuid.uuid4()), body["title"], now_rfc3339(), callbacks=json.dumps(body["callbacks"]), **columns
        )
        try:
            return session_to_wire(await blocking(self.store.create_session, row))
        except ApiError:
            raise
        except Exception as exc:
            raise internal("creating session", exc) from exc

    async def get_session(self, session_id: str) -> dict[str, Any]:
        """Return the SessionData of one session, with its first user message."""
        row = await blocking(self.store.get_session, session_id)
        return session_to_wire(row, await blocking(self.store.first_user_message, session_id))

    async def delete_session(self, session_id: str) -> None:
        """Delete a session and everything it owns (sub-agent sessions too)."""
        await blocking(self.store.get_session, session_id)
        await self.runner.abort(session_id)
        for deleted in await blocking(self.store.delete_session, session_id):
            await blocking(self.files.delete_session, deleted)
            self.bus.publish(deleted, "session_deleted", {"sessionId": deleted})
            self.bus.close_session(deleted)

    async def update_callbacks(self, session_id: str, raw: bytes) -> dict[str, Any]:
        """Replace a session's callbacks; a rejected list leaves the previous one."""
        await blocking(self.store.get_session, session_id)
        callbacks = validate_callbacks_body(raw)
        return session_to_wire(await blocking(self.store.set_callbacks, session_id, callbacks, now_rfc3339()))

    async def rewind(self, session_id: str, raw: bytes) -> dict[str, Any]:
        """Delete the messages after the given one (stopping any run) and return SessionData.

        Checks in the order of ``rest_sessions.go`` ``HandleRewindSession``: the body and
        ``messageId`` (400), then the session, then the message (404). With ``cleanupMedia`` the
        session's files modified after the kept message's second go too (``CleanupMediaByTimestamp``).
        """
        message_id, cleanup_media = validate_rewind(raw)
        await blocking(self.store.get_session, session_id)
        await self.runner.abort(session_id)
        kept = next((m for m in await blocking(self.store.list_messages, session_id) if m["id"] == message_id), None)
        row = await blocking(self.store.rewind, session_id, message_id, now_rfc3339())
        if cleanup_media and kept is not None:
            when = int(datetime.fromisoformat(kept["created_at"]).timestamp())
            await blocking(self.files.cleanup_after, session_id, when)
        return session_to_wire(row)

    async def list_messages(self, session_id: str) -> list[dict[str, Any]]:
        """Return the BackendMessage list of a session."""
        usage = self.settings.generation == "legacy"
        return [message_to_backend(row, usage) for row in await blocking(self.store.list_messages, session_id)]

    async def message_history(self, limit: int, offset: int) -> list[dict[str, Any]]:
        """Return the BackendMessage list of ``GET /api/messages/history``: user messages of every
        session, newest first, a page at a time."""
        usage = self.settings.generation == "legacy"
        rows = await blocking(self.store.user_message_history, limit, offset)
        return [message_to_backend(row, usage) for row in rows]

    async def send_message(self, session_id: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        """Accept a user message: 202 and a run in the background, or 200 for a slash command.

        Checks in the order of ``rest_messages.go`` ``HandleSendMessage``: the body, the LLM
        credentials (401, also broadcast as an SSE ``error``), slash commands (which never
        look the session up), then the session (404). There is no busy check: a message sent
        while a run is in progress starts a second, concurrent run.
        """
        body = validate_message(raw)
        text = body["text"]
        if not self.settings.llm_credentials:
            message = "No LLM provider configured. Set up authentication first."
            self.bus.publish(session_id, "error", {"error": message})
            raise ApiError(401, "unauthorized", message)
        if text.startswith("/"):
            return 200, slash_command(text)
        session = await blocking(self.store.get_session, session_id)
        await self._start_run(session, text, body)
        return 202, {"status": "processing", "sessionId": session_id}

    async def _start_run(self, session: Row, text: str, body: dict[str, Any]) -> None:
        """Store the user message with its run, announce it, and start the agent.

        The real agent stores the user message, then the empty first assistant message, in its
        goroutine, racing the 202 (``processGeneration``); storing both before answering is one
        of the orders the real server can produce, and the one a client can rely on here.
        """
        session_id, thinking_level = session["id"], body.get("thinking_level")
        plan = plan_reply(text, self.settings, thinking_level, session_id)
        user = new_message_row(str(uuid.uuid4()), session_id, "user", text, now_rfc3339())
        first = session["user_count"] == 0 and session["assistant_count"] == 0
        options = {
            "thinking_level": thinking_level,
            "max_steps": body.get("max_steps") if self.settings.generation == "current" else None,
            "title": title_for(text) if first else None,
            "round_id": str(uuid.uuid4()),
            "tool_message_id": str(uuid.uuid4()),
            "final_id": str(uuid.uuid4()),
            "tool_call_id": f"toolu_{uuid.uuid4().hex[:24]}",
            "call_ids": [f"toolu_{uuid.uuid4().hex[:24]}" for _ in range(max(1, len(plan.tools)))],
            "task_call_id": f"toolu_{uuid.uuid4().hex[:24]}",
            "subagent_session_id": str(uuid.uuid4()),
            "subagent_prompt_id": str(uuid.uuid4()),
            "subagent_reply_id": str(uuid.uuid4()),
        }
        run = {"id": str(uuid.uuid4()), "session_id": session_id, "text": text, "options": json.dumps(options)}
        first_id = str(options["round_id"] if plan.tools or plan.subagent else options["final_id"])
        assistant = new_message_row(first_id, session_id, "assistant", "", user["created_at"], model=MODEL)
        await blocking(partial(self.store.add_message, user, assistant, run=run))
        created = {"type": "user_message_created", "messageId": user["id"], "content": text}
        self.bus.publish(session_id, "user_message_created", created)
        self.runner.start(run)

    async def cancel(self, session_id: str) -> dict[str, Any]:
        """Stop the session's latest run, if any; 200 even for an unknown session, as
        ``HandleCancelAgent`` does not look the session up."""
        await self.runner.cancel(session_id)
        return {"status": "cancelled", "sessionId": session_id}

    def answer_permission(self, permission_id: str, granted: bool) -> dict[str, str]:
        """Grant or deny a pending permission request; 200 for any id (``HandleGrantPermission``)."""
        return self.permissions.answer(permission_id, granted)

    def respond_notification(self, notification_id: str, raw: bytes) -> bool:
        """Deliver a notification's response (``HandleNotificationRespond``); ``False`` when
        nothing is waiting under that id (the handler's plain-text 404)."""
        response = validate_notification_response(raw)
        try:
            self.notifications.respond(notification_id, response)
        except NotificationNotFound:
            return False
        return True

    async def seed_large_session(self, title: str, messages: int, message_bytes: int) -> dict[str, Any]:
        """Create a session with ``messages`` deterministic messages of ``message_bytes`` each."""
        now = now_rfc3339()
        row = new_session_row(str(uuid.uuid4()), title, now)
        await blocking(self.store.create_session, row)
        text = filler(message_bytes)
        rows = (
            new_message_row(
                str(uuid.uuid4()),
                row["id"],
                "user" if index % 2 == 0 else "assistant",
                text,
                now,
                **(
                    {}
                    if index % 2 == 0
                    else {
                        "finish_reason": "end_turn",
                        "model": "devserver-seed",
                        "input_tokens": 10,
                        "output_tokens": message_bytes // 4,
                    }
                ),
            )
            for index in range(messages)
        )
        await blocking(self.store.insert_messages, row["id"], rows)
        return await self.get_session(row["id"])


HELP_TEXT = "Mix devserver commands:\n/help - show this help"


def slash_command(text: str) -> dict[str, Any]:
    """Answer a slash command at once (``handleSlashCommand``): the devserver knows ``/help``.

    :raises ApiError: 404 for any other command.
    """
    name = text[1:].split(maxsplit=1)[0] if text[1:].strip() else ""
    if name != "help":
        raise ApiError(404, "not_found", f"Command '{name}' not found. Available commands: [help]")
    return {"id": "cmd-help", "sessionId": "", "role": "assistant", "userInput": text, "assistantResponse": HELP_TEXT}
