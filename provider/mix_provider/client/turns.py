"""Which messages of a transcript are the turn started by *our* message, and whether it has finished.

A real Mix server accepts messages while a run is in progress and runs them concurrently, storing a
tool run as several messages (assistant ``tool_use`` -> ``tool`` results -> assistant) as each round
happens (``mix_agent/internal/llm/agent/agent.go``: ``processGeneration``, ``streamAndHandleEvents``).
Overlapping runs therefore interleave in the transcript, and no stored message names the run it
belongs to. Each run is a chain: user -> assistant -> (tool -> assistant)*. :func:`runs_of` rebuilds
the chains in stored order, giving each assistant or tool message to the earliest run waiting for
one. That is exact when runs do not overlap; when they do, it follows the order the server stored
them in, and :attr:`Turn.overlapped` says so.

Our user message is the first one after the baseline count whose text begins with the text we sent
(plan mode appends a system reminder). Only a length and a hash of the text are kept, so a turn key
is small and holds no prompt text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from mix_provider.client.stream import StreamVerdict
from mix_provider.errors import MixReplyAmbiguousError
from mix_provider.models import FinishReason, SessionTotals

#: Finish reasons that leave the turn unfinished (the agent goes on after a tool).
NON_TERMINAL_FINISH = frozenset({FinishReason.TOOL_USE.value})


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class TurnMessage(Protocol):
    """What the turn logic reads of a message: an :class:`~mix_provider.models.ExportMessage`, or the
    light :class:`~mix_provider.models.MessageRecord` a streamed scan keeps."""

    @property
    def id(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def content(self) -> str: ...

    @property
    def finish_reason(self) -> str | None: ...

    @property
    def tool_call_count(self) -> int: ...

    @property
    def created_at(self) -> datetime | None: ...

    @property
    def updated_at(self) -> datetime | None: ...


def is_final(message: TurnMessage) -> bool:
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

    def may_be_in(self, user_message_count: int) -> bool:
        """Whether a session holding ``user_message_count`` user messages may hold ours: only once it
        holds more than it did before ours was sent (a cheap check before reading its transcript)."""
        return user_message_count > self.after_user_messages

    def to_json(self) -> dict[str, Any]:
        """Small JSON form (task state, trigger kwargs)."""
        return {"after_user_messages": self.after_user_messages, "length": self.text_length, "sha256": self.text_sha256}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TurnKey:
        """Inverse of :meth:`to_json`."""
        length = data.get("length")
        return cls(int(data["after_user_messages"]), None if length is None else int(length), data.get("sha256"))


@dataclass
class Turn:
    """One run: its user message, the messages given to it, whether another run overlapped it, whether
    a tool message it may own went to another run or the reverse (``ambiguous``), and the position of
    its latest message in the transcript."""

    user_message_id: str
    user_content: str
    messages: list[TurnMessage] = field(default_factory=list)
    overlapped: bool = False
    ambiguous: bool = False
    stored_last: int = 0

    @property
    def finished(self) -> bool:
        """Whether the run's last message is a final assistant message."""
        return bool(self.messages) and is_final(self.messages[-1])

    def expects(self) -> str | None:
        """The role of the run's next message: ``assistant`` after the user or tool message, ``tool``
        after a ``tool_use`` round, None while a round is streaming or once the run is finished."""
        last = self.messages[-1] if self.messages else None
        if last is None or last.role == "tool":
            return "assistant"
        if last.role == "assistant" and last.finish_reason in NON_TERMINAL_FINISH:
            return "tool"
        return None


def runs_of(messages: Sequence[TurnMessage]) -> list[Turn]:
    """The runs of a transcript, one per user message.

    An assistant message goes to the waiting run whose user or tool message was stored last: the
    server starts the next round as soon as that message is stored, and a run that ended without an
    answer (cancelled during its tools, out of steps) waits for ever. A tool message is stored when a
    round's tools have finished, which nothing in the transcript dates: when several runs wait for
    one, it goes to the earliest, and all of them are marked ambiguous.
    """
    runs: list[Turn] = []
    for position, message in enumerate(messages):
        if message.role == "user":
            busy = [run for run in runs if not run.finished]
            runs.append(Turn(message.id, message.content, overlapped=bool(busy), stored_last=position))
            for run in busy:
                run.overlapped = True
            continue
        waiting = [run for run in runs if run.expects() == message.role]
        if not waiting:
            continue
        for run in waiting if len(waiting) > 1 else ():
            run.overlapped = True
            run.ambiguous = run.ambiguous or message.role == "tool"
        owner = waiting[0] if message.role == "tool" else max(waiting, key=lambda run: run.stored_last)
        owner.messages.append(message)
        owner.stored_last = position
    return runs


def find_turn(messages: Sequence[TurnMessage], key: TurnKey) -> Turn | None:
    """Our run in ``messages``, or None while our user message is not stored."""
    for index, run in enumerate(runs_of(messages)):
        if index >= key.after_user_messages and key.matches(run.user_content):
            return run
    return None


