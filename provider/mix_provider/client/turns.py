"""Which run of a transcript is the turn started by *our* message, and whether it has finished.

Runs are rebuilt from the transcript (:mod:`.runs`); because the real server lists the messages of
one second in no defined order (``db/sql/messages.sql`` ``ListMessagesBySession``), our run is read
over every order of the seconds from our message's on (:mod:`.ties`) and a reply is returned only
when every reading agrees on it: otherwise the turn is unfinished (some reading is still under way)
or :class:`~mix_provider.errors.MixReplyAmbiguousError` (several finished readings).

Ids narrow the readings. Before sending, a wait reads the transcript once and keeps the ids of the
assistant messages of its last second (:attr:`TurnPins.before`): stored before ours, they are
never ours, so a turn sent right after another one in the same second is told apart from it. The
SSE stream the wait opens before sending announces our user message (``user_message_created``
``messageId``, ``http/sse_events.go`` ``UserMessageCreatedEvent`` @ a660c619, broadcast by
``rest_messages_broadcast.go`` ``BroadcastAgentEventToSSE`` from ``agent.go`` ``processGeneration``
@ 1fa5f2d6), which pins our run by id; the reply found pins its final message. The pins are kept in
the key's JSON, so a deferred or resumed wait reads the same turn.

Without a pin, our user message is the first one after the baseline count whose text begins with the
text we sent (plan mode appends a system reminder); one stored in the same second as the baseline's
last user messages counts as after them (:func:`after_baseline`). Only a length and a hash of the
text are kept, so a turn key is small and holds no prompt text.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from mix_provider.client.runs import Turn, TurnMessage, digest, is_final, runs_of
from mix_provider.client.stream import StreamEvent, StreamVerdict
from mix_provider.client.ties import readings
from mix_provider.errors import MixReplyAmbiguousError
from mix_provider.models import Callback, CallbackType, FinishReason, SessionTotals

__all__ = ["Turn", "TurnMessage", "digest", "is_final", "runs_of"]


@dataclass
class TurnPins:
    """What waits learned of our turn by id (small JSON, in the turn key's).

    :param user_message_id: our user message, as ``user_message_created`` announced it.
    :param reply_id: our run's final message, once a wait found it.
    :param before: assistant messages of the transcript's last second when our message was sent:
        stored before it, so never ours.
    :param stored: every message of that second: with the earlier seconds, what the session held
        before our message (what a rewind keeps, :mod:`mix_provider.client.rewind`).
    """

    user_message_id: str | None = None
    reply_id: str | None = None
    before: frozenset[str] = frozenset()
    stored: frozenset[str] = frozenset()

    def remember(self, messages: Sequence[TurnMessage]) -> None:
        """Keep the messages of the last second of the transcript read before sending."""
        last = messages[-1].created_at if messages else None
        second = [m for m in messages if last is not None and m.created_at == last]
        self.before = frozenset(m.id for m in second if m.role == "assistant")
        self.stored = frozenset(m.id for m in second)

    def to_json(self) -> dict[str, Any]:
        """Small JSON form (inside :meth:`TurnKey.to_json`)."""
        return {
            "user_message_id": self.user_message_id,
            "reply_id": self.reply_id,
            "before": sorted(self.before),
            "stored": sorted(self.stored),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TurnPins:
        """Inverse of :meth:`to_json` (keys saved by earlier releases have fewer pins)."""
        before = frozenset(str(item) for item in data.get("before") or ())
        stored = frozenset(str(item) for item in data.get("stored") or ())
        return cls(data.get("user_message_id"), data.get("reply_id"), before, stored)


@dataclass(frozen=True)
class TurnKey:
    """Identifies our user message: the first after ``after_user_messages`` whose text begins with ours.

    Without a text fingerprint (``text_length`` None) the first user message after the baseline is ours.

    :param injected: digests of the texts the session's ``send_message`` callbacks inject
        (:func:`injected_texts`): user messages with such a text belong to the run that caused them.
    :param callbacks: the session has callbacks, so a ``tool`` message may be a callback's result.
    :param pins: what waits learned of our turn by id (:class:`TurnPins`); they change as a wait goes
        on, so the key itself stays the same key.
    """

    after_user_messages: int
    text_length: int | None = None
    text_sha256: str | None = None
    injected: frozenset[str] = frozenset()
    callbacks: bool = False
    pins: TurnPins = field(default_factory=TurnPins, compare=False)

    @classmethod
    def of(cls, after_user_messages: int, text: str, callbacks: Sequence[Callback] | None = None) -> TurnKey:
        """The key of ``text`` sent when the session held ``after_user_messages`` user messages and ``callbacks``."""
        return cls(after_user_messages, len(text), digest(text), injected_texts(callbacks), bool(callbacks))

    @classmethod
    def of_callbacks(cls, callbacks: Sequence[Callback] | None) -> TurnKey:
        """A key that matches no message of ours but knows the session's ``callbacks``: the runs of a
        whole session (idleness, finished runs) are rebuilt with it, and a scan with it keeps the text
        of injected user messages only."""
        return cls(sys.maxsize, 0, None, injected_texts(callbacks), bool(callbacks))

    def matches(self, content: str) -> bool:
        """Whether a user message's content is our text (possibly with something appended)."""
        if self.text_length is None:
            return True
        return len(content) >= self.text_length and digest(content[: self.text_length]) == self.text_sha256

    def may_be_in(self, user_message_count: int) -> bool:
        """Whether a session holding ``user_message_count`` user messages may hold ours: only once it
        holds more than it did before ours was sent (a cheap check before reading its transcript)."""
        return user_message_count > self.after_user_messages

    def to_json(self) -> dict[str, Any]:
        """Small JSON form (task state, trigger kwargs)."""
        return {
            "after_user_messages": self.after_user_messages,
            "length": self.text_length,
            "sha256": self.text_sha256,
            "injected": sorted(self.injected),
            "callbacks": self.callbacks,
            **self.pins.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TurnKey:
        """Inverse of :meth:`to_json` (keys saved by earlier releases lack the callback fields)."""
        length = data.get("length")
        injected = frozenset(str(item) for item in data.get("injected") or ())
        return cls(
            int(data["after_user_messages"]),
            None if length is None else int(length),
            data.get("sha256"),
            injected,
            bool(data.get("callbacks")),
            TurnPins.from_json(data),
        )

    def is_injected(self, content: str) -> bool:
        """Whether a user message's content is one a ``send_message`` callback injects."""
        return bool(self.injected) and digest(content) in self.injected

    def observe(self, event: StreamEvent) -> None:
        """Pin our user message by the id a top-level ``user_message_created`` gives it: the first
        announced with our text (not a callback's injected text)."""
        data = event.data
        if event.nested or event.event != "user_message_created" or self.pins.user_message_id is not None:
            return
        content, message_id = data.get("content"), data.get("messageId")
        if isinstance(content, str) and message_id and self.matches(content) and not self.is_injected(content):
            self.pins.user_message_id = str(message_id)


def injected_texts(callbacks: Sequence[Callback] | None) -> frozenset[str]:
    """Digests of the user messages the ``send_message`` callbacks of a session inject."""
    return frozenset(
        digest(cb.message_content)
        for cb in callbacks or ()
        if cb.type == CallbackType.SEND_MESSAGE and cb.message_content
    )


def after_baseline(messages: Sequence[TurnMessage], key: TurnKey) -> tuple[set[str], set[str]]:
    """Ids of the user messages that may be ours: those stored after the baseline's
    ``after_user_messages`` user messages, then those stored before them in the same second as the
    first one after them (listed in no defined order, ours may come first)."""
    users = [message for message in messages if message.role == "user"]
    first_after = users[key.after_user_messages] if len(users) > key.after_user_messages else None
    tie = first_after.created_at if first_after is not None else None
    later = {message.id for message in users[key.after_user_messages :]}
    tied = {m.id for m in users[: key.after_user_messages] if tie is not None and m.created_at == tie}
    return later, tied


def our_user_message(messages: Sequence[TurnMessage], key: TurnKey) -> str | None:
    """The id of our user message: the pinned one when the transcript holds it, else the first sent
    user message with our text, after the baseline (:func:`after_baseline`)."""
    pinned = key.pins.user_message_id
    if pinned is not None and any(m.id == pinned for m in messages):
        return pinned
    for pool in after_baseline(messages, key):
        for m in messages:
            if m.id in pool and key.matches(m.content) and not key.is_injected(m.content):
                return m.id
    return None


def find_turn(messages: Sequence[TurnMessage], key: TurnKey) -> Turn | None:
    """Our run in ``messages`` as every reading of it agrees (:func:`agreed`), or None while our user
    message is not stored."""
    ours = our_user_message(messages, key)
    if ours is None:
        return None
    found = readings(messages, ours, key.pins.before, key.injected, key.callbacks)
    if found is None:
        return Turn(ours, "", overlapped=True, ambiguous=True)
    if key.pins.reply_id is not None:
        found = [t for t in found if t.finished and t.messages[-1].id == key.pins.reply_id] or found
    return agreed(found) if found else None


def agreed(readings: Sequence[Turn]) -> Turn:
    """One run from its readings: the common one; else a reading still under way (the run may not have
    finished), marked overlapped; else ambiguous (several finished readings)."""
    chosen = readings[0]
    shapes = {turn.shape() for turn in readings}
    ambiguous = any(turn.ambiguous for turn in readings)
    if len(shapes) > 1:
        unfinished = [turn for turn in readings if not turn.finished]
        chosen = unfinished[0] if unfinished else chosen
        ambiguous = ambiguous or not unfinished
    overlapped = len(shapes) > 1 or any(turn.overlapped for turn in readings)
    return dataclasses.replace(chosen, overlapped=overlapped, ambiguous=ambiguous)


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
    :param steps: the turn's tool rounds (assistant messages that called tools), what ``max_steps`` caps.
    :param assistant_ids: the turn's assistant messages, whose per-message usage is the turn's tokens.
    """

    message_id: str
    text: str
    finish_reason: str | None
    tool_calls: int
    user_message_id: str = ""
    overlapped: bool = False
    totals: SessionTotals | None = None
    steps: int = 0
    assistant_ids: tuple[str, ...] = ()


def tool_calls_of(turn: Turn) -> int:
    """Tool calls made over the whole turn (by its assistant messages)."""
    return sum(m.tool_call_count for m in turn.messages if m.role == "assistant")


def assistant_ids_of(turn: Turn) -> tuple[str, ...]:
    """The turn's assistant messages (every round's), in the order they were given to it."""
    return tuple(m.id for m in turn.messages if m.role == "assistant")


def steps_of(turn: Turn) -> int:
    """The turn's tool rounds: its assistant messages that called tools (``agent.go`` ``processGeneration``
    counts one step per such round and, past ``max_steps``, ends the run on the last one as ``canceled``)."""
    return sum(1 for m in turn.messages if m.role == "assistant" and m.tool_call_count)


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
        steps=steps_of(turn),
        assistant_ids=assistant_ids_of(turn),
    )


def settled_reply(turn: Turn, session_id: str = "") -> Reply | None:
    """:func:`reply_of` ``turn``, refusing a turn whose messages cannot be told apart from another run's.

    :raises MixReplyAmbiguousError: overlapping runs made our turn's messages ambiguous: tool results
        several runs waited for, or readings of one second's messages that disagree (never a guess
        returned as our reply).
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
#: How the real server words the ``error`` event of a run stopped by ``max_steps``; it finishes the
#: last ``tool_use`` message as ``canceled`` (``agent.go`` ``processGeneration``).
STEP_LIMIT_PREFIX = "maximum iteration limit"


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
        cancelled = verdict.error.startswith((*CANCELLED_PREFIXES, STEP_LIMIT_PREFIX))
        return Reply(
            message_id=verdict.message_id or "",
            text=verdict.error,
            finish_reason=(FinishReason.CANCELED if cancelled else FinishReason.ERROR).value,
            tool_calls=tool_calls_of(turn),
            user_message_id=turn.user_message_id,
            steps=steps_of(turn),
            assistant_ids=assistant_ids_of(turn),
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


def session_runs(messages: Sequence[TurnMessage], key: TurnKey | None = None) -> list[Turn]:
    """:func:`runs_of` with the callbacks ``key`` knows (:meth:`TurnKey.of_callbacks`): the user
    messages the session's ``send_message`` callbacks inject and its callback ``tool`` messages belong
    to the run that caused them. Without them, an injected message looks like a new run and the run
    that caused it like one stalled after its tools."""
    return runs_of(messages, key.injected, key.callbacks) if key is not None else runs_of(messages)


def finished_turns(messages: Sequence[TurnMessage], key: TurnKey | None = None) -> list[str]:
    """The final assistant message ids of the transcript's finished runs, in the order runs started.

    Runs are rebuilt as :func:`session_runs` does, so a run that finishes after a later one (the server
    runs messages concurrently) is reported too, once, its callbacks' messages included.
    """
    return [run.messages[-1].id for run in session_runs(messages, key) if run.finished]


class Transcript(Protocol):
    """What idleness reads of a transcript: an :class:`~mix_provider.models.ExportSession` or a
    :class:`~mix_provider.client.scan.ScannedTranscript`."""

    @property
    def messages(self) -> Sequence[TurnMessage]: ...


def is_idle(export: Transcript, now: datetime | None = None, key: TurnKey | None = None) -> bool:
    """Whether no run is in progress: every run of the transcript (:func:`session_runs` with the
    callbacks ``key`` knows) has ended (see :func:`has_ended`)."""
    moment = now or datetime.now(timezone.utc)
    return all(has_ended(run, moment) for run in session_runs(export.messages, key))
