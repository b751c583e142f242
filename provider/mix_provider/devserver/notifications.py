"""Notifications of the scripted agent (its ``Notify`` tool), answered by ``POST /api/notifications/{id}/respond``.

Follows the real server (``recreate-run/mix`` ``mix_agent/internal/``):

- The ``Notify`` tool takes ``{type, title, message, responseType, choices?, timeout?}``,
  checks it, and **blocks for every type**, ``info`` with ``acknowledge`` included, until a
  response arrives or the timeout passes (``llm/tools/notify.go`` ``notifyTool.Run``). The
  timeout is 1..300 s, 60 s when 0 or absent (``notification/notification.go``
  ``notificationService.Request``).
- A timeout does not fail the run: the tool result is an error
  ``Notification request timed out - user did not respond in time`` and the turn goes on.
  An answer becomes the result ``User acknowledged the notification`` / ``User response: V``
  / ``User selected: V``, chosen by the request's ``responseType``.
- The SSE ``notification`` event is ``{"type":"notification","id","sessionId",
  "notificationType","title","message","responseType","choices"?,"timeout","createdAt"}``,
  ``createdAt`` in Unix **milliseconds** (``http/sse.go`` ``HandleSSEStream``:
  ``CreatedAt.UnixMilli()``; the JSON names are the spec's ``SSENotificationEvent``).
- ``respond`` decodes its body as a JSON object of strings and uses ``type`` and ``value``
  without checking them; 204 on success; an id that is not pending, also one already
  answered or timed out, gets a **plain-text** 404 ``Notification not found or already
  responded`` (``http/rest_system.go`` ``HandleNotificationRespond``, ``Respond``).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from mix_provider.devserver.bus import EventBus
from mix_provider.devserver.waiters import Waiters

DEFAULT_TIMEOUT_S = 60
MAX_TIMEOUT_S = 300
TIMED_OUT = "Notification request timed out - user did not respond in time"
NOT_FOUND = "Notification not found or already responded"
TYPES = ("info", "warning", "error", "question")
RESPONSE_TYPES = ("acknowledge", "text", "choice")


class NotificationNotFound(Exception):
    """``notification.ErrNotificationNotFound``: nothing is waiting under that id."""


@dataclass(frozen=True)
class NotifyAsk:
    """The ``Notify`` tool's parameters (``NotifyParams``); ``timeout`` 0 means the default."""

    type: str
    title: str
    message: str
    response_type: str
    choices: tuple[str, ...] = ()
    timeout: int = 0

    def tool_input(self) -> str:
        """Return the tool call's JSON input (``choices`` and ``timeout`` omitted when empty)."""
        params: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "message": self.message,
            "responseType": self.response_type,
        }
        if self.choices:
            params["choices"] = list(self.choices)
        if self.timeout:
            params["timeout"] = self.timeout
        return json.dumps(params)

    def problem(self) -> str | None:
        """Return the error result ``notifyTool.Run`` gives instead of notifying, if any."""
        if self.response_type == "choice" and len(self.choices) < 2:
            return (
                "choices array is required when responseType is 'choice'"
                if not self.choices
                else "choices array must contain at least 2 options"
            )
        if not 0 <= self.timeout <= MAX_TIMEOUT_S:
            return "timeout must be between 0 and 300 seconds"
        return None


def parse_question(value: str) -> NotifyAsk:
    """Read ``TEXT[|CHOICE,CHOICE...][|timeout=S]`` (a ``question``: ``choice`` with choices, else ``text``)."""
    text, *options = value.split("|")
    choices: tuple[str, ...] = ()
    timeout = 0
    for option in options:
        if option.strip().startswith("timeout="):
            timeout = _seconds(option)
        elif option.strip():
            choices = tuple(choice.strip() for choice in option.split(",") if choice.strip())
    kind = "choice" if choices else "text"
    return NotifyAsk("question", text.strip(), text.strip(), kind, choices, timeout)


def parse_notify(value: str) -> NotifyAsk:
    """Read ``TYPE:TEXT[|timeout=S]`` (answered with ``acknowledge``)."""
    kind, _, rest = value.partition(":")
    text, *options = rest.split("|")
    timeout = next((_seconds(option) for option in options if option.strip().startswith("timeout=")), 0)
    return NotifyAsk(kind, text.strip(), text.strip(), "acknowledge", (), timeout)


def _seconds(option: str) -> int:
    """Return the seconds of a ``timeout=S`` option (0, the default, when not a number)."""
    number = option.strip().removeprefix("timeout=")
    return int(number) if number.isdigit() else 0


class NotificationService:
    """Pending notifications of every session (``notificationService``).

    :param bus: where ``notification`` events go.
    """

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._waiters: Waiters[dict[str, str]] = Waiters()

    async def request(self, session_id: str, ask: NotifyAsk) -> dict[str, str] | None:
        """Announce a notification and wait for its response; ``None`` when it timed out."""
        notification_id = str(uuid.uuid4())
        timeout = ask.timeout or DEFAULT_TIMEOUT_S
        future = self._waiters.open(notification_id)
        event: dict[str, Any] = {
            "type": "notification",
            "id": notification_id,
            "sessionId": session_id,
            "notificationType": ask.type,
            "title": ask.title,
            "message": ask.message,
            "responseType": ask.response_type,
        }
        if ask.choices:
            event["choices"] = list(ask.choices)
        event.update(timeout=timeout, createdAt=int(time.time() * 1000))
        self._bus.publish(session_id, "notification", event)
        return await self._waiters.wait(notification_id, future, timeout)

    def respond(self, notification_id: str, response: dict[str, str]) -> None:
        """Deliver a response (``{"type", "value"}`` as sent, unchecked).

        :raises NotificationNotFound: nothing is waiting under that id.
        """
        answer = {"id": notification_id, "type": response.get("type", ""), "value": response.get("value", "")}
        if not self._waiters.answer(notification_id, answer):
            raise NotificationNotFound(notification_id)


def result_text(ask: NotifyAsk, response: dict[str, str] | None) -> tuple[str, bool]:
    """Return the ``Notify`` tool's result and whether it is an error (``notifyTool.Run``)."""
    if response is None:
        return TIMED_OUT, True
    value = response.get("value", "")
    if ask.response_type == "acknowledge":
        return "User acknowledged the notification", False
    if ask.response_type == "text":
        return (f"User response: {value}" if value else "User responded (no text provided)"), False
    return (f"User selected: {value}" if value else "User responded (no choice selected)"), False


def outcome(ask: NotifyAsk, response: dict[str, str] | None) -> str:
    """Return the line the scripted agent's final reply adds for this notification."""
    if response is None:
        return f"no answer: timed out after {ask.timeout or DEFAULT_TIMEOUT_S} s"
    if ask.response_type == "acknowledge":
        return "acknowledged"
    return f"answered: {response.get('value', '')}"