@dataclass(frozen=True)
class Reply:
    """The agent's answer to one user message, read from the transcript.

    :param message_id: the turn's final assistant message.
    :param text: that message's text.
    :param finish_reason: its finish reason.
    :param tool_calls: tool calls made over the whole turn.
    :param user_message_id: the user message that started the turn.
    :param overlapped: another run was in progress during this one, so its messages were told apart
        by the order the server stored them in (see the module docstring).
    :param totals: the session's counts and usage, read with the reply (None when not read).
    """

    message_id: str
    text: str
    finish_reason: str | None
    tool_calls: int
    user_message_id: str = ""
    overlapped: bool = False
    totals: SessionTotals | None = None


def tool_calls_of(turn: Turn) -> int:
    """Tool calls made over the whole turn (by its assistant messages)."""
    return sum(m.tool_call_count for m in turn.messages if m.role == "assistant")


def reply_of(turn: Turn) -> Reply | None:
    """The turn's reply once its last message is a final assistant message, else None."""
    if not turn.finished:
        return None
    last = turn.messages[-1]
    return Reply(
        message_id=last.id,
        text=last.content,
        finish_reason=last.finish_reason,
        tool_calls=tool_calls_of(turn),
        user_message_id=turn.user_message_id,
        overlapped=turn.overlapped,
    )


def settled_reply(turn: Turn, session_id: str = "") -> Reply | None:
    """:func:`reply_of` ``turn``, refusing a turn whose messages cannot be told apart from another run's.

    :raises MixReplyAmbiguousError: overlapping tool runs made our turn's messages ambiguous (never a
        guess returned as our reply).
    """
    if turn.ambiguous:
        raise MixReplyAmbiguousError(session_id, turn.user_message_id)
    return reply_of(turn)


def finished_reply(messages: Sequence[TurnMessage], key: TurnKey, session_id: str = "") -> Reply | None:
    """The reply to our message once its turn has finished, else None (see :func:`settled_reply`)."""
    turn = find_turn(messages, key)
    return None if turn is None else settled_reply(turn, session_id)


#: How the real server words the ``error`` event that ends a cancelled run: ``agent.ErrRequestCancelled``
#: while a reply streams, Go's ``context.Canceled`` while the run's tools run.
CANCELLED_PREFIXES = ("request cancelled", "context canceled")


def reply_after(
    verdict: StreamVerdict, messages: Sequence[TurnMessage], key: TurnKey, session_id: str = ""
) -> Reply | None:
    """The reply once the stream said a run ended: from the transcript, or the stream's error.

    An error that arrives before our user message is stored, or while other runs overlap ours, cannot
    be told to be ours: the transcript decides then.
    """
    turn = find_turn(messages, key)
    if turn is None:
        return None
    reply = settled_reply(turn, session_id)
    if reply is None and verdict.error is not None and not turn.overlapped:
        cancelled = verdict.error.startswith(CANCELLED_PREFIXES)
        return Reply(
            message_id=verdict.message_id or "",
            text=verdict.error,
            finish_reason=(FinishReason.CANCELED if cancelled else FinishReason.ERROR).value,
            tool_calls=tool_calls_of(turn),
            user_message_id=turn.user_message_id,
        )
    return reply


#: How long a run may wait for the assistant message after its tool results before it counts as ended.
#: The server starts the next round as soon as the results are stored; a run cancelled while its
#: tools ran stores its (error) results and nothing after them (``agent.go`` ``processGeneration``).
STALLED_AFTER = timedelta(seconds=30)


def has_ended(run: Turn, now: datetime) -> bool:
    """Whether ``run`` is over: finished, or stalled after its tool results for :data:`STALLED_AFTER`."""
    if run.finished:
        return True
    last = run.messages[-1] if run.messages else None
    stored = last and (last.updated_at or last.created_at)
    return bool(last and last.role == "tool" and stored and now - stored >= STALLED_AFTER)


def finished_turns(messages: Sequence[TurnMessage]) -> list[str]:
    """The final assistant message ids of the transcript's finished runs, in the order runs started.

    Runs are rebuilt as :func:`~mix_provider.client.turns.runs_of` does, so a run that finishes after
    a later one (the server runs messages concurrently) is reported too.
    """
    return [run.messages[-1].id for run in runs_of(messages) if run.finished]


class Transcript(Protocol):
    """What idleness reads of a transcript: an :class:`~mix_provider.models.ExportSession` or a
    :class:`~mix_provider.client.scan.ScannedTranscript`."""

    @property
    def messages(self) -> Sequence[TurnMessage]: ...


def is_idle(export: Transcript, now: datetime | None = None) -> bool:
    """Whether no run is in progress: every run of the transcript has ended (see :func:`has_ended`)."""
    moment = now or datetime.now(timezone.utc)
    return all(has_ended(run, moment) for run in runs_of(export.messages))
