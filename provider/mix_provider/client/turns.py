"""Which messages of a transcript are the turn started by *our* message, and whether it has finished.

A real Mix server accepts messages while a run is in progress and stores a tool run as several
messages (assistant ``tool_use`` -> ``tool`` results -> assistant), so "the session's last message"
may be another turn's reply. A turn is found from the user message that started it, and runs up to
the next user message. Our user message is the first one after the baseline count whose text
begins with the text we sent (the server may append to it: plan mode adds a system reminder).
Only a length and a hash of the text are kept, so a turn key is small and holds no prompt text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mix_provider.models import ExportMessage, FinishReason

#: Finish reasons that leave the turn unfinished (the agent goes on after a tool).
NON_TERMINAL_FINISH = frozenset({FinishReason.TOOL_USE.value})


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def is_final(message: ExportMessage) -> bool:
    """An assistant message with a terminal finish reason (anything but ``tool_use``)."""
    return (
        message.role == "assistant" and bool(message.finish_reason) and message.finish_reason not in NON_TERMINAL_FINISH
    )


@dataclass(frozen=True)
class TurnKey:
    """Identifies our user message: the first after ``after_user_messages`` whose text begins with ours.

    Without a text fingerprint (``text_length`` None) the first user message after the baseline is ours.
    """

    after_user_messages: int
    text_length: int | None = None
    text_sha256: str | None = None

    @classmethod
    def of(cls, after_user_messages: int, text: str) -> TurnKey:
        """The key of ``text`` sent when the session held ``after_user_messages`` user messages."""
        return cls(after_user_messages, len(text), _digest(text))

    def matches(self, content: str) -> bool:
        """Whether a user message's content is our text (possibly with something appended)."""
        if self.text_length is None:
            return True
        return len(content) >= self.text_length and _digest(content[: self.text_length]) == self.text_sha256

    def to_json(self) -> dict[str, Any]:
        """Small JSON form (task state, trigger kwargs)."""
        return {"after_user_messages": self.after_user_messages, "length": self.text_length, "sha256": self.text_sha256}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TurnKey:
        """Inverse of :meth:`to_json`."""
        length = data.get("length")
        return cls(int(data["after_user_messages"]), None if length is None else int(length), data.get("sha256"))


@dataclass(frozen=True)
class Turn:
    """Our user message and what followed it, up to the next user message."""

    user_message_id: str
    messages: tuple[ExportMessage, ...]
    followed: bool


def find_turn(messages: Sequence[ExportMessage], key: TurnKey) -> Turn | None:
    """Our turn in ``messages``, or None while our user message is not stored."""
    users = 0
    start: int | None = None
    for index, message in enumerate(messages):
        if message.role != "user":
            continue
        if start is not None:
            return Turn(messages[start].id, tuple(messages[start + 1 : index]), followed=True)
        users += 1
        if users > key.after_user_messages and key.matches(message.content):
            start = index
    if start is None:
        return None
    return Turn(messages[start].id, tuple(messages[start + 1 :]), followed=False)


@dataclass(frozen=True)
class Reply:
    """The agent's answer to one user message, read from the transcript.

    :param message_id: the turn's final assistant message.
    :param text: that message's text.
    :param finish_reason: its finish reason.
    :param tool_calls: tool calls made over the whole turn.
    :param user_message_id: the user message that started the turn.
    """

    message_id: str
    text: str
    finish_reason: str | None
    tool_calls: int
    user_message_id: str = ""


def reply_of(turn: Turn) -> Reply | None:
    """The turn's reply once its last message is a final assistant message, else None."""
    if not turn.messages or not is_final(turn.messages[-1]):
        return None
    last = turn.messages[-1]
    return Reply(
        message_id=last.id,
        text=last.content,
        finish_reason=last.finish_reason,
        tool_calls=sum(len(m.tool_calls or ()) for m in turn.messages if m.role == "assistant"),
        user_message_id=turn.user_message_id,
    )


def finished_reply(messages: Sequence[ExportMessage], key: TurnKey) -> Reply | None:
    """The reply to our message once its turn has finished, else None."""
    turn = find_turn(messages, key)
    return None if turn is None else reply_of(turn)
